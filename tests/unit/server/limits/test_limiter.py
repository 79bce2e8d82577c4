"""ClientLimiter on an injected clock: each limit refuses past its value, names itself and when
to retry, never spills onto another credential, and forgets idle credentials."""

from __future__ import annotations

import pytest
from airs_mcp.config import ClientLimits
from airs_mcp.limits.limiter import QUOTA_WINDOW_S, ClientLimiter
from airs_mcp.limits.refusal import LimitExceeded, Refusal

A = b'["token", "static:a", null, null]'
B = b'["token", "static:b", null, null]'
OFF = ClientLimits(requests_per_second=0, airs_calls_in_flight=0, airs_requests_per_minute=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **limits: float) -> ClientLimiter:
    settings = ClientLimits(
        requests_per_second=limits.get("rate", 0),
        request_burst=int(limits.get("burst", 1)),
        airs_calls_in_flight=int(limits.get("in_flight", 0)),
        airs_requests_per_minute=int(limits.get("quota", 0)),
    )
    return ClientLimiter(settings, clock=clock)


def test_token_bucket_allows_the_burst_then_the_rate_and_names_itself() -> None:
    clock = Clock()
    limits = limiter(clock, rate=2, burst=3)
    assert [limits.admit_request(A) for _ in range(3)] == [None, None, None]
    refusal = limits.admit_request(A)
    assert refusal is not None
    assert refusal.variable == "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND"
    assert refusal.value == 2
    assert refusal.retry_after_s == pytest.approx(0.5)
    assert "2 requests per second" in refusal.message
    assert "bursts of 3" in refusal.message
    assert "retry after 0.50 s" in refusal.message
    assert refusal.retry_after_header == b"1"
    clock.now += 0.5  # one token back
    assert limits.admit_request(A) is None
    assert limits.admit_request(A) is not None
    clock.now += 100  # never more than the burst
    assert [limits.admit_request(A) is None for _ in range(4)] == [True, True, True, False]


def test_one_credential_past_its_rate_leaves_another_untouched() -> None:
    clock = Clock()
    limits = limiter(clock, rate=1, burst=2)
    assert limits.admit_request(A) is None
    assert limits.admit_request(A) is None
    assert limits.admit_request(A) is not None
    assert limits.admit_request(B) is None
    assert limits.admit_request(B) is None


def test_airs_calls_in_flight_are_refused_past_the_limit_and_freed_at_the_end() -> None:
    clock = Clock()
    limits = limiter(clock, in_flight=2)
    with limits.airs_call(A), limits.airs_call(A):
        with pytest.raises(LimitExceeded) as refused, limits.airs_call(A):
            pass
        assert refused.value.refusal.variable == "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT"
        assert refused.value.refusal.value == 2
        assert "the limit is 2 at once" in str(refused.value)
        assert "retry when one of them has finished" in str(refused.value)
        with limits.airs_call(B):  # another credential has its own slots
            pass
    with limits.airs_call(A), limits.airs_call(A):  # both slots free again
        pass


def test_a_call_that_raises_frees_its_slot() -> None:
    clock = Clock()
    limits = limiter(clock, in_flight=1)
    with pytest.raises(RuntimeError), limits.airs_call(A):
        raise RuntimeError("the call failed")
    with limits.airs_call(A):
        pass


def test_minute_quota_refuses_a_call_that_does_not_fit_and_names_the_wait() -> None:
    clock = Clock()
    limits = limiter(clock, quota=10)
    with limits.airs_call(A) as charge:
        charge(6)
    clock.now += 20
    with limits.airs_call(A) as charge:
        charge(4)
        with pytest.raises(LimitExceeded) as refused:
            charge(1)
    refusal = refused.value.refusal
    assert refusal.variable == "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE"
    assert refusal.value == 10
    assert refusal.retry_after_s == pytest.approx(QUOTA_WINDOW_S - 20)
    assert "10 AIRS requests per minute" in refusal.message
    assert "this call needs 1, 0 are left; retry after 40 s" in refusal.message
    with limits.airs_call(B) as charge:  # B's quota is its own
        charge(10)
    clock.now += 40  # A's window closed: a fresh minute
    with limits.airs_call(A) as charge:
        charge(10)


def test_a_call_is_charged_whole_or_not_at_all() -> None:
    clock = Clock()
    limits = limiter(clock, quota=10)
    with limits.airs_call(A) as charge:
        charge(8)
        with pytest.raises(LimitExceeded, match="this call needs 3, 2 are left"):
            charge(3)
        charge(2)  # the refused 3 were not taken


def test_a_call_larger_than_the_quota_is_told_to_split() -> None:
    limits = limiter(Clock(), quota=10)
    with limits.airs_call(A) as charge, pytest.raises(LimitExceeded, match="split it"):
        charge(11)


def test_limits_at_zero_are_off() -> None:
    limits = ClientLimiter(OFF, clock=Clock())
    assert all(limits.admit_request(A) is None for _ in range(1000))
    with limits.airs_call(A) as charge, limits.airs_call(A), limits.airs_call(A):
        charge(100_000)


def test_idle_credentials_are_forgotten_and_memory_stays_bounded() -> None:
    clock = Clock()
    limits = ClientLimiter(
        ClientLimits(requests_per_second=10, request_burst=20, airs_requests_per_minute=100),
        clock=clock,
        max_clients=50,
    )
    for n in range(200):
        limits.admit_request(f"principal {n}".encode())
    assert len(limits) == 50  # the least recently seen made room
    clock.now += limits.idle_after_s
    assert limits.idle_after_s == QUOTA_WINDOW_S  # the bucket refills in 2 s, the window is 60
    limits.admit_request(A)
    assert len(limits) == 1  # every idle one forgotten, A is new


def test_a_credential_with_a_call_in_flight_is_not_forgotten() -> None:
    clock = Clock()
    limits = limiter(clock, in_flight=1, rate=1, burst=1)
    with limits.airs_call(A):
        clock.now += 3600
        limits.admit_request(B)
        assert len(limits) == 2
        with pytest.raises(LimitExceeded), limits.airs_call(A):  # the slot is still taken
            pass


def test_refusals_are_reported_to_the_callback() -> None:
    seen: list[Refusal] = []
    limits = ClientLimiter(
        ClientLimits(requests_per_second=1, request_burst=1, airs_calls_in_flight=0),
        clock=Clock(),
        on_refusal=seen.append,
    )
    limits.admit_request(A)
    limits.admit_request(A)
    assert [r.variable for r in seen] == ["AIRS_MCP_CLIENT_REQUESTS_PER_SECOND"]


def test_the_json_rpc_error_carries_the_limit() -> None:
    refusal = Refusal("AIRS_MCP_CLIENT_REQUESTS_PER_SECOND", 5, 0.25, "the message")
    error = refusal.mcp_error().error
    assert error.message == "the message"
    assert error.data == {
        "limit": "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND",
        "value": 5,
        "retry_after_s": 0.25,
    }
