"""What every benchmark records about the machine it ran on (results are read beside load)."""

from __future__ import annotations

import os
import platform
from typing import Any


def host_facts(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """Cores, load average at the start (``load_before``) and now, and the Python version."""
    return {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
    }
