"""The clients a benchmark times: ``mcp`` 2.x sessions and the direct SDK.

``mcp_session(stack, transport, base_url, validate=False)`` opens a session (``harness.mcp_client``)
with the client's output-schema check skipped (``NoValidationSession``, the baseline of the
figures) unless ``validate``; ``inline_call(session)`` is one ``pan_inline_scan`` of ``PROMPT``
that must come back ``allow``. ``Direct`` is the direct SDK: one asyncio ``Scanner``.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from typing import Any

from mcp.client.session import ClientSession

from bench.servers import LeanDouble
from bench.timing import Call
from harness.mcp_client import open_session
from harness.mcp_server import PROFILE_NAME

PROMPT = "What is the capital of France?"


class NoValidationSession(ClientSession):
    """The 2.x client with its output-schema check skipped (the issue's 'validation off')."""

    async def validate_tool_result(self, name: str, result: Any) -> None:
        return None


async def mcp_session(
    stack: AsyncExitStack, transport: str, base_url: str, *, validate: bool = False
) -> ClientSession:
    session_class = ClientSession if validate else NoValidationSession
    session = await stack.enter_async_context(
        open_session(transport, base_url, session_class=session_class)
    )
    if validate:
        await session.list_tools()  # fills the client's output-schema cache
    return session


def inline_call(session: ClientSession) -> Call:
    async def call() -> None:
        result = await session.call_tool("pan_inline_scan", {"prompt": PROMPT})
        if result.is_error or result.structured_content["action"] != "allow":
            raise RuntimeError(f"unexpected result {result}")

    return call


class Direct:
    """The direct SDK: one asyncio ``Scanner``, as the server holds one."""

    def __init__(self, double: LeanDouble, stack: AsyncExitStack) -> None:
        os.environ["SSL_CERT_FILE"] = str(double.ca)  # the SDK reads it at session creation
        import aisecurity
        from aisecurity.generated_openapi_client import AiProfile
        from aisecurity.scan.asyncio.scanner import Scanner
        from aisecurity.scan.models.content import Content

        aisecurity.init(api_key="bench-placeholder-key", api_endpoint=double.url)
        self.scanner = Scanner()
        stack.push_async_callback(self.scanner.close)
        self.profile = AiProfile(profile_name=PROFILE_NAME)
        self.content = Content

    async def call(self) -> None:
        response = await self.scanner.sync_scan(
            ai_profile=self.profile, content=self.content(prompt=PROMPT)
        )
        if response.action != "allow":
            raise RuntimeError(f"unexpected action {response.action}")
