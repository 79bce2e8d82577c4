"""``observability.trace_context``: the trace id of a W3C traceparent header, or nothing."""

from __future__ import annotations

import pytest
from airs_mcp.observability.trace_context import request_trace_id, trace_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "value",
    [
        f"00-{TRACE}-00f067aa0ba902b7-01",
        f"00-{TRACE}-00f067aa0ba902b7-00",  # not sampled (Traefik at sample rate 0)
        f"  00-{TRACE.upper()}-00F067AA0BA902B7-01 ",
    ],
)
def test_trace_id_of_a_valid_traceparent(value: str) -> None:
    assert trace_id(value) == TRACE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"00-{TRACE}-00f067aa0ba902b7",  # no flags
        f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",  # short trace id
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # the invalid all-zero id
        f"00-{TRACE}-00f067aa0ba902b7-01; drop table",  # anything after it
        "zz-" + TRACE + "-00f067aa0ba902b7-01",
    ],
)
def test_no_trace_id_from_a_missing_or_malformed_traceparent(value: str | None) -> None:
    assert trace_id(value) is None


def test_request_trace_id_reads_the_header_case_insensitively() -> None:
    from starlette.requests import Request

    scope = {
        "type": "http",
        "headers": [(b"traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())],
    }
    assert request_trace_id(Request(scope)) == TRACE
    assert request_trace_id(Request({"type": "http", "headers": []})) is None
    assert request_trace_id(object()) is None
