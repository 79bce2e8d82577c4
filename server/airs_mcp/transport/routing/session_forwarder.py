"""Sends one SSE message POST on to the replica that holds its session, over pooled HTTP.

One ``httpx.AsyncClient`` per process, opened and closed by the application's lifespan. The
connect timeout is short: a peer that is gone (pod deleted, connection refused or no answer)
must turn into the SDK's usual 404 at once, not a hanging client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from airs_mcp.transport.routing.owner_token import OwnerAddress

__all__ = [
    "CONNECT_TIMEOUT_S",
    "FORWARDED_HEADER",
    "ForwardFailed",
    "OwnerUnreachable",
    "Relayed",
    "SessionForwarder",
]

FORWARDED_HEADER = "x-airs-mcp-forwarded"
CONNECT_TIMEOUT_S = 1.0
# The owner answers a message POST before handling it (202), so this only bounds a stuck peer.
RESPONSE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 10.0
# Request headers the owner needs to treat the POST as if it had come to it directly: the same
# Host/Origin checks, the same content type, the same credential.
REQUEST_HEADERS = ("content-type", "authorization", "host", "origin", "traceparent")
RESPONSE_HEADERS = ("content-type", "www-authenticate")


class OwnerUnreachable(Exception):
    """No connection to the owner (refused, timed out, unroutable): the session is gone."""


class ForwardFailed(Exception):
    """Connected, but the owner gave no usable answer (reset, read timeout)."""


@dataclass(frozen=True)
class Relayed:
    """The owner's answer, to pass back to the client."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class SessionForwarder:
    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                RESPONSE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=POOL_TIMEOUT_S
            ),
            # Pod-to-pod traffic must never go through an HTTP(S)_PROXY from the environment.
            trust_env=False,
            follow_redirects=False,
        )

    async def forward(
        self, owner: OwnerAddress, target: str, headers: Mapping[str, str], body: bytes
    ) -> Relayed:
        """POST ``body`` to ``target`` (path and query) on ``owner``, marked as forwarded."""
        sent = {name: headers[name] for name in REQUEST_HEADERS if name in headers}
        sent[FORWARDED_HEADER] = "1"
        try:
            response = await self.client.post(f"http://{owner}{target}", headers=sent, content=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise OwnerUnreachable(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise ForwardFailed(type(exc).__name__) from exc
        relayed = tuple(
            (name, response.headers[name]) for name in RESPONSE_HEADERS if name in response.headers
        )
        return Relayed(response.status_code, relayed, response.content)

    async def aclose(self) -> None:
        await self.client.aclose()
