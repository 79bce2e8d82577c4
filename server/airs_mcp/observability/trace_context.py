"""The trace id of the HTTP request that carried a tool call (W3C ``traceparent``).

Traefik (with tracing on, even at sample rate 0) gives every request a trace id: it writes it
into its access log as ``TraceId`` and sends it on in the ``traceparent`` header. The server
puts the same id into the call's ``tool_call`` log line as ``trace_id``, so one call can be
followed from the access log to the pod that ran it. A client's own ``traceparent`` works the
same way without Traefik.
"""

from __future__ import annotations

import re
from typing import Any

# version "00", 32 hex trace id, 16 hex parent id, 2 hex flags (W3C Trace Context, level 1)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_INVALID_TRACE_ID = "0" * 32


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a ``traceparent`` value, or None when it is absent or malformed."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or match.group(1) == _INVALID_TRACE_ID:
        return None
    return match.group(1)


def request_trace_id(request: Any) -> str | None:
    """The trace id of a Starlette request (the one an MCP transport hands to a tool call)."""
    headers = getattr(request, "headers", None)
    return trace_id(headers.get("traceparent")) if headers is not None else None
