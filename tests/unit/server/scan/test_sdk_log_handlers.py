"""Scans must not grow the SDK's logger handler list (pan-aisecurity adds one per object)."""

from __future__ import annotations

import logging

from airs_mcp.config import Settings
from airs_mcp.scan.airs_client import AirsClient, bound_sdk_log_handlers
from aisecurity.scan.models.content import Content

CONTENT_LOGGER = logging.getLogger("aisecurity.scan.models.content")


def _null_handlers() -> int:
    return sum(type(h) is logging.NullHandler for h in CONTENT_LOGGER.handlers)


def test_contents_add_at_most_one_handler() -> None:
    bound_sdk_log_handlers()
    for _ in range(50):
        Content(prompt="hello")
    assert _null_handlers() == 1
    content = Content(prompt="hello")
    assert content.logger is CONTENT_LOGGER  # the SDK's own attribute still works
    bound_sdk_log_handlers()  # idempotent
    assert _null_handlers() == 1


def test_client_start_trims_handlers_already_added() -> None:
    CONTENT_LOGGER.addHandler(logging.NullHandler())
    CONTENT_LOGGER.addHandler(logging.NullHandler())
    client = AirsClient(Settings(api_key="k", profile_name="p"))
    client.start()
    assert _null_handlers() == 1
    for _ in range(20):
        Content(prompt="hello")
    assert _null_handlers() == 1
