"""``airs-mcp-server``: parse options, load settings, serve with uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import uvicorn

from airs_mcp import log
from airs_mcp.app import Runtime, create_app
from airs_mcp.config import ConfigError, Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# Idle keep-alive kept longer than a proxy's idle-connection timeout (Traefik: 90 s), so the
# proxy, not uvicorn, closes idle connections and never reuses one that uvicorn just closed.
KEEP_ALIVE_S = 120


class Server(uvicorn.Server):
    """uvicorn server that flips readiness on the first exit signal and can report its port."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime, port_file: Path | None) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.port_file = port_file

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.runtime.shutting_down = True
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.port_file is not None and self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            tmp = self.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(self.port_file)


def _env_defaults(env: Mapping[str, str]) -> tuple[str, int, str]:
    """Defaults for --host/--port/--log-level from the environment; ConfigError when bad."""
    host = env.get("AIRS_MCP_HOST", "").strip() or "0.0.0.0"  # noqa: S104 - a pod listens on all
    raw_port = env.get("AIRS_MCP_PORT", "").strip() or "8000"
    if not raw_port.isdigit() or not 0 <= int(raw_port) <= 65535:
        raise ConfigError("AIRS_MCP_PORT", "must be a port number (0-65535)")
    level = env.get("AIRS_MCP_LOG_LEVEL", "").strip().lower() or "info"
    if level not in LOG_LEVELS:
        raise ConfigError("AIRS_MCP_LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
    return host, int(raw_port), level


def parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    host, port, level = _env_defaults(env)
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
        "--port-file", type=Path, help="write the bound port here once listening (for --port 0)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv, os.environ)
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"airs-mcp-server: configuration error: {exc}", file=sys.stderr)
        return 2
    log.configure(args.log_level)
    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        limit_concurrency=settings.limit_concurrency or None,
        lifespan="on",
    )
    try:
        Server(config, runtime, args.port_file).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
