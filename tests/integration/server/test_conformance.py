"""The official conformance suite, ``@modelcontextprotocol/conformance`` (pinned in
``scripts/node-package.json``), against ``/mcp`` of a real server and the AIRS double.

Every server scenario the suite has for a revision runs (``--suite all --spec-version``): the
stateless 2026-07-28 revision (discover, ``_meta`` envelope, header validation, caching hints,
unsupported versions, subscriptions) and 2025-11-25 (the ``initialize`` handshake older clients
still use). ``conformance/expected-failures-<revision>.yaml`` lists, check by check, what fails
because this server lacks the feature (prompts, resources, sampling, …), each with its reason;
the suite exits non-zero when any other check fails or a listed one passes. The suite sends no
credentials, so the server runs without authentication here.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.mcp_server import McpServerHandle
from tests.fixtures.node import CONFORMANCE_CLI, NODE, NODE_MODULES, node_env

pytestmark = pytest.mark.integration

BASELINES = Path(__file__).with_name("conformance")
SUITE_TIMEOUT_S = 600
# Scenarios that apply to any server: a run without them proves nothing, whatever its exit code.
CORE = {
    "2026-07-28": {
        "server-stateless", "http-header-validation", "caching", "tools-list", "tools-call-error",
        "dns-rebinding-protection",
    },
    "2025-11-25": {
        "server-initialize", "ping", "tools-list", "tools-call-error", "dns-rebinding-protection",
    },
}  # fmt: skip
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@pytest.fixture(scope="module")
def open_server(start_mcp_server_module: Callable[..., McpServerHandle]) -> McpServerHandle:
    return start_mcp_server_module({"AIRS_MCP_AUTH": "none"})


def checks_run(results: Path) -> dict[str, set[str]]:
    """The check ids each scenario reported, from the suite's ``checks.json`` files."""
    found: dict[str, set[str]] = {}
    for checks in results.glob("*/checks.json"):
        match = RESULT_DIR.match(checks.parent.name)
        assert match, checks.parent.name
        reported = yaml.safe_load(checks.read_text())  # JSON is YAML
        found.setdefault(match["scenario"], set()).update(check["id"] for check in reported)
    return found


@pytest.mark.parametrize("revision", sorted(CORE))
def test_conformance_suite_passes_but_for_the_listed_missing_features(
    revision: str, open_server: McpServerHandle, tmp_path: Path
) -> None:
    if not CONFORMANCE_CLI.exists():
        pytest.fail(f"@modelcontextprotocol/conformance missing under {NODE_MODULES}: make setup")
    baseline = BASELINES / f"expected-failures-{revision}.yaml"
    results = tmp_path / "results"
    argv = [str(NODE), str(CONFORMANCE_CLI), "server", "--url", open_server.mcp_url,
            "--suite", "all", "--spec-version", revision,
            "--expected-failures", str(baseline), "--output-dir", str(results)]  # fmt: skip
    proc = subprocess.run(
        argv, cwd=tmp_path, env=node_env(), capture_output=True, text=True,
        timeout=SUITE_TIMEOUT_S, check=False,
    )  # fmt: skip
    # the suite ends with its verdict: unexpected failures and stale entries, by name
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    ran = checks_run(results)
    assert set(ran) >= CORE[revision]
    # The suite ignores entries of scenarios it did not run: every entry must name a check that
    # ran, or a renamed check would leave a dead entry behind.
    for entry in yaml.safe_load(baseline.read_text())["server"]:
        scenario, check = entry.split(":", 1)
        assert check in ran.get(scenario, set()), f"{baseline.name}: {entry} did not run"
