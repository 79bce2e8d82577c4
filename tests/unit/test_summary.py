"""``airs_deploy.summary``: what ``make deploy`` prints at its end."""

from __future__ import annotations

import json
from pathlib import Path

from airs_deploy import summary

REPORT = {
    "base_url": "http://10.234.17.200:8080",
    "sse_url": "http://10.234.17.200:8080/sse/",
    "mcp_url": "",
    "service_type": "LoadBalancer",
    "namespace": "aisecurity",
    "traefik_namespace": "traefik",
    "secret_name": "aisecurity-mcp-server-airs",
    "token_required": True,
}
CHECK = {
    "url": REPORT["sse_url"], "transport": "sse", "ok": True, "seconds": 0.042,
    "action": "block", "category": "malicious", "detections": ["injection"],
    "scan_id": "0b7a3f0e-1a6e-4d7e-9a43-3b1c4f7f2a11", "error": "",
}  # fmt: skip


def test_demo_summary_names_the_endpoint_clients_verdict_and_teardown() -> None:
    text = summary.render(REPORT, CHECK, demo=True, netns="airs-client")
    assert "airs-mcp-k8s is deployed (DEMO MODE)" in text
    assert "AIRS API double" in text
    assert "MCP over SSE:             http://10.234.17.200:8080/sse/" in text
    assert "not routed" in text
    assert "Traefik Service:          LoadBalancer in namespace traefik" in text
    assert "ip netns exec airs-client" in text
    assert "action: block, category: malicious, detections: injection" in text
    assert "42 ms" in text
    assert "--cli http://10.234.17.200:8080/sse/ --transport sse --method tools/list" in text
    assert '--header "Authorization: Bearer $AIRS_MCP_TOKEN"' in text
    assert 'sse_client("http://10.234.17.200:8080/sse/", headers=auth)' in text
    assert (
        "python -m airs_deploy.token --namespace aisecurity --secret aisecurity-mcp-server-airs"
        in text
    )
    assert "make down" in text


def test_claude_desktop_entry_is_valid_json_with_allow_http_only_for_http() -> None:
    text = summary.render(REPORT, CHECK, demo=False, netns="")
    start = text.index("{", text.index("Claude Desktop"))
    end = text.index("\n  Check from a shell")
    entry = json.loads(text[start:end])
    airs = entry["mcpServers"]["airs"]
    assert airs["command"] == "npx"
    assert airs["args"] == [
        "mcp-remote", REPORT["sse_url"], "--header", "Authorization:${AUTH_HEADER}", "--allow-http",
    ]  # fmt: skip
    assert airs["env"]["AUTH_HEADER"].startswith("Bearer ")
    https = summary.render({**REPORT, "sse_url": "https://mcp.example/sse/"}, CHECK, False, "")
    assert "--allow-http" not in https
    assert "DEMO MODE" not in text


def test_a_failed_or_missing_check_fails_the_summary(tmp_path: Path) -> None:
    report = tmp_path / "endpoint.json"
    report.write_text(json.dumps(REPORT))
    check = tmp_path / "check.json"
    check.write_text(json.dumps({**CHECK, "ok": False, "error": "ConnectError: refused"}))
    assert summary.main(["--report", str(report), "--check", str(check)]) == 1
    assert summary.main(["--report", str(report), "--check", str(tmp_path / "none.json")]) == 1
    check.write_text(json.dumps(CHECK))
    assert summary.main(["--report", str(report), "--check", str(check), "--demo"]) == 0


def test_https_endpoint_its_ca_and_the_clear_text_warning_are_shown() -> None:
    report = {
        **REPORT,
        "https_sse_url": "https://10.234.17.200:8443/sse/",
        "ca_file": "/cache/deploy/ca.pem",
        "token_required": True,
    }
    text = summary.render(report, CHECK, True, "airs-client")
    assert "MCP over SSE, HTTPS:      https://10.234.17.200:8443/sse/" in text
    assert "/cache/deploy/ca.pem" in text
    assert "clear text" in text
    only_https = summary.render({**report, "sse_url": report["https_sse_url"]}, CHECK, False, "")
    assert "clear text" not in only_https
    assert only_https.count("https://10.234.17.200:8443/sse/") >= 1


ROUTED = {**REPORT, "mcp_url": "http://10.234.17.200:8080/mcp"}


def _block(text: str, start: str, end: str) -> str:
    """The snippet between the line ``start`` and the next line starting with ``end``, dedented."""
    lines = text[text.index(start) :].splitlines()[1:]
    body = []
    for line in lines:
        if line.startswith(end):
            break
        body.append(line.removeprefix("    "))
    return "\n".join(body).strip() + "\n"


def test_a_routed_mcp_endpoint_comes_first_with_clients_of_the_2026_revision() -> None:
    https = {**ROUTED, "https_sse_url": "https://10.234.17.200:8443/sse/"}
    text = summary.render(https, CHECK, demo=True, netns="airs-client", mcp_check=CHECK)
    assert "MCP Streamable HTTP:      http://10.234.17.200:8080/mcp" in text
    assert "  and over HTTPS:         https://10.234.17.200:8443/mcp" in text
    assert "not routed" not in text
    streamable = text.index("Connect a client over Streamable HTTP")
    sse = text.index("Connect a client over SSE")
    assert streamable < sse
    assert "deprecated by the 2026-07-28 revision" in text[sse:]
    assert "--cli http://10.234.17.200:8080/mcp --transport http --method tools/call" in text
    typescript = _block(text, "  TypeScript (npm install @modelcontextprotocol/client", "Connect")
    assert 'new URL("http://10.234.17.200:8080/mcp")' in typescript
    assert 'versionNegotiation: { mode: { pin: "2026-07-28" } }' in typescript
    python = _block(text, "  Python (pip install mcp; 2026-07-28 by default)", "  TypeScript")
    compile(python, "snippet.py", "exec")  # the printed snippet is valid Python as printed
    assert 'streamable_http_client("http://10.234.17.200:8080/mcp"' in python
    assert "airs-mcp-check http://10.234.17.200:8080/mcp --expect-action block" in text
    assert text.count("pan_inline_scan of a prompt injection -> action: block") == 2


def test_without_mcp_the_summary_names_no_streamable_client() -> None:
    text = summary.render(REPORT, CHECK, demo=False, netns="")
    assert "Connect a client:" in text
    assert "Streamable HTTP (new clients" not in text
    assert "/mcp" not in text


def test_a_routed_mcp_without_a_passing_check_fails_the_summary(tmp_path: Path) -> None:
    report = tmp_path / "endpoint.json"
    report.write_text(json.dumps(ROUTED))
    check = tmp_path / "check.json"
    check.write_text(json.dumps(CHECK))
    mcp_check = tmp_path / "check-mcp.json"
    args = ["--report", str(report), "--check", str(check)]
    assert summary.main(args) == 1  # routed, but not checked
    mcp_check.write_text(json.dumps({**CHECK, "ok": False, "error": "HTTP 404"}))
    assert summary.main([*args, "--mcp-check", str(mcp_check)]) == 1
    mcp_check.write_text(json.dumps({**CHECK, "url": ROUTED["mcp_url"]}))
    assert summary.main([*args, "--mcp-check", str(mcp_check)]) == 0
