"""``airs-mcp-check``: the live-scan command `make deploy` ends with, against a real server."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from harness.airs_double import AirsDouble
from harness.mcp_server import TEST_TOKEN, McpServerHandle
from harness.processes import script

pytestmark = pytest.mark.integration


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    auth = ["--header", f"Authorization: Bearer {TEST_TOKEN}"]  # every fixture server accepts it
    return subprocess.run(
        [script("airs-mcp-check"), *auth, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", ["/sse/", "/mcp"])
def test_injection_is_blocked_over_either_transport(mcp_server: McpServerHandle, path: str) -> None:
    proc = _check(mcp_server.url + path, "--json", "--expect-action", "block")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert result["action"] == "block"
    assert result["category"] == "malicious"
    assert result["detections"], result
    airs_id, _, tag = result["scan_id"].partition(".")  # the AIRS scan id, a tag binding it
    assert str(uuid.UUID(airs_id)) == airs_id
    assert len(tag) == 22


def test_benign_prompt_fails_an_expected_block(mcp_server: McpServerHandle) -> None:
    proc = _check(mcp_server.sse_url, "--prompt", "What is the capital of France?",
                  "--expect-action", "block")  # fmt: skip
    assert proc.returncode == 1
    assert "action=allow" in proc.stdout
    assert "expected action block, got allow" in proc.stderr


def test_airs_failure_is_reported_as_a_failed_check(
    mcp_server: McpServerHandle, airs_double: AirsDouble
) -> None:
    airs_double.set_fault(status=401, count=-1)
    proc = _check(mcp_server.sse_url)
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout
    assert "tool error" in proc.stdout


def test_nothing_listening_is_a_clear_failure(tmp_path: object) -> None:
    proc = _check("http://127.0.0.1:9/sse/", "--timeout", "10")
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout
    assert "Connect" in proc.stdout, proc.stdout


def test_a_url_without_a_transport_path_is_a_usage_error() -> None:
    proc = _check("http://127.0.0.1:9/")
    assert proc.returncode == 2
    assert "/sse/" in proc.stderr
