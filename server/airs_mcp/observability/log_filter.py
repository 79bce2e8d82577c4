"""``ContentFilter``: keeps content, credentials and session ids out of every log line.

Installed on the log handler, so it sees the records of every library, at every level:

- A traceback keeps its frames but loses its exception text (``exc_type`` stays): a pydantic
  ``ValidationError`` quotes the input it rejected (``input_value=...``), e.g. prompt text.
- Messages of other libraries are formatted once and scrubbed: bearer tokens, ``session_id`` and
  ``owner`` query values, bare session ids (UUIDs, dashed or not) become a short hash or
  ``[redacted]``, and a pydantic ``input_value=...`` excerpt is cut.

The server's own records (``airs_mcp.*``) carry fixed messages and content-free fields only; the
filter still strips their tracebacks' exception text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback

__all__ = ["ContentFilter", "scrub"]

OWN_PREFIX = "airs_mcp"
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s,;\"']+")
_QUERY = re.compile(r"(?i)\b(session_id|owner)=[^&\s\"']*")
_UUID = re.compile(r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
_INPUT_VALUE = re.compile(r"input_value=.*?(?=, input_type=|\]|$)", re.DOTALL)


def _tag(value: str) -> str:
    return hashlib.sha256(value.replace("-", "").lower().encode()).hexdigest()[:12]


def scrub(text: str) -> str:
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = _QUERY.sub(lambda m: f"{m.group(1)}=#{_tag(m.group(0).split('=', 1)[1])}", text)
    text = _UUID.sub(lambda m: f"#{_tag(m.group(0))}", text)
    return _INPUT_VALUE.sub("input_value=[redacted]", text)


class ContentFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            record.__dict__["exc_type"] = kind.__name__
            frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
            record.__dict__["traceback"] = frames + f"{kind.__module__}.{kind.__qualname__}"
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            record.stack_info = None
        if not record.name.startswith(OWN_PREFIX):
            record.msg = scrub(record.getMessage())
            record.args = None
        return True
