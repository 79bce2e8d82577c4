# The AIRS MCP server image (default target) and the AIRS API double (target `double`).
#
#   docker build -t airs-mcp-server .                      # python:3.12-slim, dependencies from the index
#   docker build --build-arg BASE_IMAGE=<local tag> .      # any Debian-like image with python3 + venv
#
# Dependencies: exactly the versions and files of requirements.lock (scripts/lock.sh), installed
# with --require-hashes: a file whose sha256 is not in the lock is refused.
# Offline builds: when the build context holds a `wheels/` directory (those files for the base
# image's Python), pip installs from it with --no-index and never touches the network.
# embedded_cluster/imaging/project_image.py (`wheelhouse`) prepares it on the host.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . /src
# One helper so the wheelhouse switch lives in one place: offline when /src/wheels exists.
RUN printf '#!/bin/sh\nif [ -d /src/wheels ]; then exec "$@" --no-index --find-links /src/wheels; else exec "$@"; fi\n' \
        > /usr/local/bin/pip-maybe-offline \
 && chmod 0755 /usr/local/bin/pip-maybe-offline \
 && python3 -m venv /opt/build \
 && pip-maybe-offline /opt/build/bin/pip install --require-hashes --no-deps -r /src/requirements.lock \
 && /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /dist /src \
 && python3 -m venv /opt/venv \
 && pip-maybe-offline /opt/venv/bin/pip install --require-hashes --no-deps -r /src/requirements.lock \
 && /opt/venv/bin/pip install --no-index --no-deps /dist/*.whl \
 && /opt/venv/bin/pip uninstall -q -y pip setuptools wheel \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# Shared runtime: the non-root user (UID/GID 1000) and the venv on PATH.
FROM ${BASE_IMAGE} AS runtime
RUN (getent group 1000 || groupadd --gid 1000 app) \
 && (getent passwd 1000 || useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app)
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The AIRS API double, for tests and demos only (the cluster tests run it as a pod).
# The lock holds the double's extra too (cryptography, which pyjwt[crypto] needs anyway), so
# both images share one venv.
FROM runtime AS double
COPY --from=builder /opt/venv /opt/venv
USER 1000:1000
EXPOSE 8443
ENTRYPOINT ["airs-api-double"]
CMD ["--host", "0.0.0.0", "--port", "8443", "--cert-dir", "/tmp/airs-api-double"]

# The MCP server (last stage = default target).
# PYTHONMALLOC=malloc: objects come from glibc, so the heap trim after closed SSE sessions
# (airs_mcp.process.heap_trim) can return their memory; pymalloc would keep any arena still in
# use.
FROM runtime AS server
COPY --from=builder /opt/venv /opt/venv
ENV PYTHONMALLOC=malloc
USER 1000:1000
EXPOSE 8000
ENTRYPOINT ["airs-mcp-server"]
