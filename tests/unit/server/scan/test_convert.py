"""Scan items turned into SDK requests, and SDK results reduced to the tools' flat models."""

from __future__ import annotations

import json

from airs_mcp.scan import convert, validation
from airs_mcp.scan.models import ScanItem, ToolEventInput
from aisecurity.generated_openapi_client import AiProfile, ScanResponse


def test_tool_event_alone_is_scannable_and_converted() -> None:
    event = ToolEventInput(server_name="files", tool_invoked="read", input='{"p": "/etc"}')
    item = validation.check_item(ScanItem(tool_event=event))
    obj = convert.async_object(3, item, AiProfile(profile_name="p"))
    body = obj.to_dict()
    assert body["req_id"] == 3
    inner = body["scan_req"]["contents"][0]["tool_event"]
    assert inner["metadata"] == {
        "ecosystem": "mcp",
        "method": "tools/call",
        "server_name": "files",
        "tool_invoked": "read",
    }
    assert inner["input"] == '{"p": "/etc"}'
    assert convert.wire_size(obj) == len(json.dumps(body))


def test_summary_lists_fired_detections_and_masked_data() -> None:
    response = ScanResponse.from_dict(
        {
            "report_id": "Rabc",
            "scan_id": "abc",
            "category": "malicious",
            "action": "block",
            "timeout": False,
            "error": True,
            "errors": [{"content_type": "prompt", "feature": "dlp", "status": "timeout"}],
            "prompt_detected": {"injection": True, "dlp": False, "url_cats": True},
            "response_detected": {"dlp": True},
            "response_masked_data": {
                "data": "XXXX",
                "pattern_detections": [{"pattern": "Credit Card Number", "locations": [[0, 4]]}],
            },
        }
    )
    summary = convert.summary(response)
    assert summary.action == "block"
    assert summary.prompt_detected == ["url_cats", "injection"]
    assert summary.response_detected == ["dlp"]
    assert summary.response_masked_data is not None
    assert summary.response_masked_data.patterns == ["Credit Card Number"]
    assert summary.prompt_masked_data is None
    assert summary.errors == ["prompt/dlp: timeout"]
