"""Mapping of PANW SDK failures to short AirsError messages, and the retry policy."""

from __future__ import annotations

import asyncio
import random
import ssl

import aiohttp
import pytest
from airs_mcp.config import Settings
from airs_mcp.scan.airs_client import AirsClient, AirsError, backoff_wait, classify, describe
from aisecurity.exceptions import AISecSDKException, ErrorType
from aisecurity.generated_openapi_client.asyncio.exceptions import ApiException

SECRET = "placeholder-secret-value-123"


def sdk_http_error(status: int, headers: dict[str, str] | None = None) -> AISecSDKException:
    """Raise the way the SDK does: an ApiException re-raised as AISecSDKException(str(e))."""
    api = ApiException(status=status, reason="Reason")
    api.headers = {"x-pan-token": SECRET, **(headers or {})}
    api.body = '{"error": {"message": "internal detail with ' + SECRET + '"}}'
    try:
        try:
            raise api
        except ApiException as e:
            raise AISecSDKException(str(e), ErrorType.SERVER_SIDE_ERROR)  # noqa: B904
    except AISecSDKException as wrapped:
        return wrapped


def sdk_client_error(inner: Exception) -> AISecSDKException:
    try:
        try:
            raise inner
        except aiohttp.ClientError as e:
            raise AISecSDKException(str(e), ErrorType.CLIENT_SIDE_ERROR)  # noqa: B904
    except AISecSDKException as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, "auth", "API key"),
        (403, "auth", "API key"),
        (413, "too_large", "too large"),
        (429, "rate_limited", "rate limit"),
        (500, "server_error", "HTTP 500"),
        (503, "server_error", "HTTP 503"),
        (404, "not_found", "PANW_AI_SEC_API_ENDPOINT"),
        (400, "rejected", "HTTP 400"),
    ],
)
def test_http_failures_map_to_short_messages(status: int, kind: str, words: str) -> None:
    exc = sdk_http_error(status)
    assert SECRET in str(exc)  # the SDK's own text leaks headers and body ...
    error = describe(classify(exc), attempts=1, timeout_s=5)
    assert error.kind == kind
    assert error.status == status
    assert words in error.message
    assert SECRET not in error.message  # ... ours never does
    assert "Reason" not in error.message


def test_retry_after_is_read_from_429() -> None:
    failure = classify(sdk_http_error(429, {"Retry-After": "7"}))
    assert failure.retry_after == 7.0
    assert failure.retryable
    assert "7 s" in describe(failure, attempts=3, timeout_s=5).message


def test_connection_and_timeout_failures() -> None:
    refused = sdk_client_error(aiohttp.ClientConnectionError("Connection refused"))
    assert classify(refused).kind == "unreachable"
    assert classify(refused).retryable
    assert "cannot connect" in describe(classify(refused), attempts=1, timeout_s=5).message
    assert classify(TimeoutError()).kind == "timeout"
    assert not classify(TimeoutError()).retryable
    assert "within 2.5 s" in describe(classify(TimeoutError()), attempts=1, timeout_s=2.5).message
    assert not classify(sdk_http_error(400)).retryable


class Attempts:
    """An SDK-call stand-in that fails a fixed number of times, then returns a value."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def client(max_retries: int, sleeps: list[float]) -> AirsClient:
    settings = Settings(
        api_key=SECRET,
        profile_name="p",
        max_retries=max_retries,
        retry_backoff_s=0.5,
        max_retry_after_s=4,
        timeout_s=1,
    )

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    return AirsClient(settings, sleep=record)


async def test_retries_are_bounded_and_honour_retry_after() -> None:
    sleeps: list[float] = []
    op = Attempts([sdk_http_error(503), sdk_http_error(429, {"Retry-After": "3"})])
    assert await client(2, sleeps).call(op) == "done"
    assert op.calls == 3
    assert 0.25 <= sleeps[0] <= 0.5  # backoff 0.5 s with jitter
    assert sleeps[1] == 3.0  # the server's Retry-After, as asked


async def test_retry_waits_are_capped() -> None:
    sleeps: list[float] = []
    op = Attempts([sdk_http_error(429, {"Retry-After": "60"})])
    await client(1, sleeps).call(op)
    assert sleeps == [4]


async def test_gives_up_after_max_retries() -> None:
    sleeps: list[float] = []
    op = Attempts([sdk_http_error(500)] * 5)
    with pytest.raises(AirsError) as caught:
        await client(2, sleeps).call(op)
    assert op.calls == 3
    assert caught.value.kind == "server_error"
    assert "after 3 attempts" in caught.value.message


async def test_non_retryable_fails_at_once() -> None:
    op = Attempts([sdk_http_error(403)])
    with pytest.raises(AirsError) as caught:
        await client(3, []).call(op)
    assert op.calls == 1
    assert caught.value.kind == "auth"


async def test_per_attempt_timeout() -> None:
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    with pytest.raises(AirsError) as caught:
        await client(3, []).call(slow)
    assert caught.value.kind == "timeout"


def test_an_untrusted_certificate_is_its_own_kind_and_not_retried() -> None:
    try:
        raise aiohttp.ClientConnectionError("connect failed") from ssl.SSLCertVerificationError(
            1, "certificate verify failed: self-signed certificate"
        )
    except aiohttp.ClientConnectionError as exc:
        failure = classify(exc)
    assert failure.kind == "tls"
    assert not failure.retryable
    error = describe(failure, attempts=1, timeout_s=30)
    assert error.kind == "tls"
    assert "TLS certificate is not trusted" in error.message
    assert "self-signed" not in error.message  # no SDK or OpenSSL text


def test_backoff_grows_exponentially_with_jitter() -> None:
    rng = random.Random(7)  # noqa: S311 - a seeded sequence for the test
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)], start=1):
        waits = [backoff_wait(attempt, 0.5, rng) for _ in range(200)]
        assert all(low <= w <= high for w in waits), (attempt, min(waits), max(waits))
        assert len({round(w, 6) for w in waits}) > 100  # spread, not one value
