"""Wait for HTTP(S) health endpoints, with errors that name the component and its log."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from embedded_cluster.errors import EmbeddedClusterError


class ComponentNotReady(EmbeddedClusterError):
    """A component did not become healthy in time."""


def client_tls(
    ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A TLS context that trusts ``ca`` (or nothing is verified when ``ca`` is None)."""
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def probe(url: str, tls: ssl.SSLContext | None = None, timeout_s: float = 3.0) -> tuple[int, str]:
    """GET ``url``; return (status, body). Status 0 means no HTTP answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=tls) as resp:  # noqa: S310
            return resp.status, resp.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096).decode(errors="replace")
    except (OSError, ssl.SSLError) as exc:
        return 0, str(exc)


def wait_healthy(
    component: str,
    url: str,
    *,
    tls: ssl.SSLContext | None = None,
    timeout_s: float = 120.0,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
    log_tail: Callable[[], str] | None = None,
) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited or raise ComponentNotReady."""
    start = time.monotonic()
    status, body = 0, ""
    while time.monotonic() - start < timeout_s:
        status, body = probe(url, tls)
        if status == 200:
            return time.monotonic() - start
        if alive is not None and not alive():
            break
        time.sleep(0.25)
    where = f" (log: {log})" if log else ""
    tail = f"\nlast log lines:\n{log_tail()}" if log_tail else ""
    raise ComponentNotReady(
        f"{component} not healthy at {url} after {time.monotonic() - start:.0f} s: "
        f"last answer {status} {body.strip()[:300]!r}{where}{tail}"
    )
