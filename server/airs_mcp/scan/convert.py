"""Conversions between the tools' models and the PANW SDK's objects."""

from __future__ import annotations

import json
from typing import Any

from aisecurity.generated_openapi_client.models.ai_profile import AiProfile
from aisecurity.generated_openapi_client.models.async_scan_object import AsyncScanObject
from aisecurity.generated_openapi_client.models.metadata import Metadata
from aisecurity.generated_openapi_client.models.scan_id_result import ScanIdResult
from aisecurity.generated_openapi_client.models.scan_request import ScanRequest
from aisecurity.generated_openapi_client.models.scan_request_contents_inner import (
    ScanRequestContentsInner,
)
from aisecurity.generated_openapi_client.models.scan_response import ScanResponse
from aisecurity.generated_openapi_client.models.threat_scan_report_object import (
    ThreatScanReportObject,
)
from aisecurity.generated_openapi_client.models.tool_event import ToolEvent
from aisecurity.generated_openapi_client.models.tool_event_metadata import ToolEventMetadata
from aisecurity.scan.models.content import Content

from airs_mcp.scan.models import (
    Detection,
    MaskedText,
    ReportEntry,
    ScanItem,
    ScanResultEntry,
    ScanSummary,
    ToolEventInput,
)


def tool_event(event: ToolEventInput | None) -> ToolEvent | None:
    if event is None:
        return None
    return ToolEvent(
        metadata=ToolEventMetadata(
            ecosystem=event.ecosystem,
            method=event.method,
            server_name=event.server_name,
            tool_invoked=event.tool_invoked,
        ),
        input=event.input,
        output=event.output,
    )


def metadata(item: ScanItem) -> Metadata | None:
    if not (item.app_name or item.app_user or item.ai_model):
        return None
    return Metadata(app_name=item.app_name, app_user=item.app_user, ai_model=item.ai_model)


def _content_fields(item: ScanItem) -> dict[str, Any]:
    """The scannable fields of an item, as both the SDK's ``Content`` and a request's
    contents element name them."""
    return {
        "prompt": item.prompt,
        "response": item.response,
        "context": item.context,
        "code_prompt": item.code_prompt,
        "code_response": item.code_response,
        "tool_event": tool_event(item.tool_event),
    }


def content(item: ScanItem) -> Content:
    return Content(**_content_fields(item))


def scan_request(item: ScanItem, profile: AiProfile) -> ScanRequest:
    return ScanRequest(
        tr_id=item.tr_id,
        session_id=item.session_id,
        ai_profile=profile,
        metadata=metadata(item),
        contents=[ScanRequestContentsInner(**_content_fields(item))],
    )


def async_object(req_id: int, item: ScanItem, profile: AiProfile) -> AsyncScanObject:
    return AsyncScanObject(req_id=req_id, scan_req=scan_request(item, profile))


def wire_size(obj: AsyncScanObject | ScanRequest) -> int:
    """Bytes the object takes in the SDK's JSON body (``json.dumps`` escapes non-ASCII)."""
    return len(json.dumps(obj.to_dict()).encode("utf-8"))


def _flags(detected: Any) -> list[str]:
    if detected is None:
        return []
    return [name for name, value in detected.model_dump().items() if value is True]


def _masked(masked: Any) -> MaskedText | None:
    if masked is None:
        return None
    patterns = [p.pattern for p in (masked.pattern_detections or []) if p.pattern]
    return MaskedText(data=masked.data, patterns=patterns)


def _error_text(err: Any) -> str:
    def value(v: Any) -> str:
        return str(getattr(v, "value", v)) if v is not None else "?"

    return f"{value(err.content_type)}/{value(err.feature)}: {value(err.status)}"


def summary(resp: ScanResponse) -> ScanSummary:
    return ScanSummary(
        scan_id=resp.scan_id,
        report_id=resp.report_id,
        category=resp.category,
        action=resp.action,
        tr_id=resp.tr_id,
        session_id=resp.session_id,
        prompt_detected=_flags(resp.prompt_detected),
        response_detected=_flags(resp.response_detected),
        prompt_masked_data=_masked(resp.prompt_masked_data),
        response_masked_data=_masked(resp.response_masked_data),
        timeout=resp.timeout,
        error=resp.error,
        errors=[_error_text(e) for e in resp.errors or []],
    )


def result_entry(entry: ScanIdResult) -> ScanResultEntry:
    complete = entry.status == "complete" and entry.result is not None
    return ScanResultEntry(
        scan_id=entry.scan_id or "",
        req_id=entry.req_id,
        status="complete" if complete else "pending",
        result=summary(entry.result) if complete and entry.result else None,
    )


def report_entry(report: ThreatScanReportObject) -> ReportEntry:
    detections = []
    for result in report.detection_results or []:
        detail = result.result_detail.to_dict() if result.result_detail else None
        detections.append(
            Detection(
                data_type=result.data_type,
                detection_service=result.detection_service,
                verdict=result.verdict,
                action=result.action,
                details=detail or None,
            )
        )
    return ReportEntry(
        report_id=report.report_id or "",
        scan_id=report.scan_id,
        req_id=report.req_id,
        status="found",
        detections=detections,
    )
