"""Checks of the tools' input before any AIRS call.

Each check raises ``InputProblem`` (shown to the caller as an MCP tool error) or returns the
problem as text, so a batch can keep one item's error without failing the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from airs_mcp.scan import owned_ids
from airs_mcp.scan.batching import MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES, dedupe
from airs_mcp.scan.models import ScanItem

MAX_FIELD_BYTES = 2 * 1024 * 1024
MAX_CONTEXT_BYTES = 2 * 1024 * 1024  # the whole request body is at most 4 MiB
TEXT_FIELDS = ("prompt", "response", "code_prompt", "code_response")


class InputProblem(ValueError):
    """The caller's input cannot be scanned; the message says why."""


# --- scan items -----------------------------------------------------------------------------


def field_problems(fields: dict[str, str | None]) -> list[str]:
    """Size problems of scannable text fields (limits in UTF-8 bytes)."""
    problems = []
    for name, value in fields.items():
        if value is None:
            continue
        limit = MAX_CONTEXT_BYTES if name == "context" else MAX_FIELD_BYTES
        size = len(value.encode("utf-8"))
        if size > limit:
            problems.append(f"{name} is {size} bytes, over the AIRS limit of {limit} bytes")
    return problems


def _clean(value: str | None) -> str | None:
    return value if value else None


def check_item(item: ScanItem) -> ScanItem:
    """Empty strings count as absent; raise ``InputProblem`` if nothing is scannable or a
    field is over its size limit."""
    cleaned = item.model_copy(
        update={name: _clean(getattr(item, name)) for name in (*TEXT_FIELDS, "context")}
    )
    if not any(getattr(cleaned, name) for name in TEXT_FIELDS) and cleaned.tool_event is None:
        raise InputProblem(
            "nothing to scan: give at least one of prompt, response, code_prompt, "
            "code_response or tool_event"
        )
    problems = field_problems({n: getattr(cleaned, n) for n in (*TEXT_FIELDS, "context")})
    if problems:
        raise InputProblem("; ".join(problems))
    return cleaned


def check_inline_size(size: int) -> None:
    """An inline scan's request body (``size`` bytes of JSON) must fit AIRS's sync limit."""
    if size > MAX_SYNC_PAYLOAD_BYTES:
        raise InputProblem(
            f"the request would be {size} bytes, over the AIRS limit of "
            f"{MAX_SYNC_PAYLOAD_BYTES} bytes for one inline scan; "
            "send prompt and response in separate calls or use pan_batch_scan"
        )


def oversized_batch_item(size: int) -> str:
    """The error of a batch item too large for any async request (it fails alone)."""
    return (
        f"item is {size} bytes as JSON, over the AIRS limit of "
        f"{MAX_ASYNC_PAYLOAD_BYTES} bytes for one async request"
    )


# --- lists and ids --------------------------------------------------------------------------


def check_count(count: int, what: str, limit: int) -> None:
    """A list argument named ``what`` must hold 1 to ``limit`` entries."""
    if count == 0:
        raise InputProblem(f"{what} is empty")
    if count > limit:
        raise InputProblem(
            f"{what} has {count} entries; at most {limit} are accepted per call: split the list"
        )


def bad_ids(values: Sequence[str], *, report: bool) -> list[str]:
    check = owned_ids.is_owned_report_id if report else owned_ids.is_owned_scan_id
    return [v for v in values if not check(v)]


def query_ids(values: Sequence[str], *, report: bool, limit: int) -> list[str]:
    """Scan ids (``report``: report ids) as the tools hand them out, to look up: trimmed, the
    AIRS id in them lower-cased, each once in input order; ``InputProblem`` naming every
    malformed id (a bare AIRS id is one: the tools never hand those out)."""
    what = "report_ids" if report else "scan_ids"
    check_count(len(values), what, limit)
    stripped = [v.strip() for v in values]
    bad = bad_ids(stripped, report=report)
    if bad:
        shape = "'R' followed by a scan id" if report else "a UUID, '.' and a 22-character tag"
        listed = ", ".join(repr(b) for b in dedupe(bad))
        raise InputProblem(
            f"invalid {what} (each must be an id returned by pan_inline_scan or pan_batch_scan: "
            f"{shape}): {listed}"
        )
    # The tag is case-sensitive; the AIRS id is not, so differently-cased copies share a query.
    start = 1 if report else 0
    end = start + 36
    normal = [v[:start] + v[start:end].lower() + v[end:] for v in stripped]
    return dedupe(normal)
