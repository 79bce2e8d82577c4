"""One MCP session over Streamable HTTP with the ``mcp`` Python SDK's high-level ``Client``.

``python tests/e2e/clients/modern_session.py URL MODE PROMPT`` (the bearer token, if any, in
``$AIRS_MCP_TOKEN``). MODE is ``pin`` (the 2026-07-28 revision adopted outright, no probe),
``auto`` (probe with ``server/discover``, fall back to ``initialize``; the SDK's default) or
``legacy`` (the ``initialize`` handshake). The session lists the tools and calls
``pan_inline_scan`` on PROMPT. Prints one JSON object in the shape of
``tests/integration/server/node/modern_session.cjs``: ``era``, ``protocolVersion``, ``discover``,
``tools``, ``result``, ``exchanges`` (every HTTP request with its MCP headers and JSON-RPC
method, and the status and session header of its answer). The integration tests run it against
a local server, the e2e tests from the client namespace through the load balancer; they assert,
this script only gathers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

MODES = {"pin": "2026-07-28", "auto": "auto", "legacy": "legacy"}


def _rpc_method(request: httpx2.Request) -> str | None:
    try:
        body = json.loads(request.content) if request.content else None
    except ValueError:
        return "<not json>"
    return body.get("method") if isinstance(body, dict) else None


async def session(url: str, mode: str, prompt: str, token: str) -> dict[str, Any]:
    exchanges: list[dict[str, Any]] = []

    async def record(response: httpx2.Response) -> None:
        request = response.request
        exchanges.append(
            {
                "http": request.method,
                "rpc": _rpc_method(request),
                "protocolVersion": request.headers.get("mcp-protocol-version"),
                "mcpMethod": request.headers.get("mcp-method"),
                "mcpName": request.headers.get("mcp-name"),
                "sentSessionId": request.headers.get("mcp-session-id"),
                "status": response.status_code,
                "contentType": response.headers.get("content-type"),
                "sessionId": response.headers.get("mcp-session-id"),
            }
        )

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http:
        http.event_hooks["response"].append(record)
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=MODES[mode]) as client:
            tools = await client.list_tools()
            result = await client.call_tool("pan_inline_scan", {"prompt": prompt})
            discover = client.session.discover_result
            version = client.protocol_version
    return {
        "era": "modern" if version in MODERN_PROTOCOL_VERSIONS else "legacy",
        "protocolVersion": version,
        # the pinned mode adopts a discover result made up on the client: only a fetched one counts
        "discover": discover.model_dump(mode="json", by_alias=True, exclude_none=True)
        if discover is not None and any(e["rpc"] == "server/discover" for e in exchanges)
        else None,
        "tools": [tool.name for tool in tools.tools],
        "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        "exchanges": exchanges,
    }


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[2] not in MODES:
        print(f"usage: {sys.argv[0]} URL {'|'.join(MODES)} PROMPT", file=sys.stderr)
        return 2
    url, mode, prompt = sys.argv[1:]
    report = asyncio.run(session(url, mode, prompt, os.environ.get("AIRS_MCP_TOKEN", "")))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
