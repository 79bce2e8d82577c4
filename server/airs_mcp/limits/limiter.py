"""``ClientLimiter``: each credential's budgets, kept in memory by the application's lifespan.

Three limits, each off at 0 (``config.ClientLimits``):

- MCP messages per second, a token bucket (``requests_per_second``, ``request_burst``): every
  message POST and SSE stream open costs one token;
- tool calls reaching AIRS at once (``airs_calls_in_flight``): refused past the limit, never
  queued, so a client cannot park work on the server;
- AIRS requests per minute (``airs_requests_per_minute``): a call is charged, before it sends
  anything, the requests it plans (a batch of 100 items, 20); a window of 60 s opens at the
  first charge after the previous one closed. A call that does not fit is refused whole.

Principals are kept by SHA-256 of their bytes (``auth.caller``), so a long JWT subject costs 32
bytes. Memory stays bounded: a principal idle long enough to be back to a fresh budget is
forgotten (nothing is lost), and past ``max_clients`` the least recently seen one is.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airs_mcp.config import ClientLimits
from airs_mcp.limits.refusal import LimitExceeded, Refusal

__all__ = ["MAX_CLIENTS", "QUOTA_WINDOW_S", "Charge", "ClientLimiter", "free"]

Clock = Callable[[], float]
Charge = Callable[[int], None]  # charges a call's planned AIRS requests; raises LimitExceeded
QUOTA_WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # principals tracked at once (about 150 bytes each)
IN_FLIGHT_RETRY_S = 1.0  # a hint: the real signal is one of the caller's calls finishing


def free(requests: int) -> None:
    """The ``Charge`` of a call without per-credential limits."""


class _Budget:
    __slots__ = ("in_flight", "last_seen", "tokens", "updated", "window_start", "window_used")

    def __init__(self, now: float, burst: int) -> None:
        self.tokens = float(burst)
        self.updated = now
        self.in_flight = 0
        self.window_start = now
        self.window_used = 0
        self.last_seen = now


class ClientLimiter:
    def __init__(
        self,
        limits: ClientLimits,
        clock: Clock = time.monotonic,
        max_clients: int = MAX_CLIENTS,
        on_refusal: Callable[[Refusal], None] | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.max_clients = max_clients
        self.on_refusal = on_refusal
        self._budgets: OrderedDict[bytes, _Budget] = OrderedDict()
        # After this long unseen, a budget is a fresh one again: full bucket, window closed.
        refill_s = limits.request_burst / limits.requests_per_second if self.rate_limited else 0
        self.idle_after_s = max(refill_s, QUOTA_WINDOW_S if limits.airs_requests_per_minute else 0)

    @property
    def rate_limited(self) -> bool:
        return self.limits.requests_per_second > 0

    def __len__(self) -> int:
        return len(self._budgets)

    def admit_request(self, principal: bytes) -> Refusal | None:
        """Take one token of ``principal``'s bucket; the refusal when it is empty."""
        if not self.rate_limited:
            return None
        now = self.clock()
        budget = self._budget(principal, now)
        rate, burst = self.limits.requests_per_second, self.limits.request_burst
        budget.tokens = min(burst, budget.tokens + (now - budget.updated) * rate)
        budget.updated = now
        if budget.tokens >= 1:
            budget.tokens -= 1
            return None
        wait = (1 - budget.tokens) / rate
        return self._refused(
            Refusal(
                "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND",
                rate,
                wait,
                f"Rate limit of this credential reached: {rate:g} requests per second, bursts "
                f"of {burst} (AIRS_MCP_CLIENT_REQUESTS_PER_SECOND, AIRS_MCP_CLIENT_REQUEST_BURST);"
                f" retry after {wait:.2f} s",
            )
        )

    @contextmanager
    def airs_call(self, principal: bytes) -> Iterator[Charge]:
        """Hold one of ``principal``'s AIRS call slots for the ``with`` block, which gets the
        function that charges the call's AIRS requests to the minute's quota. Raises
        ``LimitExceeded`` when every slot is taken (and, from the charge, when the quota
        cannot cover the call)."""
        now = self.clock()
        budget = self._budget(principal, now)
        cap = self.limits.airs_calls_in_flight
        if cap and budget.in_flight >= cap:
            raise LimitExceeded(
                self._refused(
                    Refusal(
                        "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT",
                        cap,
                        IN_FLIGHT_RETRY_S,
                        f"Too many AIRS calls in flight for this credential: the limit is {cap} "
                        "at once (AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT); retry when one of them "
                        "has finished",
                    )
                )
            )
        budget.in_flight += 1
        try:
            yield lambda requests: self._charge(budget, requests)
        finally:
            budget.in_flight -= 1
            budget.last_seen = self.clock()

    def _charge(self, budget: _Budget, requests: int) -> None:
        quota = self.limits.airs_requests_per_minute
        if not quota or requests <= 0:
            return
        now = self.clock()
        budget.last_seen = now
        if now - budget.window_start >= QUOTA_WINDOW_S:
            budget.window_start, budget.window_used = now, 0
        left = quota - budget.window_used
        if requests <= left:
            budget.window_used += requests
            return
        name = "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE"
        if requests > quota:
            wait = QUOTA_WINDOW_S
            advice = "split it into smaller calls"
        else:
            wait = budget.window_start + QUOTA_WINDOW_S - now
            advice = f"retry after {wait:.0f} s"
        raise LimitExceeded(
            self._refused(
                Refusal(
                    name,
                    quota,
                    wait,
                    f"AIRS request quota of this credential reached: {quota} AIRS requests per "
                    f"minute ({name}); this call needs {requests}, {left} are left; {advice}",
                )
            )
        )

    def _budget(self, principal: bytes, now: float) -> _Budget:
        key = hashlib.sha256(principal).digest()
        self._forget_idle(now)
        budget = self._budgets.get(key)
        if budget is None:
            if len(self._budgets) >= self.max_clients:
                self._budgets.popitem(last=False)  # least recently seen
            budget = self._budgets[key] = _Budget(now, self.limits.request_burst)
        else:
            self._budgets.move_to_end(key)
        budget.last_seen = now
        return budget

    def _forget_idle(self, now: float) -> None:
        """Drop budgets, least recently seen first, that are back to fresh: idle for
        ``idle_after_s`` with no call in flight. Each is dropped once: amortised O(1)."""
        while self._budgets:
            key, budget = next(iter(self._budgets.items()))
            if budget.in_flight or now - budget.last_seen < self.idle_after_s:
                return
            del self._budgets[key]

    def _refused(self, refusal: Refusal) -> Refusal:
        if self.on_refusal is not None:
            self.on_refusal(refusal)
        return refusal
