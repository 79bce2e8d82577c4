"""Run the PANW SDK's example MCP server (``examples/model_context_protocol/server.py``) over SSE.

``python -I bench/reference_launcher.py --server PATH --port-file FILE``, in the reference venv
(``bench.batch_fanout``: fastmcp, pan-aisecurity, python-dotenv). The example patches
``itertools.batched`` (Python 3.12) only in its ``__main__`` block, so this loads the file with
``runpy.run_path(..., run_name="reference")``, calls the file's own
``maybe_monkeypatch_itertools_batched()`` and ``pan_init()`` (which reads ``PANW_AI_*`` from the
environment), then runs its ``mcp`` with fastmcp's ``run_async(transport="sse")`` on a socket
this launcher bound on 127.0.0.1 (port 0; the port goes to ``FILE``), SSE stream at ``/sse/``.
The example file is run as it is, never copied into this repository.
"""

from __future__ import annotations

import argparse
import asyncio
import runpy
import socket
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    example = runpy.run_path(str(args.server), run_name="reference")
    example["maybe_monkeypatch_itertools_batched"]()
    example["pan_init"]()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn accepts
    port = sock.getsockname()[1]
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(args.port_file)
    asyncio.run(
        example["mcp"].run_async(
            transport="sse",
            host="127.0.0.1",
            port=port,
            path="/sse/",
            show_banner=False,
            log_level="warning",
            uvicorn_config={"fd": sock.fileno()},
        )
    )


if __name__ == "__main__":
    main()
