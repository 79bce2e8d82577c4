"""The four MCP tools: thin wrappers over ``ScanService`` with error mapping and one log line.

With a ``ClientLimiter`` (authentication on, a limit set), a call holds one of its credential's
AIRS call slots and charges its AIRS requests to the credential's quota; a refusal is the
JSON-RPC error naming the limit (``MCPError``), not a tool result the model would read as a
verdict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from airs_mcp.auth import caller
from airs_mcp.limits.limiter import Charge, ClientLimiter, free
from airs_mcp.limits.refusal import LimitExceeded
from airs_mcp.observability import log
from airs_mcp.observability.metrics import Metrics
from airs_mcp.observability.trace_context import request_trace_id
from airs_mcp.scan.airs_client import AirsError
from airs_mcp.scan.models import (
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    TEXT_SCHEMA,
    BatchScanResult,
    ScanItem,
    ScanReportsOutput,
    ScanResultsOutput,
    ScanSummary,
    ToolEventInput,
)
from airs_mcp.scan.owned_ids import ScanIds
from airs_mcp.scan.service import ScanService
from airs_mcp.scan.validation import InputProblem

T = TypeVar("T")
# Every string argument has a maxLength in its schema; pydantic reports a longer value as a tool
# error naming the argument.
Text = partial(Field, json_schema_extra=TEXT_SCHEMA)  # enforced in UTF-8 bytes by validation
Name = partial(Field, max_length=MAX_NAME_CHARS)
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=True)


def _trace_fields(ctx: Context | None) -> dict[str, Any]:
    """``trace_id`` of the HTTP request that carried the call, when it had a traceparent."""
    if ctx is None:
        return {}
    try:
        request = ctx.request_context.request
    except ValueError:  # no request context (called outside a request)
        return {}
    found = request_trace_id(request)
    return {"trace_id": found} if found else {}


async def run_logged(
    tool: str,
    work: Callable[[], Awaitable[T]],
    fields: Callable[[T], dict[str, Any]],
    metrics: Metrics,
    ctx: Context | None = None,
) -> T:
    """Run a tool body; map failures to ``ToolError``; log one line and count it either way."""
    started = metrics.call_started()
    trace = _trace_fields(ctx)
    outcome, extra = "ok", {}
    try:
        result = await work()
        extra = fields(result)
        return result
    except LimitExceeded as exc:
        outcome, extra = "limited", {"limit": exc.refusal.variable}
        raise exc.refusal.mcp_error() from None
    except InputProblem as exc:
        outcome, extra = "invalid_input", {}
        raise ToolError(str(exc)) from None
    except AirsError as exc:
        outcome, extra = "airs_error", {"error_kind": exc.kind, "http_status": exc.status}
        raise ToolError(exc.message) from None
    except ToolError:
        outcome = "invalid_input"
        raise
    except Exception:
        outcome = "internal_error"
        raise
    finally:
        elapsed = metrics.call_finished(tool, outcome, started)
        log.tool_call(tool, elapsed * 1000, outcome, **trace, **extra)


def _summary_fields(result: ScanSummary) -> dict[str, Any]:
    return {
        "action": result.action,
        "category": result.category,
        "scan_ids": [result.scan_id],
        "detections": sorted(set(result.prompt_detected) | set(result.response_detected)),
    }


def _batch_fields(result: BatchScanResult) -> dict[str, Any]:
    scan_ids = sorted({i.scan_id for i in result.items if i.scan_id})
    return {
        "items": len(result.items),
        "failed": result.failed,
        "requests": result.requests,
        "scan_ids": scan_ids,
    }


def register_tools(
    server: MCPServer,
    service: Callable[[], ScanService],
    metrics: Metrics,
    limiter: Callable[[], ClientLimiter | None] = lambda: None,
) -> None:
    """Register the four tools on ``server``; ``service()`` returns the live ScanService,
    ``limiter()`` the live per-credential limiter (``None``: no limits)."""

    async def scan(operation: Callable[[ScanService, ScanIds, Charge], Awaitable[T]]) -> T:
        """Run ``operation`` as the caller (read inside the tool call, where the caller is):
        on the caller's scan ids, within its limits."""
        live = service()
        principal = caller.principal(live.settings.auth.enabled)
        owner = live.ids_for(principal)
        limits = limiter()
        if limits is None:
            return await operation(live, owner, free)
        with limits.airs_call(principal) as charge:
            return await operation(live, owner, charge)

    @server.tool(
        name="pan_inline_scan",
        title="AIRS inline scan",
        annotations=READ_ONLY,
    )
    async def pan_inline_scan(
        prompt: Annotated[str | None, Text(description="User prompt text to scan.")] = None,
        response: Annotated[str | None, Text(description="Model response text to scan.")] = None,
        code_prompt: Annotated[str | None, Text(description="Code sent to a model.")] = None,
        code_response: Annotated[str | None, Text(description="Code a model produced.")] = None,
        context: Annotated[
            str | None, Text(description="Grounding context for the response (up to 2 MiB).")
        ] = None,
        tool_event: Annotated[
            ToolEventInput | None, Field(description="An MCP tool call (input/output) to scan.")
        ] = None,
        tr_id: Annotated[
            str | None,
            Field(max_length=MAX_ID_CHARS, description="Id correlating prompt and response."),
        ] = None,
        session_id: Annotated[
            str | None, Field(max_length=MAX_ID_CHARS, description="Session id.")
        ] = None,
        app_name: Annotated[str | None, Name(description="Calling AI application.")] = None,
        app_user: Annotated[str | None, Name(description="End user of the application.")] = None,
        ai_model: Annotated[str | None, Name(description="AI model in use.")] = None,
        ctx: Context | None = None,
    ) -> ScanSummary:
        """Scan a prompt and/or response synchronously with AIRS and return the verdict.

        Give at least one of prompt, response, code_prompt, code_response or tool_event (each
        text field at most 2 MiB). The result says what to do (action 'allow' or 'block'),
        which detections fired on each side, and masked text when sensitive data was found.
        """
        item = ScanItem(
            prompt=prompt,
            response=response,
            code_prompt=code_prompt,
            code_response=code_response,
            context=context,
            tool_event=tool_event,
            tr_id=tr_id,
            session_id=session_id,
            app_name=app_name,
            app_user=app_user,
            ai_model=ai_model,
        )
        return await run_logged(
            "pan_inline_scan",
            lambda: scan(lambda live, owner, charge: live.inline(item, owner, charge)),
            _summary_fields,
            metrics,
            ctx,
        )

    @server.tool(name="pan_batch_scan", title="AIRS batch (async) scan", annotations=READ_ONLY)
    async def pan_batch_scan(
        items: Annotated[
            list[ScanItem],
            Field(description="Things to scan, each shaped like pan_inline_scan's arguments."),
        ],
        ctx: Context | None = None,
    ) -> BatchScanResult:
        """Submit many scans to AIRS asynchronously (at most 1,000 items per call by default).

        Items are sent in requests of at most 5 items and 5 MB, several at a time. Returns one
        entry per input item, in input order: its req_id, scan_id and report_id, or its own
        error. Fetch verdicts later with pan_get_scan_results (scan ids) or
        pan_get_scan_reports (report ids).
        """
        return await run_logged(
            "pan_batch_scan",
            lambda: scan(lambda live, owner, charge: live.batch(items, owner, charge)),
            _batch_fields,
            metrics,
            ctx,
        )

    @server.tool(name="pan_get_scan_results", title="AIRS scan results", annotations=READ_ONLY)
    async def pan_get_scan_results(
        scan_ids: Annotated[
            list[Annotated[str, Field(max_length=MAX_ID_CHARS)]],
            Field(
                description="Scan ids as pan_inline_scan or pan_batch_scan returned them "
                "(the AIRS scan id, '.', a tag)."
            ),
        ],
        ctx: Context | None = None,
    ) -> ScanResultsOutput:
        """Look up scan results by scan id (duplicates are removed; queried 5 at a time).

        Returns entries in input order, one per scanned item (an async scan id covers every
        item of its request): status 'pending' or 'complete' (with the verdict), or
        'not_found'. Only the caller's own scans are found: an id handed to another caller
        reads as 'not_found'.
        """
        return await run_logged(
            "pan_get_scan_results",
            lambda: scan(lambda live, owner, charge: live.results(scan_ids, owner, charge)),
            lambda r: {
                "scan_ids": sorted({e.scan_id for e in r.results}),
                "entries": len(r.results),
            },
            metrics,
            ctx,
        )

    @server.tool(name="pan_get_scan_reports", title="AIRS threat reports", annotations=READ_ONLY)
    async def pan_get_scan_reports(
        report_ids: Annotated[
            list[Annotated[str, Field(max_length=MAX_ID_CHARS)]],
            Field(description="Report ids ('R' followed by the scan id)."),
        ],
        ctx: Context | None = None,
    ) -> ScanReportsOutput:
        """Fetch detailed threat reports by report id (duplicates removed; 5 per request).

        Returns entries in input order with each detection service's verdict, action and
        details, or status 'not_found' (also while the scan is still pending, and for another
        caller's scan).
        """
        return await run_logged(
            "pan_get_scan_reports",
            lambda: scan(lambda live, owner, charge: live.reports(report_ids, owner, charge)),
            lambda r: {
                "scan_ids": sorted({e.scan_id for e in r.reports if e.scan_id}),
                "entries": len(r.reports),
            },
            metrics,
            ctx,
        )
