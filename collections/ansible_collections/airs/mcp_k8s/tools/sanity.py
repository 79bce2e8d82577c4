"""Build the collection, install the tarball into a scratch directory and run ``ansible-test
sanity`` on that installed copy, so what is checked is exactly what users install.

    python tools/sanity.py [--work DIR] [ansible-test sanity options...]

``ansible-test`` runs each check in a virtual environment it creates, and bootstraps pip there
with a script it downloads from its own CI file host, which this machine cannot reach. Where
that script is not cached, a stand-in is written to the cache first: pip from the interpreter's
own ``ensurepip``, then the requested pip version from the configured package index. The cache
(``HOME`` of ansible-test: the environments it builds) lives under ``--work``, so a second run
reuses them (cold: about 100 s, warm: about 15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

COLLECTION = Path(__file__).resolve().parents[1]
DEFAULT_WORK = Path(os.environ.get("AIRS_MCP_CACHE", Path.home() / ".cache" / "airs-mcp-k8s"))

# What ansible-test runs in place of its pip bootstrap script (see the module docstring).
BOOTSTRAP = """\
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=False)
# ensurepip leaves PIP_CONFIG_FILE=/dev/null behind, which would hide the host's pip settings.
env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONFIG_FILE", "ENSUREPIP_OPTIONS")}
# get-pip's own options are not pip's.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env))
"""


def _bin(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def build(output: Path) -> Path:
    """``ansible-galaxy collection build`` into ``output``; return the tarball."""
    subprocess.run(
        [_bin("ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path", output],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = output.glob("airs-mcp_k8s-*.tar.gz")
    return tarball


def build_and_install(destination: Path) -> Path:
    """``ansible-galaxy collection build`` + ``install --no-deps`` into ``destination``; return
    the installed collection's directory."""
    with tempfile.TemporaryDirectory(prefix="airs-collection-") as tmp:
        tarball = build(Path(tmp))
        subprocess.run(
            [
                _bin("ansible-galaxy"),
                "collection",
                "install",
                str(tarball),
                "-p",
                str(destination),
                "--no-deps",
                "--force",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # the "not a configured collections path" warning
        )
    return destination / "ansible_collections" / "airs" / "mcp_k8s"


def _pip_version(python: str) -> str:
    """The pip version ansible-test bootstraps for ``python`` (its cache file is named after it)."""
    from ansible_test._internal.python_requirements import get_venv_packages

    return get_venv_packages(SimpleNamespace(version=python))["pip"]


def write_bootstrap(home: Path, python: str) -> None:
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"get_pip_{_pip_version(python).replace('.', '_')}.py"
    if not path.exists():
        path.write_text(BOOTSTRAP)


def link_dependencies(root: Path) -> None:
    """ansible-test finds other collections only beside the tested one: link in the collections
    galaxy.yml depends on, from where this Ansible finds them (the ``ansible`` package bundles
    them), for the plugins that import their module_utils and doc fragments."""
    import yaml

    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    for name in galaxy.get("dependencies") or {}:
        listed = subprocess.run(
            [_bin("ansible-galaxy"), "collection", "list", name, "--format", "json"],
            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
        )  # fmt: skip
        found = [Path(path) for path, names in json.loads(listed.stdout).items() if name in names]
        if not found:
            raise SystemExit(f"sanity: the dependency {name} is not installed")
        namespace, collection = name.split(".")
        link = root / "ansible_collections" / namespace / collection
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(found[0] / namespace / collection)


def run_sanity(work: Path, extra: list[str]) -> int:
    installed = build_and_install(work / "installed")
    link_dependencies(work / "installed")
    home = work / "ansible-test-home"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    write_bootstrap(home, python)
    env = {**os.environ, "HOME": str(home)}
    shutil.rmtree(installed / "tests" / "output", ignore_errors=True)
    return subprocess.run(
        [_bin("ansible-test"), "sanity", "--local", "--python", python, "--color", "no", *extra],
        cwd=installed,
        env=env,
        check=False,
    ).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK / "collection-sanity")
    args, extra = parser.parse_known_args(argv)
    return run_sanity(args.work, extra)


if __name__ == "__main__":
    raise SystemExit(main())
