"""The tenant's request rate limit, as AIRS enforces it per API key (off unless configured).

At most ``rate`` requests are accepted in any sliding window of one second; a request beyond
that is answered 429 and does not count (it was refused). The double serves one API key, so one
tenant, and every scan API endpoint shares its budget.
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 1.0


class TenantRateLimit:
    """Sliding one-second window over accepted requests; ``rate`` 0 turns it off."""

    def __init__(self, rate: int = 0) -> None:
        self._accepted: deque[float] = deque()
        self.rate = 0
        self.set_rate(rate)

    def set_rate(self, rate: int) -> None:
        if rate < 0:
            raise ValueError("tenant rate must be >= 0")
        self.rate = rate
        self._accepted.clear()

    def admit(self, now: float) -> bool:
        """True when a request arriving at ``now`` is within the limit (and count it)."""
        if self.rate == 0:
            return True
        while self._accepted and self._accepted[0] <= now - WINDOW_S:
            self._accepted.popleft()
        if len(self._accepted) >= self.rate:
            return False
        self._accepted.append(now)
        return True
