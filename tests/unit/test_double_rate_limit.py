"""The AIRS double's tenant rate limit: a sliding second over accepted requests."""

from __future__ import annotations

import pytest
from airs_api_double.rate_limit import TenantRateLimit


def test_off_by_default() -> None:
    limit = TenantRateLimit()
    assert all(limit.admit(0.0) for _ in range(10_000))


def test_at_most_rate_accepted_in_any_second_refusals_do_not_count() -> None:
    limit = TenantRateLimit(3)
    assert [limit.admit(t) for t in (0.0, 0.1, 0.2, 0.3, 0.9)] == [True, True, True, False, False]
    assert limit.admit(1.0)  # the request of 0.0 left the window
    assert not limit.admit(1.05)
    assert limit.admit(1.1)


def test_a_new_rate_starts_an_empty_window_and_negative_is_refused() -> None:
    limit = TenantRateLimit(1)
    assert limit.admit(0.0)
    assert not limit.admit(0.5)
    limit.set_rate(2)
    assert limit.admit(0.5)
    with pytest.raises(ValueError, match=">= 0"):
        limit.set_rate(-1)
