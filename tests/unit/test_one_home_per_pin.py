"""Every pinned version is written once, in its home (``embedded_cluster.pins`` reads it from
there); a second copy in any file of the checkout fails here, naming the file and line.

Homes: the metallb and traefik roles' defaults (what collection users get); the wrapper
module's go.mod of each component built from Go; ``containerd.PAUSE_IMAGE``; the module that
provides Traefik's CRD file (``build.MANIFEST_SOURCES``). A line counts as a copy when it holds
the version (with or without its ``v``) and names the component (there or on the two lines
above), or sits in a file whose path names it. Allowed besides the home, each for a stated reason:

- mirrors another test keeps equal to the home: the roles' ``argument_specs`` defaults
  (test_collection_specs), the README tables generated from them, MetalLB's wrapper module
  (test_cluster_build), ``go.sum`` beside a ``go.mod``;
- in other go.mod/go.sum files, lines about other modules (another component's dependencies);
- history and prose for readers that no code reads: the changelogs, the project README and
  docs/, cluster/KIND_EVALUATION.md (an evaluation record), bench results.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from embedded_cluster import build, containerd

from tests.fixtures.ansible import COLLECTION, ROOT, role_defaults

_COLLECTION = str(COLLECTION.relative_to(ROOT))
# Prose and history, read by people only.
DOCUMENTATION = ("README.md", "docs/", "cluster/KIND_EVALUATION.md", "bench/results/")
HISTORY = (f"{_COLLECTION}/CHANGELOG.md", f"{_COLLECTION}/changelogs/")
# Lines above a version that may name its component.
CONTEXT_LINES = 2
# The generated variable tables of a README (mirrors of the argument specs).
_TABLE = re.compile(r"<!-- role-variables:start -->.*?<!-- role-variables:end -->", re.DOTALL)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    home: str
    # A line, or its file's path, must match this to be about the component.
    keyword: str
    # The Go module whose go.mod/go.sum lines are about it ("" when none).
    module: str = ""
    mirrors: tuple[str, ...] = ()

    def pattern(self) -> re.Pattern[str]:
        bare = re.escape(self.version.removeprefix("v"))
        return re.compile(rf"(?<![\w.])v?{bare}(?![\w-]|\.\d)")


def _role(role: str, name: str, module: str = "", mirrors: tuple[str, ...] = ()) -> Pin:
    version = role_defaults(role)[f"{role}_version"]
    home = f"{_COLLECTION}/roles/{role}/defaults/main.yml"
    specs = f"{_COLLECTION}/roles/{role}/meta/argument_specs.yml"
    return Pin(name, version, home, role, module, (specs, *mirrors))


_KEYWORDS = {
    "kubernetes": r"kube|k8s",
    "etcd": "etcd",
    "cni-plugins": "cni|containernetworking",
    "coredns": "coredns",
    "metrics-server": "metrics-server",
    "kube-router": r"kube.?router",
    "kind": r"\bkind",
}


def pins() -> list[Pin]:
    metallb = build.component("metallb")
    wrapper = "cluster/gomod/metallb"
    found = [
        _role("metallb", "MetalLB", metallb.module, (f"{wrapper}/go.mod", f"{wrapper}/go.sum")),
        _role("traefik", "Traefik"),
        Pin(
            "Traefik's CRD module",
            build.MANIFEST_SOURCES[1].version,
            "cluster/embedded_cluster/build.py",
            "traefik",
        ),
        Pin(
            "pause",
            containerd.PAUSE_IMAGE.rsplit(":", 1)[1],
            "cluster/embedded_cluster/containerd.py",
            "pause",
        ),
    ]
    for name, keyword in _KEYWORDS.items():
        comp = build.component(name)
        wrapper = f"cluster/gomod/{comp.gomod or comp.name}"
        found.append(
            Pin(
                name,
                comp.version,
                f"{wrapper}/go.mod",
                keyword,
                comp.module,
                (f"{wrapper}/go.sum",),
            )
        )
    return found


def checkout_files() -> list[str]:
    """Tracked files, and new ones git does not ignore (symlinks and binaries left out)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    names = sorted({name for name in out.split("\0") if name})
    return [n for n in names if (ROOT / n).is_file() and not (ROOT / n).is_symlink()]


def _text(name: str) -> str | None:
    try:
        return (ROOT / name).read_text()
    except (UnicodeDecodeError, OSError):
        return None


def _go_module(line: str) -> str:
    words = line.split()
    if words and words[0] in ("require", "replace"):
        words = words[1:]
    return words[0] if words else ""


def copies(pin: Pin, files: list[str]) -> list[str]:
    """``path:line: text`` of every copy of ``pin``'s version outside its home and allowances."""
    allowed = {pin.home, *pin.mirrors}
    pattern, keyword = pin.pattern(), re.compile(pin.keyword, re.IGNORECASE)
    found = []
    for name in files:
        if name in allowed or name.startswith((*DOCUMENTATION, *HISTORY)):
            continue
        text = _text(name)
        if text is None or not pattern.search(text):
            continue
        if name.endswith("README.md"):
            text = _TABLE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        is_go = Path(name).name in ("go.mod", "go.sum")
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            if not pattern.search(line):
                continue
            # The component may be named just above (name="etcd", then version="...").
            context = "\n".join(lines[max(0, number - 1 - CONTEXT_LINES) : number])
            if is_go:
                if _go_module(line) != pin.module:
                    continue
            elif not (keyword.search(context) or keyword.search(name)):
                continue
            found.append(f"{name}:{number}: {line.strip()}")
    return found


@pytest.fixture(scope="module")
def files() -> list[str]:
    return checkout_files()


@pytest.mark.parametrize("pin", pins(), ids=lambda pin: pin.name)
def test_the_version_is_written_only_in_its_home(pin: Pin, files: list[str]) -> None:
    home = _text(pin.home)
    assert home is not None
    assert pin.pattern().search(home), f"{pin.home} does not hold {pin.name} {pin.version}"
    found = copies(pin, files)
    assert not found, (
        f"{pin.name} {pin.version} is pinned in {pin.home}; read it from there instead of:\n"
        + "\n".join(found)
    )
