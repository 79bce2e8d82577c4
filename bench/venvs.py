"""Venvs of pinned packages for the benches, made once under ``$AIRS_MCP_CACHE/bench/``.

``venv_python(name, pins)`` makes (once) and returns ``$AIRS_MCP_CACHE/bench/<name>/bin/python``:
a venv with ``package==version`` for each of ``pins`` from the package index (``pip install``),
reused when present. It is built under a temporary name and renamed, so a half-built one is
never reused, and two runs building it at once both end with one. Put the versions in ``name``:
a venv whose packages do not match ``pins`` is refused, not silently used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

INSTALL_TIMEOUT = 600.0
CHECK = (  # run with the pinned names as arguments: prints {name: installed version}
    "import importlib.metadata as m, json, sys;"
    "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
)


def cache_dir() -> Path:
    base = os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s"
    return Path(base) / "bench"


def venv_python(name: str, pins: Mapping[str, str]) -> Path:
    """The Python of the venv ``name`` holding exactly ``pins``; made on first use."""
    venv = cache_dir() / name
    python = venv / "bin" / "python"
    if not python.exists():
        partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True, timeout=120)
        pip = [str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        requirements = [f"{package}=={version}" for package, version in pins.items()]
        subprocess.run([*pip, *requirements], check=True, timeout=INSTALL_TIMEOUT)
        try:
            partial.rename(venv)  # the interpreter finds its venv from its own path: safe to move
        except OSError:  # another run finished one first: use that
            shutil.rmtree(partial, ignore_errors=True)
            if not python.exists():
                raise
    found = json.loads(
        subprocess.run(
            [str(python), "-I", "-c", CHECK, *pins],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    if found != dict(pins):
        raise RuntimeError(f"{venv} holds {found}, not {dict(pins)}: remove it to rebuild")
    return python
