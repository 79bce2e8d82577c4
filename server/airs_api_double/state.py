"""Mutable state of one double process: stored scans, injected faults and request statistics."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` matching API requests (-1 = forever)."""

    status: int | None = None
    count: int = 1
    retry_after: int | None = None
    latency_ms: int = 0
    malformed: bool = False
    path: str | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = cls(**data)
        if fault.status is not None and not 100 <= int(fault.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        return fault

    def matches(self, path: str) -> bool:
        return self.count != 0 and (self.path is None or path.startswith(self.path))


@dataclass
class StoredScan:
    """One req_id of an async (or sync) scan: the full result and its threat report."""

    req_id: int
    result: dict[str, Any]
    report: dict[str, Any]
    polls_left: int


@dataclass
class DoubleState:
    pending_polls: int = 1
    in_flight: int = 0
    peak_in_flight: int = 0  # since the last reset
    rate_limited: int = 0  # requests refused by the tenant rate limit (429), since the reset
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # monotonic s, per endpoint
    scans: dict[str, list[StoredScan]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    async_batch_sizes: list[int] = field(default_factory=list)
    query_sizes: dict[str, list[int]] = field(
        default_factory=lambda: {"results": [], "reports": []}
    )

    def arrive(self, endpoint: str) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.arrivals.setdefault(endpoint, []).append(time.monotonic())

    def take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(path):
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "total": sum(self.requests.values()),
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "rate_limited": self.rate_limited,
            "arrivals": {name: list(times) for name, times in self.arrivals.items()},
            "async_batch_sizes": list(self.async_batch_sizes),
            "query_sizes": {k: list(v) for k, v in self.query_sizes.items()},
            "faults_pending": [f.__dict__ for f in self.faults if f.count != 0],
        }

    def reset(self) -> None:
        self.scans.clear()
        self.faults.clear()
        self.requests.clear()
        self.statuses.clear()
        self.async_batch_sizes.clear()
        self.arrivals.clear()
        self.peak_in_flight = self.in_flight
        self.rate_limited = 0
        for sizes in self.query_sizes.values():
            sizes.clear()
