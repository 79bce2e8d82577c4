"""kind's node image for the project's Kubernetes release (``build.KUBERNETES_VERSION``), assembled
the way ``kind build node-image`` does it, from binaries and images built here.

Why not ``kind build node-image`` itself: after loading the Kubernetes images it *pulls* every
other image kubeadm and kind need (etcd, CoreDNS, pause, kindnetd, the local-path
provisioner) with ``ctr content fetch``; only tags found in the four kube-* archives of the
release tarball count as built. Nothing can be pulled here, so the same steps
(``pkg/build/nodeimage/buildcontext.go``) run from this module instead:

1. a build container from kind's base image (``kind_base``) running ``sleep infinity``;
2. ``kubeadm``, ``kubelet`` and ``kubectl`` copied to ``/usr/bin``, ``/kind/version`` written;
3. containerd started inside it and every image kubeadm lists
   (``kubeadm config images list``) plus containerd's sandbox image imported with kind's own
   ``ctr`` flags (pinned, not unpacked), and kube-router's; each is built here (single-binary
   OCI archives from ``oci.py``; kube-proxy and kube-router on a Debian base with the iptables,
   ipset and iproute2 they run);
4. ``docker commit`` with kind's ``ENTRYPOINT``, tagged ``airs-mcp-k8s/kind-node:<version>-<key>``.

Deviations, each because its source is not available offline: kindnetd (the default CNI) is
replaced by kube-router (``kind_cni``: ``/kind/manifests/default-cni.yaml`` is its DaemonSet,
its image is preloaded), which routes between the nodes' pod ranges and enforces
NetworkPolicy; no local-path provisioner is shipped, so kind falls back to its built-in
host-path StorageClass. etcd is the project's release (``build.COMPONENTS``) under the tag
kubeadm expects.

The committed image is saved to ``$AIRS_MCP_CACHE/images/`` and reloaded from there when docker
lost it.

API::

    ensure_node_image() -> str      # local docker tag, built when missing
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from embedded_cluster import build
from embedded_cluster.hostfs import file_lock
from embedded_cluster.imaging import kind_base, kind_cni
from embedded_cluster.imaging.base_image import (
    BaseImageError,
    cache_dir,
    ensure_base_image,
    image_exists,
)
from embedded_cluster.imaging.kind_base import ensure_kind_base_image
from embedded_cluster.imaging.oci import FileEntry, ImageConfig, write_image
from embedded_cluster.progress import phase

KUBERNETES_VERSION = build.KUBERNETES_VERSION
RECIPE_VERSION = 3
EXPECTED_S = {"assemble": 60.0, "save": 20.0}
ENTRYPOINT = '["/usr/local/bin/entrypoint", "/sbin/init"]'
NODE_BINARIES = ("kubeadm", "kubelet", "kubectl")
# kubeadm's command lines call these by name, so each image puts its binary on PATH.
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# kind's containerd config (sandbox_image) names 3.10, kubeadm containerd.PAUSE_IMAGE's tag: the
# same program.
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
# Images whose binary runs iptables, ipset or ip: a Debian root with those tools under it.
DEBIAN_IMAGES = ("kube-proxy", "kube-router")

DEBIAN_IMAGE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY {name} /usr/local/bin/{name}
ENTRYPOINT ["/usr/local/bin/{name}"]
"""


@dataclass(frozen=True)
class Inputs:
    base: str
    binaries: dict[str, Path]
    proxy_base: str


def _inputs() -> Inputs:
    k8s = (*NODE_BINARIES, *CONTROL_PLANE, "kube-proxy")
    binaries = {name: build.ensure_binary("kubernetes", name) for name in k8s}
    binaries["etcd"] = build.ensure_binary("etcd", "etcd")
    binaries["coredns"] = build.ensure_binary("coredns", "coredns")
    binaries["pause"] = build.ensure_gotool("pause")
    binaries["kube-router"] = build.ensure_binary("kube-router", "kube-router")
    return Inputs(
        ensure_kind_base_image(),
        binaries,
        # kind's base root filesystem has iptables, ipset, nft and conntrack: no second
        # debootstrap.
        ensure_base_image("debian", kind_base.PACKAGES),
    )


def _key(inputs: Inputs) -> str:
    digest = hashlib.sha256(f"{RECIPE_VERSION}\n{inputs.base}\n{inputs.proxy_base}".encode())
    digest.update(kind_cni.DEFAULT_CNI_MANIFEST.encode())
    for name, path in sorted(inputs.binaries.items()):
        stat = path.stat()
        digest.update(f"{name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _run(step: str, argv: list[str], **kwargs: object) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise BaseImageError(f"{step} failed (exit {result.returncode}): {result.stderr[-3000:]}")
    return str(result.stdout)


def _exec(container: str, *argv: str, stdin: Path | None = None) -> str:
    cmd = ["docker", "exec", "-i" if stdin else "-t", container, *argv]
    if stdin is None:
        cmd.remove("-t")
        return _run(f"{argv[0]} in the build container", cmd)
    with stdin.open("rb") as handle:
        result = subprocess.run(cmd, stdin=handle, capture_output=True, check=False)
    if result.returncode != 0:
        raise BaseImageError(f"{' '.join(argv)}: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode(errors="replace")


def _image_refs(container: str) -> list[str]:
    listed = _exec(
        container, "kubeadm", "config", "images", "list", "--kubernetes-version", KUBERNETES_VERSION
    )
    return [*listed.split(), SANDBOX_IMAGE, kind_cni.KUBE_ROUTER_IMAGE]


def _binary_for(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1].split(":", 1)[0]
    if name not in {*CONTROL_PLANE, *DEBIAN_IMAGES, "etcd", "coredns", "pause"}:
        raise BaseImageError(f"no local build for image {ref}")
    return name


def _debian_archive(inputs: Inputs, name: str, ref: str, out: Path) -> None:
    """kube-proxy and kube-router run iptables, ipset and ip: a Debian root with those tools."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        os.link(inputs.binaries[name], Path(tmp) / name)
        (Path(tmp) / "Dockerfile").write_text(DEBIAN_IMAGE_DOCKERFILE.format(name=name))
        build_arg = f"BASE_IMAGE={inputs.proxy_base}"
        _run(f"docker build {name}", ["docker", "build", "--build-arg", build_arg, "-t", ref, tmp])
    try:
        _run(f"docker save {name}", ["docker", "save", "-o", str(out), ref])
    finally:
        # the image lives in the node image only; the name must not linger in docker
        subprocess.run(["docker", "rmi", ref], capture_output=True, check=False)


def _archive(inputs: Inputs, ref: str, out: Path) -> None:
    name = _binary_for(ref)
    if name in DEBIAN_IMAGES:
        _debian_archive(inputs, name, ref, out)
        return
    path = f"/usr/local/bin/{name}" if name != "pause" else "/pause"
    # kubeadm's CoreDNS Deployment grants NET_BIND_SERVICE but no file capability exists on
    # this binary (upstream sets one), so CoreDNS runs as root here to bind :53.
    user = "65532:65532" if name == "pause" else ""
    entry = FileEntry(path, inputs.binaries[name])
    write_image(out, ref, [entry], ImageConfig(entrypoint=[path], user=user))


def _assemble(inputs: Inputs, tag: str) -> None:
    container = f"airs-kind-build-{os.getpid()}-{int(time.time())}"
    _run(
        "docker run (build container)",
        [
            *("docker", "run", "-d", "--name", container, "--entrypoint=sleep"),
            *("--security-opt", "seccomp=unconfined", inputs.base, "infinity"),
        ],
    )
    try:
        for name in NODE_BINARIES:
            node_path = f"/usr/bin/{name}"
            _run(
                "docker cp",
                ["docker", "cp", str(inputs.binaries[name]), f"{container}:{node_path}"],
            )
            _exec(container, "chown", "root:root", node_path)
            _exec(container, "chmod", "0755", node_path)
        with tempfile.TemporaryDirectory(prefix="kind-node-") as tmp:
            files = Path(tmp)
            (files / "version").write_text(KUBERNETES_VERSION)
            (files / "default-cni.yaml").write_text(kind_cni.DEFAULT_CNI_MANIFEST)
            _exec(container, "mkdir", "-p", "/kind/manifests", "/etc/cni/net.d")
            for name, dest in (
                ("version", "/kind/version"),
                ("default-cni.yaml", "/kind/manifests/default-cni.yaml"),
            ):
                _run("docker cp", ["docker", "cp", str(files / name), f"{container}:{dest}"])
            refs = _image_refs(container)
            _exec(container, "bash", "-c", "nohup containerd > /dev/null 2>&1 &")
            _exec(
                container,
                "bash",
                "-c",
                "for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; "
                "sleep 0.2; done; ctr version",
            )
            for ref in refs:
                archive = files / "image.tar"
                _archive(inputs, ref, archive)
                # kind's own import flags (pkg/build/nodeimage/imageimporter.go)
                _exec(
                    container,
                    "ctr",
                    "--namespace=k8s.io",
                    "images",
                    "import",
                    "--label=io.cri-containerd.pinned=pinned",
                    "--all-platforms",
                    "--no-unpack",
                    "--digests",
                    "-",
                    stdin=archive,
                )
                archive.unlink()
            _exec(container, "pkill", "containerd")
        _run(
            "docker commit",
            [
                *("docker", "commit", "--change", f"ENTRYPOINT {ENTRYPOINT}"),
                *("--change", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""', container, tag),
            ],
        )
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True, check=False)


def image_tag(inputs: Inputs) -> str:
    return f"airs-mcp-k8s/kind-node:{KUBERNETES_VERSION}-{_key(inputs)}"


def ensure_node_image() -> str:
    """Build (or reload from the cache) kind's node image; return its docker tag."""
    inputs = _inputs()
    tag = image_tag(inputs)
    if image_exists(tag):
        return tag
    saved = cache_dir() / f"kind-node-{tag.rsplit(':', 1)[1]}.tar"
    with file_lock(cache_dir() / f".kind-node-{KUBERNETES_VERSION}.lock"):
        if image_exists(tag):
            return tag
        if saved.is_file():
            with phase("kind", f"docker load {saved.name}", EXPECTED_S["save"]):
                _run("docker load", ["docker", "load", "-i", str(saved)])
            return tag
        with phase("kind", f"assemble {tag}", EXPECTED_S["assemble"]):
            _assemble(inputs, tag)
        partial = saved.with_suffix(".partial")
        with phase("kind", f"docker save {saved.name}", EXPECTED_S["save"]):
            _run("docker save", ["docker", "save", "-o", str(partial), tag])
            partial.replace(saved)
        _drop_older(saved)
    return tag


def _drop_older(saved: Path) -> None:
    """Keep one saved node image per Kubernetes version: older recipes are dead weight."""
    for old in cache_dir().glob(f"kind-node-{KUBERNETES_VERSION}-*.tar"):
        if old != saved:
            old.unlink()
