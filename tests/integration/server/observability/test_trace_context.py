"""One tool call followed from Traefik's access log to the server log line that ran it: the
``TraceId`` Traefik gives the message POST is the ``trace_id`` of the call's ``tool_call`` line,
also when the POST reached a replica that forwarded it to the session's owner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.mcp_client import open_session
from harness.mcp_server import McpServerHandle
from harness.traefik import TRACE_HEADER, run_traefik
from tests.fixtures.traefik import start_routed_replicas

pytestmark = pytest.mark.integration

SESSIONS = 8


async def test_every_call_carries_the_trace_id_of_its_post(
    start_mcp_server: Callable[..., McpServerHandle], tmp_path: Path
) -> None:
    replicas = start_routed_replicas(start_mcp_server)
    backends = [replica.url for replica in replicas]
    with run_traefik(backends, sticky=False, directory=tmp_path / "traefik") as proxy:
        for index in range(SESSIONS):
            tag = {TRACE_HEADER: f"trace-{index}"}
            async with open_session("sse", proxy.url, headers=tag) as session:
                answer = await session.call_tool("pan_inline_scan", {"prompt": f"call {index}"})
                assert not answer.is_error
        entries = proxy.access_entries()
    posted = {
        entry["TraceId"]: entry
        for entry in entries
        if entry.get("RequestMethod") == "POST" and entry.get("TraceId")
    }
    calls = [
        line
        for replica in replicas
        for line in replica.log_lines()
        if line.get("msg") == "tool_call" and line.get("tool") == "pan_inline_scan"
    ]
    assert len(calls) == SESSIONS, calls
    traced = [line.get("trace_id") for line in calls]
    assert all(traced), calls
    assert len(set(traced)) == SESSIONS  # one trace per request, not per session
    assert set(traced) <= set(posted), (traced, sorted(posted))
    # The call's trace names the POST of its own session (the tag header Traefik kept).
    tags = {posted[trace]["request_" + TRACE_HEADER] for trace in traced}
    assert tags == {f"trace-{index}" for index in range(SESSIONS)}
    # Some POSTs reached a replica other than the stream's (round robin): the owner still logged
    # the POST's trace id, so forwarding kept the traceparent.
    forwarded = [
        line
        for replica in replicas
        for line in replica.log_lines()
        if line.get("msg") == "session_forward" and line.get("outcome") == "forwarded"
    ]
    assert forwarded, "no POST was forwarded: the forwarding path was not exercised"
