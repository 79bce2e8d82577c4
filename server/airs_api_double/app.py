"""The double's Starlette app: the four AIRS scan endpoints plus the ``/_double/*`` admin routes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airs_api_double import responses, validation
from airs_api_double.rate_limit import TenantRateLimit
from airs_api_double.state import DoubleState, Fault, StoredScan
from airs_api_double.validation import RequestError
from airs_api_double.verdicts import judge

SYNC_PATH = "/v1/scan/sync/request"
ASYNC_PATH = "/v1/scan/async/request"
RESULTS_PATH = "/v1/scan/results"
REPORTS_PATH = "/v1/scan/reports"

CLIENT_GONE = 499  # recorded in the statistics when the client disconnected before the answer
Handler = Callable[[Request, bytes], Awaitable[Any]]

ERROR_TEXT = {
    400: "Bad Request",
    401: "Unauthorized: missing API key",
    403: "Forbidden: invalid API key",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_response(
    status: int, message: str | None = None, *, retry_after: int | None = None
) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = {"error": {"message": message or ERROR_TEXT.get(status, "error")}}
    return JSONResponse(body, status_code=status, headers=headers)


def payload_hash(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


class DoubleApp:
    """Holds the API key and the state; builds the Starlette application."""

    def __init__(
        self, api_key: str, *, pending_polls: int = 1, ca_pem: bytes = b"", tenant_rate: int = 0
    ) -> None:
        self.api_key = api_key
        self.ca_pem = ca_pem
        self.state = DoubleState(pending_polls=pending_polls)
        self.rate_limit = TenantRateLimit(tenant_rate)

    # --- the common request pipeline ------------------------------------------------------
    def _auth_error(self, request: Request) -> Response | None:
        token = request.headers.get("x-pan-token")
        bearer = request.headers.get("authorization", "")
        if token is None and bearer.startswith("Bearer "):
            token = bearer[len("Bearer ") :]
        if not token:
            return error_response(401)
        if not hmac.compare_digest(token.encode(), self.api_key.encode()):
            return error_response(403)
        return None

    def endpoint(
        self, name: str, handler: Handler, max_body: int | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            self.state.arrive(name)
            try:
                response = await self._pipeline(name, handler, max_body, request)
            except ClientDisconnect:  # the caller gave up (e.g. its timeout) before we answered
                response = Response(status_code=CLIENT_GONE)
            finally:
                self.state.in_flight -= 1
            self.state.statuses[str(response.status_code)] += 1
            return response

        return run

    async def _pipeline(
        self, name: str, handler: Handler, max_body: int | None, request: Request
    ) -> Response:
        self.state.requests[name] += 1
        fault = self.state.take_fault(request.url.path)
        if fault and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault and fault.status:
            return error_response(fault.status, fault.message, retry_after=fault.retry_after)
        if (denied := self._auth_error(request)) is not None:
            return denied
        if not self.rate_limit.admit(time.monotonic()):
            self.state.rate_limited += 1
            return error_response(429, "tenant rate limit exceeded")
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            if not ctype.lower().startswith("application/json"):
                return error_response(415, "Content-Type must be application/json")
        body = await request.body()
        if max_body is not None and len(body) > max_body:
            return error_response(413, f"payload exceeds {max_body} bytes")
        hashed = body if request.method == "POST" else b"null"
        sent_hash = request.headers.get("x-payload-hash", "")
        if not hmac.compare_digest(sent_hash.encode(), payload_hash(self.api_key, hashed).encode()):
            return error_response(403, "x-payload-hash does not match the request body")
        try:
            result = await handler(request, body)
        except RequestError as exc:
            return error_response(exc.status, exc.message)
        if fault and fault.malformed:
            return Response(b'{"scan_id": "trunc', media_type="application/json")
        return JSONResponse(result)

    # --- the four endpoints ----------------------------------------------------------------
    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RequestError(400, "body is not valid JSON") from None

    def _store(
        self, scan_id: str, req_id: int, request: dict[str, Any], item: dict[str, Any], polls: int
    ) -> dict[str, Any]:
        verdict = judge(item)
        stored = StoredScan(
            req_id=req_id,
            result=responses.scan_response(scan_id, verdict, request),
            report=responses.threat_report(scan_id, req_id, verdict, request),
            polls_left=polls,
        )
        self.state.scans.setdefault(scan_id, []).append(stored)
        return stored.result

    async def sync_scan(self, request: Request, body: bytes) -> Any:
        scan_req = self._json(body)
        item = validation.check_scan_request(scan_req)
        return self._store(str(uuid.uuid4()), 0, scan_req, item, polls=0)

    async def async_scan(self, request: Request, body: bytes) -> Any:
        objects = self._json(body)
        if not isinstance(objects, list) or not objects:
            raise RequestError(400, "body must be a non-empty array of scan objects")
        if len(objects) > validation.MAX_ASYNC_OBJECTS:
            raise RequestError(400, f"at most {validation.MAX_ASYNC_OBJECTS} scan objects")
        checked: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        seen: set[int] = set()
        for obj in objects:
            if not isinstance(obj, dict):
                raise RequestError(400, "each scan object must be a JSON object")
            req_id = obj.get("req_id")
            if not isinstance(req_id, int) or isinstance(req_id, bool) or req_id in seen:
                raise RequestError(400, "req_id must be a unique integer")
            seen.add(req_id)
            scan_req = obj.get("scan_req")
            if not isinstance(scan_req, dict):
                raise RequestError(400, "scan_req must be a JSON object")
            item = validation.check_scan_request(scan_req)
            checked.append((req_id, scan_req, item))
        self.state.async_batch_sizes.append(len(objects))
        scan_id = str(uuid.uuid4())
        for req_id, scan_req, item in checked:
            self._store(scan_id, req_id, scan_req, item, polls=self.state.pending_polls)
        return {
            "received": responses.now_iso(),
            "scan_id": scan_id,
            "report_id": "R" + scan_id,
            "source": responses.SOURCE,
        }

    async def results(self, request: Request, body: bytes) -> Any:
        ids = validation.parse_ids(request.query_params.get("scan_ids"), "scan_ids", report=False)
        self.state.query_sizes["results"].append(len(ids))
        entries = []
        for scan_id in ids:
            for stored in self.state.scans.get(scan_id, []):
                entry: dict[str, Any] = {
                    "source": responses.SOURCE,
                    "req_id": stored.req_id,
                    "scan_id": scan_id,
                    "status": "complete",
                }
                if stored.polls_left > 0:
                    stored.polls_left -= 1
                    entry["status"] = "pending"
                else:
                    entry["result"] = stored.result
                entries.append(entry)
        return entries

    async def reports(self, request: Request, body: bytes) -> Any:
        ids = validation.parse_ids(
            request.query_params.get("report_ids"), "report_ids", report=True
        )
        self.state.query_sizes["reports"].append(len(ids))
        return [
            stored.report
            for report_id in ids
            for stored in self.state.scans.get(report_id[1:], [])
            if stored.polls_left == 0
        ]

    # --- admin -----------------------------------------------------------------------------
    async def set_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.faults.clear()
            return JSONResponse({"faults": []})
        try:
            data = await request.json()
            items = data if isinstance(data, list) else [data]
            faults = [Fault.from_json(item) for item in items]
        except (ValueError, TypeError) as exc:
            return error_response(400, f"bad fault: {exc}")
        self.state.faults.extend(faults)
        return JSONResponse({"faults": [f.__dict__ for f in self.state.faults]})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.state.stats())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    async def config(self, request: Request) -> Response:
        data = await request.json()
        if not isinstance(data, dict) or not {"pending_polls", "tenant_rate"} & set(data):
            return error_response(400, "give pending_polls and/or tenant_rate")
        polls = data.get("pending_polls", self.state.pending_polls)
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 0:
            return error_response(400, "pending_polls must be a non-negative integer")
        rate = data.get("tenant_rate", self.rate_limit.rate)
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 0:
            return error_response(400, "tenant_rate must be a non-negative integer (0 = off)")
        self.state.pending_polls = polls
        if rate != self.rate_limit.rate:
            self.rate_limit.set_rate(rate)
        return JSONResponse({"pending_polls": polls, "tenant_rate": rate})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ca(self, request: Request) -> Response:
        return Response(self.ca_pem, media_type="application/x-pem-file")

    def build(self) -> Starlette:
        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return error_response(status)

        routes = [
            Route(
                SYNC_PATH,
                self.endpoint("sync", self.sync_scan, validation.MAX_SYNC_PAYLOAD),
                methods=["POST"],
            ),
            Route(
                ASYNC_PATH,
                self.endpoint("async", self.async_scan, validation.MAX_ASYNC_PAYLOAD),
                methods=["POST"],
            ),
            Route(RESULTS_PATH, self.endpoint("results", self.results), methods=["GET"]),
            Route(REPORTS_PATH, self.endpoint("reports", self.reports), methods=["GET"]),
            Route("/_double/faults", self.set_faults, methods=["POST", "DELETE"]),
            Route("/_double/stats", self.stats, methods=["GET"]),
            Route("/_double/reset", self.reset, methods=["POST"]),
            Route("/_double/config", self.config, methods=["POST"]),
            Route("/_double/health", self.health, methods=["GET"]),
            Route("/_double/ca.pem", self.ca, methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})
