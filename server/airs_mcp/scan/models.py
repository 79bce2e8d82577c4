"""Pydantic models for tool inputs and the small, flat results the tools return.

The four tool results (``ScanSummary``, ``BatchScanResult``, ``ScanResultsOutput``,
``ScanReportsOutput``) are ``FlatSchemaModel``s: their published output schemas inline the
models they nest (no ``$defs``/``$ref``), see ``airs_mcp.scan.result_schema``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from airs_mcp.scan.result_schema import FlatSchemaModel

# Length caps in characters, published in the tool schemas (maxLength). Scannable text is also
# held to 2 MiB of UTF-8 (validation.MAX_FIELD_BYTES); every request body to
# AIRS_MCP_MAX_BODY_BYTES.
MAX_TEXT_CHARS = 2 * 1024 * 1024
# Scannable text: published as maxLength, enforced as 2 MiB of UTF-8 by validation.check_item (so
# the error names the field and its size in bytes).
TEXT_SCHEMA: dict[str, JsonValue] = {"maxLength": MAX_TEXT_CHARS}
MAX_ID_CHARS = 100  # tr_id, session_id, scan and report ids
MAX_NAME_CHARS = 256  # app_name, app_user, ai_model, server and tool names
MAX_TAG_CHARS = 64  # ecosystem, method


class ToolEventInput(BaseModel):
    """An MCP tool call to scan: who was called and the raw JSON input/output strings."""

    model_config = ConfigDict(extra="forbid")

    ecosystem: str = Field(
        default="mcp", max_length=MAX_TAG_CHARS, description="Tool ecosystem or protocol."
    )
    method: str = Field(
        default="tools/call", max_length=MAX_TAG_CHARS, description="Method of the tool event."
    )
    server_name: str = Field(
        max_length=MAX_NAME_CHARS, description="Name of the MCP server that owns the tool."
    )
    tool_invoked: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="Name of the tool called."
    )
    input: str | None = Field(
        default=None, max_length=MAX_TEXT_CHARS, description="Raw JSON string sent to the tool."
    )
    output: str | None = Field(
        default=None, max_length=MAX_TEXT_CHARS, description="Raw JSON string the tool returned."
    )


class ScanItem(BaseModel):
    """One thing to scan. At least one of prompt, response, code_prompt, code_response or
    tool_event is required; each text field is limited to 2 MiB (UTF-8)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(
        default=None, json_schema_extra=TEXT_SCHEMA, description="User prompt text to scan."
    )
    response: str | None = Field(
        default=None, json_schema_extra=TEXT_SCHEMA, description="Model response text to scan."
    )
    code_prompt: str | None = Field(
        default=None, json_schema_extra=TEXT_SCHEMA, description="Code sent to the model."
    )
    code_response: str | None = Field(
        default=None, json_schema_extra=TEXT_SCHEMA, description="Code the model produced."
    )
    context: str | None = Field(
        default=None,
        json_schema_extra=TEXT_SCHEMA,
        description="Grounding context (not scanned itself; up to 2 MiB).",
    )
    tool_event: ToolEventInput | None = Field(default=None, description="A tool call to scan.")
    tr_id: str | None = Field(
        default=None, max_length=MAX_ID_CHARS, description="Your id to correlate prompt/response."
    )
    session_id: str | None = Field(default=None, max_length=MAX_ID_CHARS, description="Session id.")
    app_name: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="Calling AI application."
    )
    app_user: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="End user of the application."
    )
    ai_model: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, description="AI model serving the application."
    )


class MaskedText(BaseModel):
    data: str | None = Field(default=None, description="The text with sensitive data masked.")
    patterns: list[str] = Field(default_factory=list, description="Data patterns that matched.")


class ScanSummary(FlatSchemaModel):
    """A scan verdict. ``action`` is what to do with the content: 'allow' or 'block'."""

    scan_id: str = Field(
        description="Id for pan_get_scan_results: the AIRS scan id, '.', a tag binding it to you."
    )
    report_id: str = Field(description="Id for pan_get_scan_reports ('R' + scan_id).")
    category: str = Field(description="'benign' or 'malicious'.")
    action: str = Field(description="'allow' or 'block'.")
    tr_id: str | None = None
    session_id: str | None = None
    prompt_detected: list[str] = Field(
        default_factory=list, description="Detections that fired on the prompt side."
    )
    response_detected: list[str] = Field(
        default_factory=list, description="Detections that fired on the response side."
    )
    prompt_masked_data: MaskedText | None = None
    response_masked_data: MaskedText | None = None
    timeout: bool = Field(default=False, description="A detection service timed out.")
    error: bool = Field(default=False, description="A detection service failed.")
    errors: list[str] = Field(
        default_factory=list, description="Failed detections as 'content_type/feature: status'."
    )


class BatchItemResult(BaseModel):
    index: int = Field(description="Position of the item in the input list (0-based).")
    req_id: int | None = Field(default=None, description="req_id sent to AIRS for this item.")
    scan_id: str | None = Field(default=None, description="Async scan id holding this item.")
    report_id: str | None = None
    error: str | None = Field(default=None, description="Why this item was not submitted.")


class BatchScanResult(FlatSchemaModel):
    items: list[BatchItemResult] = Field(description="One entry per input item, in input order.")
    submitted: int = Field(description="Items accepted by AIRS.")
    failed: int = Field(description="Items with an error.")
    requests: int = Field(description="Async scan requests sent.")


class ScanResultEntry(BaseModel):
    scan_id: str
    req_id: int | None = None
    status: Literal["pending", "complete", "not_found", "error"]
    result: ScanSummary | None = Field(default=None, description="Present when complete.")
    error: str | None = None


class ScanResultsOutput(FlatSchemaModel):
    results: list[ScanResultEntry] = Field(description="Entries in the order of the input ids.")


class Detection(BaseModel):
    data_type: str | None = Field(default=None, description="'prompt' or 'response'.")
    detection_service: str | None = None
    verdict: str | None = None
    action: str | None = None
    details: dict[str, Any] | None = Field(default=None, description="Service-specific report.")


class ReportEntry(BaseModel):
    report_id: str
    scan_id: str | None = None
    req_id: int | None = None
    status: Literal["found", "not_found", "error"]
    detections: list[Detection] = Field(default_factory=list)
    error: str | None = None


class ScanReportsOutput(FlatSchemaModel):
    reports: list[ReportEntry] = Field(description="Entries in the order of the input ids.")
