"""A lean AIRS API double for the benchmark suite: the least work that answers the SDK.

``python -m bench.lean_double --cert-dir DIR --port-file FILE [--latency-ms N]`` serves HTTPS on
127.0.0.1 (a fresh CA in ``DIR/ca.pem``) with aiohttp:

- ``POST /v1/scan/sync/request``: a fixed, complete ``ScanResponse`` (``allow``/``benign``, a new
  scan id, the request's ``tr_id`` echoed);
- ``POST /v1/scan/async/request``: a fixed ``AsyncScanResponse``;
- ``GET/POST /_lean/latency``: read or set the latency added to every scan (``{"ms": 20}``);
- ``GET/POST /_lean/stats``: the scan requests received (``requests``), the most answered at
  once (``peak_in_flight``), now in flight, and each one's arrival (``time.monotonic()``, the
  last ``MAX_ARRIVALS``); POST also starts the count again (peak = what is in flight now).

No validation, no logging, no state beyond those counters (two integer updates and one bounded
append per scan): the project's double (``airs-api-double``) checks every
request and keeps every scan, which is what tests need but costs more per call than AIRS's own
share should in a ratio. The suite measures this double's own round trip beside the SDK's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import time
import uuid
from collections import deque
from pathlib import Path

from aiohttp import web
from airs_api_double.certs import create_certificates

SYNC_PATH = "/v1/scan/sync/request"
ASYNC_PATH = "/v1/scan/async/request"
CREATED = "2026-01-01T00:00:00Z"
MAX_ARRIVALS = 10_000


def build_app() -> web.Application:
    state = {"latency_s": 0.0}
    counts = {"requests": 0, "in_flight": 0, "peak_in_flight": 0}
    arrivals: deque[float] = deque(maxlen=MAX_ARRIVALS)

    def arrive() -> None:
        arrivals.append(time.monotonic())
        counts["requests"] += 1
        counts["in_flight"] += 1
        if counts["in_flight"] > counts["peak_in_flight"]:
            counts["peak_in_flight"] = counts["in_flight"]

    def leave() -> None:
        counts["in_flight"] -= 1

    async def delay() -> None:
        if state["latency_s"]:
            await asyncio.sleep(state["latency_s"])

    async def sync_scan(request: web.Request) -> web.Response:
        arrive()
        try:
            return await sync_answer(request)
        finally:
            leave()

    async def sync_answer(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        await delay()
        scan_id = str(uuid.uuid4())
        answer = {
            "source": "AI-Runtime-API",
            "report_id": "R" + scan_id,
            "scan_id": scan_id,
            "category": "benign",
            "action": "allow",
            "timeout": False,
            "error": False,
            "errors": [],
            "created_at": CREATED,
            "completed_at": CREATED,
            "prompt_detected": {},
        }
        if body.get("tr_id") is not None:
            answer["tr_id"] = body["tr_id"]
        return web.Response(body=json.dumps(answer), content_type="application/json")

    async def async_scan(request: web.Request) -> web.Response:
        arrive()
        try:
            return await async_answer(request)
        finally:
            leave()

    async def async_answer(request: web.Request) -> web.Response:
        await request.read()
        await delay()
        scan_id = str(uuid.uuid4())
        answer = {
            "received": CREATED,
            "scan_id": scan_id,
            "report_id": "R" + scan_id,
            "source": "AI-Runtime-API",
        }
        return web.Response(body=json.dumps(answer), content_type="application/json")

    async def latency(request: web.Request) -> web.Response:
        if request.method == "POST":
            state["latency_s"] = float((await request.json())["ms"]) / 1000
        return web.json_response({"ms": state["latency_s"] * 1000})

    async def stats(request: web.Request) -> web.Response:
        answer = {**counts, "arrivals": list(arrivals)}
        if request.method == "POST":
            counts["requests"] = 0
            counts["peak_in_flight"] = counts["in_flight"]
            arrivals.clear()
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post(SYNC_PATH, sync_scan)
    app.router.add_post(ASYNC_PATH, async_scan)
    app.router.add_route("*", "/_lean/latency", latency)
    app.router.add_route("*", "/_lean/stats", stats)
    return app


async def serve(args: argparse.Namespace) -> None:
    paths = create_certificates(args.cert_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths.cert, paths.key)
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(args.port_file)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert-dir", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
