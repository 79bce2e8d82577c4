"""kind's base image, built locally from kind's own recipe because nothing can be pulled.

Upstream (``images/base/Dockerfile`` of the kind module) starts from ``debian:trixie-slim``,
installs systemd and the node tools with apt, copies kind's static files (entrypoint, systemd
units, containerd config, ``/kind/bin`` helpers), builds containerd, runc, crictl and the CNI
plugins from source and squashes the result. Here:

- the root filesystem is a debootstrap bookworm (``base_image.ensure_base_image``) with the
  same apt packages, minus the storage e2e tools (nfs-common, open-iscsi, e2fsprogs) and
  fuse-overlayfs (rootless only), plus Debian's ``containerd`` (1.6) and ``runc`` (1.1), which
  read kind's version-2 containerd config as is;
- kind's static files are copied from the kind module in the Go module cache, at the version
  ``build.COMPONENTS["kind"]`` pins;
- the CNI plugins the node's pod network uses (``kind_cni``: bridge, host-local, loopback,
  portmap; kind ships ptp instead of bridge for kindnetd) are built from the project's
  ``cluster/gomod/cni-plugins`` module; crictl is left out (``kind create cluster`` and
  ``kind load`` do not use it).

API::

    ensure_kind_base_image() -> str        # local docker tag, built when missing
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from embedded_cluster import build
from embedded_cluster.hostfs import file_lock
from embedded_cluster.imaging.base_image import (
    BaseImageError,
    cache_dir,
    ensure_base_image,
    image_exists,
)
from embedded_cluster.paths import cache_root
from embedded_cluster.progress import phase

# kind's apt packages (images/base/Dockerfile), minus storage-test and rootless extras; plus
# the container runtime, which kind builds from source, dbus for systemd's bus, and ipset for
# kube-router's NetworkPolicy controller (kind_cni.py; its image shares this package set).
PACKAGES = (
    "systemd",
    "dbus",
    "conntrack",
    "iptables",
    "ipset",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "containerd",
    "runc",
)
CNI_PLUGINS = {
    "bridge": "github.com/containernetworking/plugins/plugins/main/bridge",
    "host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
    "loopback": "github.com/containernetworking/plugins/plugins/main/loopback",
    "portmap": "github.com/containernetworking/plugins/plugins/meta/portmap",
}
# Bump when the Dockerfile below or the plugin set changes.
RECIPE_VERSION = 2
EXPECTED_S = {"cni": 20.0, "docker build": 5.0}

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY files/usr/local/bin/entrypoint /usr/local/bin/entrypoint
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY cni/ /opt/cni/bin/
# kind's layout: its units start /usr/local/bin/containerd and CRI looks for runc on PATH.
# Then kind's own clean-up of systemd units, journald without kmsg, /sbin/init, its services,
# and the CRI base spec with kind's product_uuid mount hook and without rlimits.
RUN chmod -R u+w,go-w /kind /etc/containerd /etc/systemd/system /etc/default /etc/sysctl.d \\
    && chmod 0755 /usr/local/bin/entrypoint /kind /kind/bin /kind/bin/* /opt/cni/bin/* \\
    && ln -sf /usr/bin/containerd /usr/local/bin/containerd \\
    && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \\
    && ln -sf /usr/bin/ctr /usr/local/bin/ctr \\
    && ln -sf /usr/sbin/runc /usr/local/sbin/runc \\
    && find /lib/systemd/system/sysinit.target.wants/ \\
       -name systemd-tmpfiles-setup.service -delete \\
    && cd /lib/systemd/system \\
    && rm -f multi-user.target.wants/* /etc/systemd/system/*.wants/* local-fs.target.wants/* \\
       sockets.target.wants/*udev* sockets.target.wants/*initctl* basic.target.wants/* \\
    && cd / \\
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
    && ln -sf /usr/lib/systemd/systemd /sbin/init \\
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
    && systemctl mask systemd-binfmt.service \\
    && mkdir -p /etc/kubernetes/manifests \\
    && ctr oci spec \\
       | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + \\
             {"path": "/kind/bin/mount-product-files.sh"}' \\
       | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"""


def kind_version() -> str:
    return build.component("kind").version


def kind_module_dir() -> Path:
    """The kind module's source in the Go module cache (downloaded when missing)."""
    comp = build.component("kind")
    result = subprocess.run(
        [build.go_binary(), "mod", "download", "-json", f"{comp.module}@{comp.version}"],
        cwd=comp.module_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BaseImageError(f"go mod download {comp.module}@{comp.version}: {result.stderr}")
    return Path(json.loads(result.stdout)["Dir"])


def cni_plugins() -> dict[str, Path]:
    """The node's four CNI plugins, built from the project's cni-plugins wrapper module (cached)."""
    comp = build.component("cni-plugins")
    out = cache_root() / "bin" / f"kind-cni-plugins-{comp.version}"
    paths = {name: out / name for name in CNI_PLUGINS}
    if all(p.exists() for p in paths.values()):
        return paths
    with build.locked(out):
        missing = [name for name, p in paths.items() if not p.exists()]
        if missing:
            with phase("kind", f"CNI plugins {', '.join(missing)}", EXPECTED_S["cni"]):
                for name in missing:
                    _go_build(comp.module_dir, CNI_PLUGINS[name], paths[name])
    return paths


def _go_build(cwd: Path, package: str, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    env = {**build._build_env()}  # static, no VCS stamping, local toolchain
    argv = [build.go_binary(), "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), package]
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BaseImageError(f"go build {package} failed:\n{result.stderr[-2000:]}")
    tmp.rename(dest)


def _key(base: str, files: Path) -> str:
    recipe = f"{base}\n{RECIPE_VERSION}\n{DOCKERFILE}\n{sorted(CNI_PLUGINS)}"
    digest = hashlib.sha256(recipe.encode())
    for path in sorted(files.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(files)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def image_tag(base: str, files: Path) -> str:
    return f"airs-mcp-k8s/kind-base:{kind_version()}-{_key(base, files)}"


def ensure_kind_base_image() -> str:
    """Build (once per recipe) and return the local tag of kind's base image."""
    base = ensure_base_image("debian", PACKAGES)
    files = kind_module_dir() / "images" / "base" / "files"
    tag = image_tag(base, files)
    if image_exists(tag):
        return tag
    with file_lock(cache_dir() / f".kind-base-{kind_version()}.lock"):
        if image_exists(tag):
            return tag
        plugins = cni_plugins()
        with tempfile.TemporaryDirectory(prefix="kind-base-") as tmp:
            context = Path(tmp)
            shutil.copytree(files, context / "files")
            (context / "cni").mkdir()
            for name, path in plugins.items():
                shutil.copy2(path, context / "cni" / name)
            (context / "Dockerfile").write_text(DOCKERFILE)
            argv = ["docker", "build", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, tmp]
            with phase("kind", f"docker build {tag}", EXPECTED_S["docker build"]):
                result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-4000:]
            raise BaseImageError(f"building kind's base image failed:\n{tail}")
    return tag
