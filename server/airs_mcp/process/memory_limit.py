"""``MemoryGate``: refuse new sessions with 503 before the kernel OOM-kills the process.

The limit is the container's memory limit (its cgroup: v2 ``memory.max``, v1
``memory.limit_in_bytes``), or ``AIRS_MCP_MEMORY_LIMIT_BYTES``. Past
``AIRS_MCP_MEMORY_REFUSE_FRACTION`` of it (by the process's resident set), new SSE streams and
new Streamable HTTP requests get 503 with ``Retry-After``; sessions already open keep working,
so the memory they hold is freed as they end instead of the kernel killing all of them at once.

The resident set is read from ``/proc/self/statm`` at most every ``CACHE_S`` seconds, so a
burst of connections costs one read, not one each.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.observability.metrics import Metrics

__all__ = ["MemoryGate", "MemoryMonitor", "cgroup_memory_limit", "resident_bytes"]

CACHE_S = 0.5
RETRY_AFTER_S = "5"
UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a huge page-rounded number
REFUSAL = (
    "This server is near its memory limit and takes no new sessions "
    "(AIRS_MCP_MEMORY_REFUSE_FRACTION); retry later (another replica may answer)"
)

log = logging.getLogger("airs_mcp.memory")


def resident_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _own_cgroup_dirs(proc_cgroup: Path, root: Path) -> list[Path]:
    """Where this process's memory limit may live: its own cgroup first, then the mount root
    (inside a container without a cgroup namespace the listed path does not exist there)."""
    dirs: list[Path] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            dirs.append(root / path.lstrip("/"))
        elif "memory" in controllers.split(","):
            dirs.append(root / "memory" / path.lstrip("/"))
    return [*dirs, root, root / "memory"]


def cgroup_memory_limit(
    proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The memory limit of this process's cgroup in bytes, or None when there is none."""
    for directory in _own_cgroup_dirs(proc_cgroup, root):
        for name in ("memory.max", "memory.limit_in_bytes"):
            try:
                raw = (directory / name).read_text().strip()
            except OSError:
                continue
            if raw == "max" or not raw.isdigit() or int(raw) >= UNLIMITED:
                return None
            return int(raw)
    return None


class MemoryMonitor:
    """Says whether the process is past its refusal threshold, from a cached reading."""

    def __init__(
        self,
        limit_bytes: int | None,
        fraction: float,
        reading: Callable[[], int] = resident_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_bytes = limit_bytes
        self.threshold = int(limit_bytes * fraction) if limit_bytes and fraction else None
        self.reading = reading
        self.clock = clock
        self.last = 0
        self.read_at = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.threshold is not None

    def over(self) -> bool:
        if self.threshold is None:
            return False
        now = self.clock()
        if now - self.read_at >= CACHE_S:
            self.last = self.reading()
            self.read_at = now
        return self.last >= self.threshold


class MemoryGate:
    """In front of one transport: while ``monitor`` is over, new sessions get 503.

    ``transport`` "sse" refuses the stream GETs (message POSTs of open sessions pass);
    "http" refuses Streamable HTTP POSTs (each is its own session: the server is stateless).
    """

    def __init__(
        self, app: ASGIApp, monitor: MemoryMonitor, metrics: Metrics, transport: str
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.metrics = metrics
        self.transport = transport
        self.method = "GET" if transport == "sse" else "POST"

    def _is_new_session(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != self.method:
            return False
        if self.transport != "sse":
            return True
        route = scope["path"][len(scope.get("root_path", "").rstrip("/")) :]
        return route in ("", "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._is_new_session(scope) and self.monitor.over():
            self.metrics.sessions_refused.labels(self.transport, "memory").inc()
            log.warning(
                "session_refused",
                extra={
                    "reason": "memory",
                    "transport": self.transport,
                    "resident_bytes": self.monitor.last,
                    "refuse_at_bytes": self.monitor.threshold,
                    "limit_bytes": self.monitor.limit_bytes,
                },
            )
            refusal = Response(REFUSAL, status_code=503, headers={"Retry-After": RETRY_AFTER_S})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
