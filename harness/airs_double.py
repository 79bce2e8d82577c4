"""The AIRS API double (``airs-api-double``): HTTPS on loopback with a fresh CA.

``start_airs_double(directory, api_key=..., sans=(), pending_polls=1, args=())`` starts one on a
free port (``args``: extra CLI options such as ``--ca-cert``) and returns an ``AirsDouble``:
``url`` (``https://127.0.0.1:PORT``), ``ca_path`` (give it to clients as ``SSL_CERT_FILE``),
``api_key``, ``log_path``, and helpers ``set_fault(status=..., count=1, retry_after=...,
latency_ms=..., malformed=..., path=...)``, ``clear_faults()``, ``stats()``, ``reset()``,
``set_pending_polls(n)``, ``set_tenant_rate(r)`` (429 past ``r`` requests in any second; 0 =
off), ``wait_idle()`` (until every request it received is answered),
``http()`` (an ``httpx.Client`` trusting the CA) and ``stop()``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.processes import (
    ManagedProcess,
    env_without_proxies,
    script,
    spawn,
    wait_for_http,
    wait_for_port,
)

__all__ = ["DOUBLE_API_KEY", "AirsDouble", "start_airs_double"]

DOUBLE_API_KEY = "test-placeholder-key"  # a placeholder for the double, never a real key


@dataclass
class AirsDouble:
    url: str
    ca_path: Path
    api_key: str
    process: ManagedProcess
    cert_dir: Path

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=10.0)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        with self.http() as client:
            response = client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def set_fault(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        retry_after: int | None = None,
        latency_ms: int = 0,
        malformed: bool = False,
        path: str | None = None,
        message: str | None = None,
    ) -> None:
        """Make the next ``count`` API requests (under ``path``) fail/slow (-1 = until cleared)."""
        fault = {
            "status": status,
            "count": count,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
            "malformed": malformed,
            "path": path,
            "message": message,
        }
        self._admin("POST", "/_double/faults", fault)

    def clear_faults(self) -> None:
        self._admin("DELETE", "/_double/faults")

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "/_double/stats")

    def reset(self) -> None:
        self._admin("POST", "/_double/reset")

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Wait until every API request the double received has been answered (a request slowed
        by ``latency_ms`` may still be running after its client gave up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats()["in_flight"] == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the double still has requests in flight after {timeout} s")

    def set_pending_polls(self, polls: int) -> None:
        self._admin("POST", "/_double/config", {"pending_polls": polls})

    def set_tenant_rate(self, rate: int) -> None:
        self._admin("POST", "/_double/config", {"tenant_rate": rate})

    def stop(self) -> None:
        self.process.stop()


def start_airs_double(
    directory: Path,
    *,
    api_key: str = DOUBLE_API_KEY,
    sans: Sequence[str] = (),
    pending_polls: int = 1,
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
) -> AirsDouble:
    """Start ``airs-api-double`` on a free port; certificates and log go under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    port_file = directory / "double.port"
    port_file.unlink(missing_ok=True)
    argv = [
        script("airs-api-double"),
        "--host",
        host,
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--cert-dir",
        str(directory / "certs"),
        "--pending-polls",
        str(pending_polls),
    ]
    for san in sans:
        argv += ["--san", san]
    argv += list(args)
    env = env_without_proxies()
    env["AIRS_DOUBLE_API_KEY"] = api_key  # through the environment, not the command line
    managed = spawn("airs-api-double", argv, env, directory / "double.log")
    port = wait_for_port(managed, port_file)
    ca = directory / "certs" / "ca.pem"
    url = f"https://127.0.0.1:{port}"
    wait_for_http(
        managed, f"{url}/_double/health", verify=ssl.create_default_context(cafile=str(ca))
    )
    return AirsDouble(url, ca, api_key, managed, directory / "certs")
