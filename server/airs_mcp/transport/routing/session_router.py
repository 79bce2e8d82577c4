"""Cross-replica SSE session routing, without a shared store or load-balancer affinity.

An SSE session lives in the memory of the replica holding its stream. This wrapper around the
SDK's SSE app:

- on a stream GET, appends ``&owner=<token>`` to the advertised message URL (the token names
  this replica's address, signed with the fleet's key; see ``owner_token``) and remembers the
  session as held here until the stream ends;
- on a message POST for a session held here, does nothing but a set lookup;
- on a message POST for a session held elsewhere, checks the token (signature, peer networks)
  and forwards the POST to the owner, relaying its answer. Nothing is dialled unless the token is
  authentic, so the server cannot be used to reach an arbitrary address. A forwarded POST is
  never forwarded again, and an owner that is gone means the usual 404.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qs

from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.config import Settings
from airs_mcp.observability.metrics import Metrics
from airs_mcp.transport.routing import owner_token
from airs_mcp.transport.routing.endpoint_event import add_query_parameter, rewrite_first_event
from airs_mcp.transport.routing.owner_token import OwnerAddress, OwnerTokenError
from airs_mcp.transport.routing.session_forwarder import (
    FORWARDED_HEADER,
    ForwardFailed,
    OwnerUnreachable,
    SessionForwarder,
)

__all__ = ["OWNER_PARAM", "SessionRouter"]

OWNER_PARAM = "owner"
ROUTING_LOGGER = "airs_mcp.routing"
NOT_FOUND = "Could not find session"  # the SDK's own answer for an unknown session

log = logging.getLogger(ROUTING_LOGGER)


def session_tag(session: str) -> str:
    """A short, stable hash of a session id for logs (the id itself lets anyone post into the
    session, so it is never logged)."""
    return hashlib.sha256(session.encode("ascii", "replace")).hexdigest()[:12]


def _is_message_post(scope: Scope) -> bool:
    if scope["method"] != "POST":
        return False
    route: str = scope["path"][len(scope.get("root_path", "").rstrip("/")) :]
    return route.startswith("/messages/")


def _is_stream_get(scope: Scope) -> bool:
    route = scope["path"][len(scope.get("root_path", "").rstrip("/")) :]
    return scope["method"] == "GET" and route in ("", "/")


class SessionRouter:
    """ASGI wrapper of the SDK's SSE app; ``forwarder`` returns the lifespan's forwarder."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        security: TransportSecuritySettings,
        forwarder: Callable[[], SessionForwarder | None],
        metrics: Metrics | None = None,
    ) -> None:
        if settings.session_routing_key is None or settings.advertise_ip is None:
            raise ValueError("session routing needs a routing key and an advertise address")
        self.app = app
        self.key = settings.session_routing_key
        self.advertise_ip = settings.advertise_ip
        self.advertise_port = settings.advertise_port
        self.peer_networks = settings.peer_networks
        self.security = TransportSecurityMiddleware(security)
        self.forwarder = forwarder
        self.metrics = metrics or Metrics()
        self.held: set[str] = set()  # canonical hex ids of the sessions whose stream is here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if _is_message_post(scope):
                await self._message(scope, receive, send)
                return
            if _is_stream_get(scope):
                await self._stream(scope, receive, send)
                return
        await self.app(scope, receive, send)

    # --- stream GET: advertise the owner ------------------------------------------------------
    def _own_address(self, scope: Scope) -> OwnerAddress | None:
        port = self.advertise_port
        if port is None:
            # The port this connection arrived on is the listen port peers dial.
            server = scope.get("server")
            port = server[1] if server and isinstance(server[1], int) else None
        return OwnerAddress(self.advertise_ip, port) if port else None

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        owner = self._own_address(scope)
        sessions: list[str] = []

        def owner_param(session_id: str) -> str | None:
            if owner is None:
                return None
            try:
                token = owner_token.encode(self.key, session_id, owner)
            except (OwnerTokenError, ValueError):
                return None
            session = owner_token.session_hex(session_id)
            self.held.add(session)
            sessions.append(session)
            return f"{OWNER_PARAM}={token}"

        send_rewritten = rewrite_first_event(
            send, lambda event: add_query_parameter(event, owner_param)
        )
        try:
            await self.app(scope, receive, send_rewritten)
        finally:
            for session in sessions:
                self.held.discard(session)

    # --- message POST: local, or forward to the owner ------------------------------------------
    async def _message(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session_ids = query.get("session_id", [])
        if len(session_ids) != 1 or session_ids[0] in self.held:
            await self.app(scope, receive, send)  # held here, or the SDK's 400 for a bad query
            return
        try:
            session = owner_token.session_hex(session_ids[0])
        except OwnerTokenError:
            await self.app(scope, receive, send)  # the SDK answers 400 "Invalid session ID"
            return
        if session in self.held:
            await self.app(scope, receive, send)
            return
        tag = session_tag(session)
        if Headers(scope=scope).get(FORWARDED_HEADER):
            # Sent here by a peer, but the stream is not (or no longer) here: never bounce on.
            log.info("session_not_held", extra={"session": tag, "reason": "forwarded"})
            await Response(NOT_FOUND, status_code=404)(scope, receive, send)
            return
        tokens = query.get(OWNER_PARAM, [])
        if not tokens:
            await self.app(scope, receive, send)  # a URL from a replica without routing
            return
        refusal = await self.security.validate_request(Request(scope, receive), is_post=True)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        answer = self._check_owner(scope, session, tokens)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        forward = partial(self._forward, answer, tag)
        await RequestBodyLimitMiddleware(forward, DEFAULT_MAX_REQUEST_BODY_SIZE)(
            scope, receive, send
        )

    def _check_owner(
        self, scope: Scope, session: str, tokens: list[str]
    ) -> OwnerAddress | Response:
        """The authentic owner of ``session``, or the answer refusing the request."""
        tag = session_tag(session)
        try:
            if len(tokens) != 1:
                raise OwnerTokenError("more than one owner parameter")
            owner = owner_token.decode(self.key, session, tokens[0])
        except OwnerTokenError as exc:
            log.warning("session_owner_rejected", extra={"session": tag, "reason": str(exc)})
            return Response(
                "Invalid owner parameter: it does not match this session_id", status_code=400
            )
        if not self._peer(owner.ip):
            log.warning(
                "session_owner_rejected",
                extra={"session": tag, "reason": "outside peer networks", "owner": str(owner)},
            )
            return Response("Invalid owner parameter: not a peer address", status_code=400)
        if owner == self._own_address(scope):
            # Our own token, but the stream is gone (or this is a restarted pod on the same IP).
            log.info("session_not_held", extra={"session": tag, "reason": "owner is self"})
            return Response(NOT_FOUND, status_code=404)
        return owner

    def _peer(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
            return False
        return any(ip in network for network in self.peer_networks)

    async def _forward(
        self, owner: OwnerAddress, tag: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        forwarder = self.forwarder()
        if forwarder is None:  # not started or shutting down
            await Response(NOT_FOUND, status_code=404)(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        target += "?" + scope.get("query_string", b"").decode("latin-1")
        started = time.perf_counter()
        fields: dict[str, object] = {"session": tag, "owner": str(owner)}
        try:
            relayed = await forwarder.forward(owner, target, dict(request.headers), body)
        except OwnerUnreachable as exc:
            response = Response(NOT_FOUND, status_code=404)
            fields |= {"outcome": "owner_gone", "error_kind": str(exc)}
        except ForwardFailed as exc:
            response = Response("The replica holding this session did not answer", 502)
            fields |= {"outcome": "owner_failed", "error_kind": str(exc)}
        else:
            response = Response(relayed.body, relayed.status, headers=dict(relayed.headers))
            fields |= {"outcome": "forwarded"}
        fields |= {
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        log.info("session_forward", extra=fields)
        self.metrics.forwards.labels(fields["outcome"]).inc()
        await response(scope, receive, send)
