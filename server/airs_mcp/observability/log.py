"""Structured JSON logging: one line per record, and one ``tool_call`` line per tool call.

Tool-call lines carry the tool name, duration, outcome, verdict and ids, never prompt text and
never the API key. The PANW SDK's own loggers are held at CRITICAL: at DEBUG they print part of
the key and on errors they print AIRS response bodies.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from airs_mcp.observability.log_filter import ContentFilter

CALL_LOGGER = "airs_mcp.calls"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContentFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aisecurity").setLevel(logging.CRITICAL)
    # The MCP SDK logs tool failures (argument validation echoes input values) at INFO.
    logging.getLogger("mcp").setLevel(max(root.level, logging.WARNING))
    # httpx logs every request URL at INFO; a forwarded POST's URL carries its session id.
    # sse_starlette logs every event it sends (tool results, the session's URL) at DEBUG.
    for name in ("httpx", "httpcore", "sse_starlette"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def tool_call(tool: str, duration_ms: float, outcome: str, **fields: Any) -> None:
    """Emit the one log line of a tool call. ``fields`` must not contain content or secrets."""
    logging.getLogger(CALL_LOGGER).info(
        "tool_call",
        extra={"tool": tool, "duration_ms": round(duration_ms, 2), "outcome": outcome, **fields},
    )
