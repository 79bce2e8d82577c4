"""``airs-mcp-server``: parse options, load settings, serve with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

import uvicorn

from airs_mcp.app import Runtime, create_app, serve_app
from airs_mcp.config import ConfigError, Settings
from airs_mcp.observability import log
from airs_mcp.process.event_loop import HTTP_CHOICES, LOOP_CHOICES, choose_http, choose_loop
from airs_mcp.process.shutdown import CLOSE_S, drain

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# Idle keep-alive kept longer than a proxy's idle-connection timeout (Traefik: 90 s), so the
# proxy, not uvicorn, closes idle connections and never reuses one that uvicorn just closed.
KEEP_ALIVE_S = 120


class Server(uvicorn.Server):
    """uvicorn server with a drain phase on SIGTERM (see ``airs_mcp.process.shutdown``), and that
    can report its port.

    The first SIGTERM flips readiness and starts the drain; uvicorn's own shutdown (closing SSE
    streams and listeners) begins only when it ends. SIGINT, or a second SIGTERM, stops at once.
    A drained SIGTERM exits 0 (uvicorn would re-raise the signal and die by it).
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime, port_file: Path | None) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.port_file = port_file
        self.drain_requested = False
        self.drain_task: asyncio.Task[None] | None = None
        self.interrupted = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.runtime.shutting_down = True
        if sig == signal.SIGTERM and not self.drain_requested and not self.should_exit:
            self.drain_requested = True  # on_tick, in the event loop, starts the drain
            return
        if sig == signal.SIGINT:
            self.interrupted = True
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_requested and self.drain_task is None:
            self.drain_task = asyncio.create_task(self._drain())
        return await super().on_tick(counter)

    async def _drain(self) -> None:
        sse = self.runtime.sse
        streams_ended = sse.drain if sse is not None else None
        await drain(self.runtime.metrics, self.runtime.settings.graceful_shutdown_s, streams_ended)
        # uvicorn's exit flag: shutdown() ends the SSE streams, then closes the listeners.
        super().handle_exit(signal.SIGTERM, None)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
        if self.interrupted:
            signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt: exit 130 as before

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for open connections before the lifespan ends: end the SSE streams
        # first, each with a clean end of its body.
        if self.runtime.sse is not None:
            await self.runtime.sse.end_streams()
        await super().shutdown(sockets=sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.port_file is not None and self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            tmp = self.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(self.port_file)


def _port(env: Mapping[str, str], name: str, default: str) -> int:
    raw_port = env.get(name, "").strip() or default
    if not raw_port.isdigit() or not 0 <= int(raw_port) <= 65535:
        raise ConfigError(name, "must be a port number (0-65535)")
    return int(raw_port)


def _env_defaults(env: Mapping[str, str]) -> tuple[str, int, str, int]:
    """Defaults for --host/--port/--log-level/--metrics-port from the environment; ConfigError
    when bad."""
    host = env.get("AIRS_MCP_HOST", "").strip() or "0.0.0.0"  # noqa: S104 - a pod listens on all
    port = _port(env, "AIRS_MCP_PORT", "8000")
    level = env.get("AIRS_MCP_LOG_LEVEL", "").strip().lower() or "info"
    if level not in LOG_LEVELS:
        raise ConfigError("AIRS_MCP_LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
    return host, port, level, _port(env, "AIRS_MCP_METRICS_PORT", "0")


def parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    host, port, level, metrics_port = _env_defaults(env)
    parser = argparse.ArgumentParser(
        prog="airs-mcp-server",
        description="MCP server for AIRS scanning (SSE at /sse/, Streamable HTTP at /mcp).",
    )
    parser.add_argument("--host", default=host, help="listen address (AIRS_MCP_HOST)")
    parser.add_argument("--port", type=int, default=port, help="listen port (AIRS_MCP_PORT)")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default=level, help="(AIRS_MCP_LOG_LEVEL)"
    )
    parser.add_argument(
        "--loop",
        choices=LOOP_CHOICES,
        default=env.get("AIRS_MCP_LOOP", "").strip().lower() or "auto",
        help="event loop; auto = uvloop when installed (AIRS_MCP_LOOP)",
    )
    parser.add_argument(
        "--http",
        choices=HTTP_CHOICES,
        default=env.get("AIRS_MCP_HTTP", "").strip().lower() or "auto",
        help="HTTP/1.1 parser; auto = httptools when installed (AIRS_MCP_HTTP)",
    )
    parser.add_argument(
        "--port-file", type=Path, help="write the bound port here once listening (for --port 0)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=metrics_port,
        help="Prometheus /metrics on this port, same address (AIRS_MCP_METRICS_PORT; 0 = off)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.metrics_port <= 65535:
        parser.error("--metrics-port must be a port number (0-65535)")
    if args.metrics_port and args.metrics_port == args.port:
        parser.error("--metrics-port must differ from --port (metrics never share the MCP port)")
    return args


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (uvicorn serves it as one of its sockets)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family, backlog=2048)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv, os.environ)
        settings = Settings.from_env()
        loop, http = choose_loop(args.loop), choose_http(args.http)
    except ConfigError as exc:
        print(f"airs-mcp-server: configuration error: {exc}", file=sys.stderr)
        return 2
    log.configure(args.log_level)
    logging.getLogger("airs_mcp").info("io", extra={"loop": loop, "http": http})
    runtime = Runtime(settings)
    app = serve_app(create_app(settings, runtime), args.metrics_port)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=args.log_level,
        loop=loop,
        http=http,
        access_log=args.log_level == "debug",
        timeout_keep_alive=KEEP_ALIVE_S,
        # The drain (AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS) runs before uvicorn's shutdown starts.
        timeout_graceful_shutdown=CLOSE_S,
        limit_concurrency=settings.limit_concurrency or None,
        lifespan="on",
    )
    try:
        sockets = None
        if args.metrics_port:
            # Two sockets, one server: PortDispatch tells them apart by the socket's own port.
            sockets = [_listen(args.host, args.port), _listen(args.host, args.metrics_port)]
            logging.getLogger("airs_mcp").info(
                "listening",
                extra={
                    "port": sockets[0].getsockname()[1],
                    "metrics_port": args.metrics_port,
                    "host": args.host,
                },
            )
    except OSError as exc:
        print(f"airs-mcp-server: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        Server(config, runtime, args.port_file).run(sockets=sockets)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
