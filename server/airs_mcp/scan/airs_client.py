"""The only module that talks to AIRS: one SDK configuration, one asyncio ``Scanner``, per-call
timeouts, a bounded retry policy and the mapping of SDK failures to short, safe messages.

Retry policy: HTTP 429, HTTP 500/502/503/504 and connection failures are retried up to
``Settings.max_retries`` times (so at most ``max_retries + 1`` attempts). The wait before retry
``n`` (1-based) is ``retry_backoff_s * 2**(n-1)`` times a random factor in [0.5, 1] (jitter,
so many clients failing together do not retry in lockstep), or the server's ``Retry-After``
seconds when it sent one; either is capped at ``max_retry_after_s``. A 429 also pauses the
process's fan-out pacer (``airs_mcp.scan.pacing``) for that wait, so other chunks of a batch do not
keep hitting the limit while one backs off; with the fleet share on
(``Settings.fleet_peers``, ``airs_mcp.scan.fleet_share``) the pacer's pace is this pod's share of
the tenant's rate and a 429 also cuts it. Timeouts (``timeout_s`` per
attempt), an untrusted TLS certificate and all other errors are not retried. The SDK's own
retry is switched off (one attempt) so this is the only policy in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from aisecurity.configuration import global_configuration
from aisecurity.exceptions import AISecSDKException, ErrorType
from aisecurity.generated_openapi_client.asyncio.exceptions import ApiException
from aisecurity.generated_openapi_client.models.ai_profile import AiProfile
from aisecurity.generated_openapi_client.models.async_scan_object import AsyncScanObject
from aisecurity.generated_openapi_client.models.async_scan_response import AsyncScanResponse
from aisecurity.generated_openapi_client.models.metadata import Metadata
from aisecurity.generated_openapi_client.models.scan_id_result import ScanIdResult
from aisecurity.generated_openapi_client.models.scan_response import ScanResponse
from aisecurity.generated_openapi_client.models.threat_scan_report_object import (
    ThreatScanReportObject,
)
from aisecurity.logger import BaseLogger
from aisecurity.scan.asyncio.scanner import Scanner
from aisecurity.scan.models.content import Content

from airs_mcp.config import Settings
from airs_mcp.observability.metrics import Metrics
from airs_mcp.scan import egress
from airs_mcp.scan.fleet_share import FleetShare
from airs_mcp.scan.pacing import Pacer
from airs_mcp.scan.replica_count import watch_replicas

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The endpoints a batch or query tool call fans out to, many requests at once: these are paced.
# An inline scan is one request per tool call (paced by the clients and the ingress rate limit).
PACED_ENDPOINTS = frozenset({"async", "results", "reports"})
log = logging.getLogger("airs_mcp.airs_client")


def _one_null_handler(self: BaseLogger) -> None:
    """``BaseLogger.__init__`` adding the ``NullHandler`` once per logger, not once per object."""
    logger = logging.getLogger(type(self).__module__)
    if not any(type(h) is logging.NullHandler for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    self._BaseLogger__logger = logger  # type: ignore[attr-defined]  # the SDK's private name


def bound_sdk_log_handlers() -> None:
    """Stop the SDK adding one logging handler per scan.

    pan-aisecurity 0.11's ``BaseLogger.__init__`` adds a new ``NullHandler`` to its module's
    logger for every object, and every scan builds a ``Content``: the handler list of
    ``aisecurity.scan.models.content`` grows by one per scan, forever (~280 bytes each, and
    ``addHandler``'s membership check scans the whole list: +3.7 ms per call after 100,000
    scans). Replaced by the same behaviour with at most one ``NullHandler`` per logger;
    idempotent.
    """
    if BaseLogger.__init__ is not _one_null_handler:
        BaseLogger.__init__ = _one_null_handler  # type: ignore[method-assign]  # the SDK's, patched
    for name in ("aisecurity.scan.models.content",):
        logger = logging.getLogger(name)
        extra = [h for h in logger.handlers if type(h) is logging.NullHandler][1:]
        for handler in extra:
            logger.removeHandler(handler)


class AirsError(Exception):
    """An AIRS call that failed; ``str()`` is a short message that is safe to show a client."""

    def __init__(self, kind: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Failure:
    kind: str
    status: int | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind == "unreachable" or self.status in RETRY_STATUSES


def _find(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _retry_after(api_exc: ApiException) -> float | None:
    headers = api_exc.headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


def backoff_wait(attempt: int, base_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): exponential, with equal jitter."""
    factor = (rng or random).uniform(0.5, 1.0)
    return base_s * 2.0 ** (attempt - 1) * factor


def classify(exc: BaseException) -> _Failure:
    """Reduce any exception raised by an SDK call to a kind, an HTTP status and Retry-After."""
    if isinstance(exc, TimeoutError):
        return _Failure("timeout")
    api_exc = _find(exc, (ApiException,))
    if isinstance(api_exc, ApiException) and api_exc.status:
        status = int(api_exc.status)
        return _Failure("http", status, _retry_after(api_exc) if status == 429 else None)
    if _find(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)) is not None:
        return _Failure("timeout")
    if _find(exc, (aiohttp.ClientConnectorCertificateError, ssl.SSLCertVerificationError)):
        return _Failure("tls")
    if _find(exc, (aiohttp.ClientConnectionError, ConnectionError)) is not None:
        return _Failure("unreachable")
    if (
        isinstance(exc, AISecSDKException)
        and exc.error_type is ErrorType.USER_REQUEST_PAYLOAD_ERROR
    ):
        return _Failure("invalid_request")
    return _Failure("invalid_response")


def describe(failure: _Failure, *, attempts: int, timeout_s: float) -> AirsError:
    """The client-facing message for a failure: names the cause, never echoes SDK text."""
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    status = failure.status
    if failure.kind == "timeout":
        msg = f"AIRS did not answer within {timeout_s:g} s{tries}"
        return AirsError("timeout", msg)
    if failure.kind == "unreachable":
        msg = f"cannot connect to the AIRS API (connection refused or unreachable){tries}"
        return AirsError("unreachable", msg)
    if failure.kind == "tls":
        msg = (
            "the AIRS endpoint's TLS certificate is not trusted: give the server the CA that "
            "signs it (SSL_CERT_FILE; mcp_server_airs_ca_bundle in the collection)"
        )
        return AirsError("tls", msg)
    if failure.kind == "invalid_request":
        return AirsError("invalid_request", "the scan request was refused by the AIRS SDK checks")
    if failure.kind == "invalid_response":
        return AirsError("invalid_response", "AIRS returned a response that could not be read")
    if status in (401, 403):
        msg = f"AIRS rejected the API key (HTTP {status}): check PANW_AI_SEC_API_KEY"
        return AirsError("auth", msg, status=status)
    if status == 413:
        msg = "AIRS rejected the request as too large (HTTP 413): send less content per call"
        return AirsError("too_large", msg, status=status)
    if status == 429:
        wait = f"; AIRS asked to wait {failure.retry_after:g} s" if failure.retry_after else ""
        msg = f"AIRS rate limit reached (HTTP 429){tries}{wait}: slow down and retry later"
        return AirsError("rate_limited", msg, status=status)
    if status is not None and status >= 500:
        msg = f"AIRS service error (HTTP {status}){tries}: retry later"
        return AirsError("server_error", msg, status=status)
    if status == 404:
        msg = "AIRS API path not found (HTTP 404): check PANW_AI_SEC_API_ENDPOINT"
        return AirsError("not_found", msg, status=status)
    msg = f"AIRS rejected the request (HTTP {status})"
    return AirsError("rejected", msg, status=status)


class AirsClient:
    """Owns the process-wide SDK configuration and the single asyncio ``Scanner``."""

    def __init__(
        self,
        settings: Settings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._scanner: Scanner | None = None
        self._replica_watch: asyncio.Task[None] | None = None
        self._sleep = sleep
        self._metrics = metrics or Metrics()
        self._clock = clock
        self.fleet_share = (
            FleetShare(
                settings.airs_tenant_rate,
                max_rate=settings.batch_requests_per_second,
                max_burst=settings.batch_burst,
            )
            if settings.fleet_share
            else None
        )
        self._pacer = Pacer(
            settings.batch_requests_per_second,
            settings.batch_burst,
            sleep,
            clock,
            share=self.fleet_share,
        )
        self.profile = AiProfile(profile_name=settings.profile_name, profile_id=settings.profile_id)

    @property
    def started(self) -> bool:
        return self._scanner is not None

    def start(self) -> None:
        """Configure the SDK once and create the one Scanner (its sessions open on first use)."""
        if self._scanner is not None:
            return
        bound_sdk_log_handlers()
        global_configuration.init(  # what ``aisecurity.init`` is bound to
            api_key=self._settings.api_key,
            api_endpoint=self._settings.api_endpoint,
            num_retries=1,
        )
        egress.apply(egress.resolve(global_configuration.api_endpoint, os.environ))
        self._scanner = Scanner()
        share = self.fleet_share
        if share is not None:  # start() runs in the lifespan, on the server's loop
            self._replica_watch = asyncio.get_running_loop().create_task(
                watch_replicas(
                    self._settings.fleet_peers,
                    self._settings.fleet_refresh_s,
                    lambda count: share.set_replicas(count, self._clock()),
                ),
                name="replica-count",
            )

    async def close(self) -> None:
        watch, self._replica_watch = self._replica_watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            with contextlib.suppress(Exception):
                await scanner.close()

    def _require(self) -> Scanner:
        if self._scanner is None:
            raise AirsError("not_ready", "the AIRS client is not started")
        return self._scanner

    async def call(self, op: Callable[[], Awaitable[T]], endpoint: str = "other") -> T:
        """Run one SDK call with the timeout and retry policy; raise ``AirsError`` on failure.

        Every attempt is counted in the metrics under ``endpoint`` (sync, async, results,
        reports) with its HTTP status or failure kind; every retry once more as a retry.
        """
        settings = self._settings
        metrics = self._metrics
        paced = endpoint in PACED_ENDPOINTS
        attempts = 0
        while True:
            attempts += 1
            if paced:  # every attempt, retries too: each one is a request AIRS counts
                await self._pacer.wait_turn()
            try:
                result = await asyncio.wait_for(op(), timeout=settings.timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify(exc)
                metrics.airs_failure(endpoint, failure.kind, failure.status)
                log.debug("airs call failed: kind=%s status=%s", failure.kind, failure.status)
                if not failure.retryable or attempts > settings.max_retries:
                    raise describe(
                        failure, attempts=attempts, timeout_s=settings.timeout_s
                    ) from None
                wait = backoff_wait(attempts, settings.retry_backoff_s)
                if failure.retry_after is not None:
                    wait = failure.retry_after
                wait = min(wait, settings.max_retry_after_s)
                if failure.status == 429:
                    self._pacer.back_off(wait)
                await self._sleep(wait)
                metrics.airs_retries.labels(endpoint).inc()
                continue
            if result is None:
                metrics.airs_failure(endpoint, "invalid_response", None)
                raise AirsError("invalid_response", "AIRS returned no scan result (non-200 reply)")
            metrics.airs_success(endpoint)
            return result

    async def sync_scan(
        self,
        content: Content,
        *,
        tr_id: str | None = None,
        session_id: str | None = None,
        metadata: Metadata | None = None,
    ) -> ScanResponse:
        scanner = self._require()
        return await self.call(
            lambda: scanner.sync_scan(
                ai_profile=self.profile,
                content=content,
                tr_id=tr_id,
                session_id=session_id,
                metadata=metadata,
            ),
            "sync",
        )

    async def async_scan(self, objects: list[AsyncScanObject]) -> AsyncScanResponse:
        scanner = self._require()
        return await self.call(lambda: scanner.async_scan(objects), "async")

    async def query_scan_ids(self, scan_ids: list[str]) -> list[ScanIdResult]:
        scanner = self._require()
        return await self.call(lambda: scanner.query_by_scan_ids(scan_ids), "results")

    async def query_report_ids(self, report_ids: list[str]) -> list[ThreatScanReportObject]:
        scanner = self._require()
        return await self.call(lambda: scanner.query_by_report_ids(report_ids), "reports")
