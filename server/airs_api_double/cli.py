"""``airs-api-double``: run the AIRS API double over HTTPS with its own CA."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

import uvicorn

from airs_api_double.app import DoubleApp
from airs_api_double.certs import create_certificates, load_ca

DEFAULT_API_KEY = "double-test-key"
KEY_ENV = "AIRS_DOUBLE_API_KEY"
TENANT_RATE_ENV = "AIRS_DOUBLE_TENANT_RATE"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="airs-api-double", description="A local double of the AIRS scan API (tests only)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--cert-dir", type=Path, required=True, help="ca.pem is written here")
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"accepted x-pan-token (default: ${KEY_ENV}, else {DEFAULT_API_KEY!r})",
    )
    parser.add_argument(
        "--san", action="append", default=[], help="extra DNS name or IP for the server cert"
    )
    parser.add_argument(
        "--ca-cert", type=Path, help="sign with this CA (PEM) instead of a fresh one"
    )
    parser.add_argument("--ca-key", type=Path, help="the --ca-cert's EC private key (PEM)")
    parser.add_argument(
        "--pending-polls",
        type=int,
        default=1,
        help="result queries that see an async scan as pending before it completes",
    )
    parser.add_argument(
        "--tenant-rate",
        type=int,
        default=None,
        help=f"accept at most this many API requests in any second, 429 beyond "
        f"(default: ${TENANT_RATE_ENV}, else 0 = no limit)",
    )
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


class PortReportingServer(uvicorn.Server):
    """A uvicorn server that writes its bound port to a file once it listens (for ``--port 0``)."""

    def __init__(self, config: uvicorn.Config, port_file: Path | None) -> None:
        super().__init__(config)
        self.port_file = port_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.port_file is not None and self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            tmp = self.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(self.port_file)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    api_key = args.api_key or os.environ.get(KEY_ENV) or DEFAULT_API_KEY
    if (args.ca_cert is None) != (args.ca_key is None):
        print("airs-api-double: --ca-cert and --ca-key go together", file=sys.stderr)
        return 2
    ca = load_ca(args.ca_cert, args.ca_key) if args.ca_cert else None
    paths = create_certificates(args.cert_dir, tuple(args.san), ca)
    tenant_rate = args.tenant_rate
    if tenant_rate is None:
        tenant_rate = int(os.environ.get(TENANT_RATE_ENV) or 0)
    if tenant_rate < 0:
        print("airs-api-double: --tenant-rate must be >= 0", file=sys.stderr)
        return 2
    app = DoubleApp(
        api_key,
        pending_polls=args.pending_polls,
        ca_pem=paths.ca.read_bytes(),
        tenant_rate=tenant_rate,
    ).build()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=str(paths.cert),
        ssl_keyfile=str(paths.key),
        log_level=args.log_level,
        access_log=args.log_level in ("debug", "info"),
        lifespan="off",
    )
    print(f"airs-api-double: CA at {paths.ca}", file=sys.stderr, flush=True)
    PortReportingServer(config, args.port_file).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
