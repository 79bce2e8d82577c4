"""JSON bodies in the shapes the AIRS API returns (ScanResponse, threat report, results entry)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airs_api_double.verdicts import SideVerdict, Verdict

SOURCE = "AI-Runtime-API"

# detection flag -> (report service name, result_detail key)
SERVICES = {
    "url_cats": ("urlf", "urlf_report"),
    "dlp": ("dlp", "dlp_report"),
    "injection": ("pi", "pi_report"),
    "toxic_content": ("tc", "tc_report"),
    "malicious_code": ("mc", "mc_report"),
}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def scan_response(
    scan_id: str, verdict: Verdict, request: dict[str, Any], *, completed: bool = True
) -> dict[str, Any]:
    """A complete ScanResponse (all fields the SDK requires, plus the optional ones we know)."""
    profile = request.get("ai_profile") or {}
    body: dict[str, Any] = {
        "source": SOURCE,
        "report_id": "R" + scan_id,
        "scan_id": scan_id,
        "category": "malicious" if verdict.malicious else "benign",
        "action": "block" if verdict.malicious else "allow",
        "timeout": False,
        "error": False,
        "errors": [],
        "created_at": now_iso(),
    }
    if completed:
        body["completed_at"] = now_iso()
    for key in ("tr_id", "session_id", "transaction_id"):
        if request.get(key) is not None:
            body[key] = request[key]
    if profile.get("profile_id"):
        body["profile_id"] = profile["profile_id"]
    if profile.get("profile_name"):
        body["profile_name"] = profile["profile_name"]
    if verdict.has_prompt:
        body["prompt_detected"] = dict(verdict.prompt.flags)
        if verdict.prompt.masked:
            body["prompt_masked_data"] = verdict.prompt.masked
    if verdict.has_response:
        body["response_detected"] = dict(verdict.response.flags)
        if verdict.response.masked:
            body["response_masked_data"] = verdict.response.masked
    return body


def _detail(flag: str, side: SideVerdict) -> dict[str, Any]:
    if flag == "url_cats":
        return {
            "urlf_report": [
                {"url": u, "risk_level": "high", "action": "block", "categories": ["malware"]}
                for u in side.bad_urls
            ]
        }
    if flag == "dlp":
        return {"dlp_report": {"dlp_profile_name": "Sensitive Content", "dlp_report_id": "double"}}
    if flag == "injection":
        return {"pi_report": {"verdict": "malicious"}}
    if flag == "toxic_content":
        return {
            "tc_report": {
                "confidence": "high",
                "verdict": "malicious",
                "toxic_categories": ["violence"],
            }
        }
    return {"mc_report": {"verdict": "malicious", "all_code_blocks": []}}


def _side_results(data_type: str, side: SideVerdict) -> list[dict[str, Any]]:
    results = []
    for flag, (service, _key) in SERVICES.items():
        if flag not in side.flags:
            continue
        hit = side.flags[flag]
        results.append(
            {
                "data_type": data_type,
                "detection_service": service,
                "verdict": "malicious" if hit else "benign",
                "action": "block" if hit else "allow",
                "result_detail": _detail(flag, side) if hit else {},
            }
        )
    return results


def threat_report(
    scan_id: str, req_id: int, verdict: Verdict, request: dict[str, Any]
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "source": SOURCE,
        "report_id": "R" + scan_id,
        "scan_id": scan_id,
        "req_id": req_id,
        "detection_results": [],
    }
    for key in ("transaction_id", "session_id"):
        if request.get(key) is not None:
            report[key] = request[key]
    if verdict.has_prompt:
        report["detection_results"] += _side_results("prompt", verdict.prompt)
    if verdict.has_response:
        report["detection_results"] += _side_results("response", verdict.response)
    return report
