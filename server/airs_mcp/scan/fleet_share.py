"""One AIRS budget for the whole fleet: this pod's share of the tenant's rate, with AIMD on 429.

AIRS limits a tenant's Scan API requests per second across every caller using its keys, so
``N`` replicas pacing themselves at the single-pod rate send ``N`` times too much. Without a
shared store each pod takes ``tenant_rate / replicas`` (its *share*) and spends it as the
single-pod default does the whole tenant's: a sustained pace of ``PACE_FRACTION`` of the share
after a burst of ``BURST_FRACTION`` of it, together four fifths of the share in any one second
(the rest absorbs arrival jitter). With one replica at 150/s that is exactly the single-pod
default, 100/s after 20.

The replica count can be stale or wrong (a pod starting, DNS lagging), so the pace also adapts:
a 429 multiplies it by ``DECREASE`` (at most once per ``DECREASE_HOLD_S``: the requests already
in flight answer 429 together, and that is one signal, not twenty); afterwards it climbs back
additively, ``RECOVERY_PER_S`` of the target per second. Under a 429 every second the pace
settles where the cut equals the climb, at a fifth of the target.
Pure: every method takes the time, the caller owns the clock.
"""

from __future__ import annotations

import math

PACE_FRACTION = 2 / 3  # 100/s of 150/s, the single-pod default
BURST_FRACTION = 2 / 15  # 20 of 150/s
DECREASE = 0.5
DECREASE_HOLD_S = 1.0
RECOVERY_PER_S = 0.1  # from half the target back to all of it in 5 s without another 429


class FleetShare:
    """This pod's current pace and burst for AIRS requests, from its share and the 429s seen."""

    def __init__(
        self, tenant_rate: float, *, max_rate: float = 0.0, max_burst: int = 0, replicas: int = 1
    ) -> None:
        """``max_rate``/``max_burst``: the pod's own pacing settings, a ceiling (0: none)."""
        if tenant_rate <= 0:
            raise ValueError("tenant_rate must be > 0")
        self.tenant_rate = tenant_rate
        self._max_rate = max_rate
        self._max_burst = max_burst
        self.replicas = max(1, replicas)
        self._rate = self.target_rate
        self._updated = -math.inf
        self._last_decrease = -math.inf

    @property
    def share(self) -> float:
        """Requests per second this pod may send: the tenant's rate over the ready replicas."""
        return self.tenant_rate / self.replicas

    @property
    def target_rate(self) -> float:
        """The pace without recent 429s."""
        pace = self.share * PACE_FRACTION
        return min(pace, self._max_rate) if self._max_rate > 0 else pace

    @property
    def target_burst(self) -> int:
        burst = max(1, math.floor(self.share * BURST_FRACTION))
        return min(burst, self._max_burst) if self._max_burst > 0 else burst

    def set_replicas(self, count: int, now: float) -> None:
        """The fleet now has ``count`` ready replicas (below 1 counts as 1: this pod runs)."""
        self._recover(now)
        self.replicas = max(1, count)
        self._rate = min(self._rate, self.target_rate)  # a larger fleet applies at once

    def rate(self, now: float) -> float:
        self._recover(now)
        return self._rate

    def burst(self, now: float) -> int:
        """The target burst scaled like the pace: a throttled pod does not burst at full size."""
        scaled = math.floor(self.target_burst * self.rate(now) / self.target_rate)
        return max(1, scaled)

    def throttled(self, now: float) -> None:
        """AIRS answered 429: cut the pace, once per ``DECREASE_HOLD_S``."""
        self._recover(now)
        if now - self._last_decrease < DECREASE_HOLD_S:
            return
        self._last_decrease = now
        self._rate *= DECREASE

    def _recover(self, now: float) -> None:
        target = self.target_rate
        if self._updated != -math.inf and now > self._updated:
            self._rate = min(target, self._rate + target * RECOVERY_PER_S * (now - self._updated))
        self._updated = max(self._updated, now)
