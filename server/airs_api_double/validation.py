"""Request checks that mirror the AIRS API's documented limits (400/413 with a message)."""

from __future__ import annotations

import uuid
from typing import Any

MAX_TEXT_FIELD = 2 * 1024 * 1024
MAX_CONTEXT_FIELD = 100 * 1024 * 1024
MAX_SYNC_PAYLOAD = 2 * 1000 * 1000
MAX_ASYNC_PAYLOAD = 5 * 1000 * 1000
MAX_ASYNC_OBJECTS = 5
MAX_IDS_PER_QUERY = 5
MAX_PROFILE_NAME = 100
MAX_URLS = 100
TEXT_FIELDS = ("prompt", "response", "code_prompt", "code_response")
CONTENT_FIELDS = (*TEXT_FIELDS, "context", "tool_event")


class RequestError(Exception):
    """A request the API would refuse: ``status`` and a short message for the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_profile(profile: Any) -> None:
    if not isinstance(profile, dict):
        raise RequestError(400, "ai_profile is required")
    name, pid = profile.get("profile_name"), profile.get("profile_id")
    if not name and not pid:
        raise RequestError(400, "ai_profile needs profile_name or profile_id")
    if pid is not None and not is_uuid(pid):
        raise RequestError(400, "ai_profile.profile_id must be a UUID")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_PROFILE_NAME):
        raise RequestError(
            400, f"ai_profile.profile_name must be a string of <= {MAX_PROFILE_NAME}"
        )


def check_content_item(item: Any) -> None:
    if not isinstance(item, dict):
        raise RequestError(400, "each contents element must be an object")
    present = False
    for key in (*TEXT_FIELDS, "context"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RequestError(400, f"contents.{key} must be a string")
        if value == "":
            raise RequestError(400, f"contents.{key} must not be empty")
        limit = MAX_CONTEXT_FIELD if key == "context" else MAX_TEXT_FIELD
        if len(value.encode("utf-8")) > limit:
            raise RequestError(413, f"contents.{key} exceeds {limit} bytes")
        present = present or key != "context"
    tool_event = item.get("tool_event")
    if tool_event is not None:
        if not isinstance(tool_event, dict):
            raise RequestError(400, "contents.tool_event must be an object")
        present = True
    if not present:
        raise RequestError(400, "contents element has no content to scan")


def check_scan_request(req: Any) -> dict[str, Any]:
    """Validate a ScanRequest object and return its last (scanned) content item."""
    if not isinstance(req, dict):
        raise RequestError(400, "scan request must be a JSON object")
    check_profile(req.get("ai_profile"))
    contents = req.get("contents")
    if not isinstance(contents, list) or not contents:
        raise RequestError(400, "contents must be a non-empty array")
    for item in contents:
        check_content_item(item)
    for key in ("tr_id", "session_id", "transaction_id"):
        value = req.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 100):
            raise RequestError(400, f"{key} must be a string of <= 100 characters")
    last = contents[-1]
    assert isinstance(last, dict)  # check_content_item refused anything else
    return last


def parse_ids(raw: str | None, name: str, *, report: bool) -> list[str]:
    if not raw:
        raise RequestError(400, f"{name} query parameter is required")
    ids = raw.split(",")
    if len(ids) > MAX_IDS_PER_QUERY:
        raise RequestError(400, f"at most {MAX_IDS_PER_QUERY} {name} per request")
    for value in ids:
        bare = value[1:] if report and value[:1] == "R" else value
        if (report and value[:1] != "R") or not is_uuid(bare):
            raise RequestError(400, f"invalid id in {name}")
    return ids
