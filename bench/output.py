"""Where every benchmark writes its results: ``<out>/<name>.json`` and the plot's path beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"  # the default ``out``


def write_results(out: Path, name: str, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``result`` to ``out/name.json`` (``out`` made if missing); return that path and
    ``out/name.png``, where the caller draws its plot."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    return json_path, out / f"{name}.png"
