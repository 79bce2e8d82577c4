"""The mcp_server role's batch fan-out, per-credential limits, memory refusal and heap trim
settings, without a cluster.

A play on localhost runs the role's preflight, then renders its Deployment template the way
deploy.yml does (the two cluster reads it depends on stubbed), so the env the pods would get
can be read here. Nothing talks to Kubernetes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from airs_mcp import config

from harness.checkout import COLLECTION, ROOT
from tests.fixtures.ansible import role_defaults

pytestmark = pytest.mark.integration

TEMPLATE = COLLECTION / "roles" / "mcp_server" / "templates" / "server.yaml.j2"
# The lookup deploy.yml renders the objects with, given the template's path.
RENDER = f"{{{{ lookup('ansible.builtin.template', '{TEMPLATE}') }}}}"
# Role variable -> (server env var, the server's default).
SETTINGS = {
    "mcp_server_batch_concurrency": (
        "AIRS_MCP_BATCH_CONCURRENCY",
        config.DEFAULT_BATCH_CONCURRENCY,
    ),
    "mcp_server_batch_requests_per_second": (
        "AIRS_MCP_BATCH_REQUESTS_PER_SECOND",
        config.DEFAULT_BATCH_REQUESTS_PER_SECOND,
    ),
    "mcp_server_batch_burst": ("AIRS_MCP_BATCH_BURST", config.DEFAULT_BATCH_BURST),
    "mcp_server_client_requests_per_second": (
        "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND",
        config.DEFAULT_CLIENT_REQUESTS_PER_SECOND,
    ),
    "mcp_server_client_request_burst": (
        "AIRS_MCP_CLIENT_REQUEST_BURST",
        config.DEFAULT_CLIENT_REQUEST_BURST,
    ),
    "mcp_server_client_airs_calls_in_flight": (
        "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT",
        config.DEFAULT_CLIENT_AIRS_CALLS_IN_FLIGHT,
    ),
    "mcp_server_client_airs_requests_per_minute": (
        "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE",
        config.DEFAULT_CLIENT_AIRS_REQUESTS_PER_MINUTE,
    ),
    "mcp_server_memory_refuse_fraction": (
        "AIRS_MCP_MEMORY_REFUSE_FRACTION",
        config.DEFAULT_MEMORY_REFUSE_FRACTION,
    ),
    "mcp_server_heap_trim_after_closes": (
        "AIRS_MCP_HEAP_TRIM_AFTER_CLOSES",
        config.DEFAULT_HEAP_TRIM_AFTER_CLOSES,
    ),
    "mcp_server_heap_trim_delay_seconds": (
        "AIRS_MCP_HEAP_TRIM_DELAY_SECONDS",
        config.DEFAULT_HEAP_TRIM_DELAY_S,
    ),
    "mcp_server_airs_tenant_rate": (
        "AIRS_MCP_AIRS_TENANT_RATE",
        config.AIRS_TENANT_REQUESTS_PER_SECOND,
    ),
    "mcp_server_fleet_refresh_seconds": (
        "AIRS_MCP_FLEET_REFRESH_SECONDS",
        config.DEFAULT_FLEET_REFRESH_S,
    ),
}
OVERRIDES = {
    "mcp_server_batch_concurrency": 8,
    "mcp_server_batch_requests_per_second": 40.5,
    "mcp_server_batch_burst": 5,
    "mcp_server_client_requests_per_second": 2.5,
    "mcp_server_client_request_burst": 7,
    "mcp_server_client_airs_calls_in_flight": 0,
    "mcp_server_client_airs_requests_per_minute": 600,
    "mcp_server_memory_refuse_fraction": 0.7,
    "mcp_server_heap_trim_after_closes": 0,
    "mcp_server_heap_trim_delay_seconds": 2.5,
    "mcp_server_airs_tenant_rate": 300,
    "mcp_server_fleet_refresh_seconds": 5,
}


def _play(tmp_path: Path, extra_vars: dict) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "server.yaml"
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Preflight and render the mcp_server Deployment",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")},
                    "tasks": [
                        {
                            "name": "Preflight",
                            "ansible.builtin.include_role": {
                                "name": "airs.mcp_k8s.mcp_server",
                                "tasks_from": "preflight",
                                "public": True,
                            },
                        },
                        {
                            "name": "Stub what deploy.yml reads from the cluster",
                            "ansible.builtin.set_fact": {
                                "_mcp_server_secret_checksum": "test",
                                "_mcp_server_service_monitor_crd": {"resources": []},
                            },
                        },
                        {
                            "name": "Render",
                            "ansible.builtin.copy": {
                                "content": RENDER,
                                "dest": str(out),
                                "mode": "0600",
                            },
                        },
                    ],
                }
            ]
        )
    )
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "KUBECONFIG": str(tmp_path / "no-cluster"),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            "localhost,",
            str(playbook),
            f"-e@{vars_file}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return proc, out


def _server_env(out: Path) -> dict[str, str]:
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_role_defaults_are_the_servers_defaults() -> None:
    defaults = role_defaults("mcp_server")
    for variable, (_, server_default) in SETTINGS.items():
        assert defaults[variable] == server_default, variable


@pytest.mark.parametrize("overrides", [{}, OVERRIDES], ids=["defaults", "overridden"])
def test_deployment_env_carries_the_settings(overrides: dict, tmp_path: Path) -> None:
    proc, out = _play(tmp_path, overrides)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    env = _server_env(out)
    defaults = role_defaults("mcp_server")
    for variable, (name, _) in SETTINGS.items():
        assert float(env[name]) == overrides.get(variable, defaults[variable]), name
    # The server takes them as rendered.
    settings = config.Settings.from_env(
        {
            **env,
            "PANW_AI_SEC_API_KEY": "k" * 32,
            "PANW_AI_PROFILE_NAME": "p",
            "AIRS_MCP_AUTH": "none",
        }
    )
    assert settings.batch_concurrency == overrides.get("mcp_server_batch_concurrency", 20)
    assert settings.memory_refuse_fraction == overrides.get(
        "mcp_server_memory_refuse_fraction", 0.85
    )
    assert settings.heap_trim_delay_s == overrides.get("mcp_server_heap_trim_delay_seconds", 10)
    limits = settings.client_limits
    assert limits.requests_per_second == overrides.get(
        "mcp_server_client_requests_per_second", config.DEFAULT_CLIENT_REQUESTS_PER_SECOND
    )
    assert limits.airs_calls_in_flight == overrides.get(
        "mcp_server_client_airs_calls_in_flight", config.DEFAULT_CLIENT_AIRS_CALLS_IN_FLIGHT
    )
    assert limits.airs_requests_per_minute == overrides.get(
        "mcp_server_client_airs_requests_per_minute",
        config.DEFAULT_CLIENT_AIRS_REQUESTS_PER_MINUTE,
    )
    # The fleet share: on, counting the pods behind the headless Service the template renders.
    assert settings.fleet_peers == ("aisecurity-mcp-server-peers.aisecurity.svc",)
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    (peers,) = [d for d in docs if d["metadata"]["name"] == "aisecurity-mcp-server-peers"]
    assert (peers["kind"], peers["spec"]["clusterIP"]) == ("Service", "None")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert peers["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_turning_the_fleet_share_off_drops_the_peers_and_their_service(tmp_path: Path) -> None:
    proc, out = _play(tmp_path, {"mcp_server_fleet_share": False})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "AIRS_MCP_FLEET_PEERS" not in _server_env(out)
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Service"] == [
        "aisecurity-mcp-server"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("mcp_server_batch_concurrency", 0),
        ("mcp_server_batch_concurrency", 65),
        ("mcp_server_batch_requests_per_second", -1),
        ("mcp_server_batch_requests_per_second", 10001),
        ("mcp_server_batch_burst", 0),
        ("mcp_server_batch_burst", 1001),
        ("mcp_server_memory_refuse_fraction", -0.1),
        ("mcp_server_memory_refuse_fraction", 1.5),
        ("mcp_server_heap_trim_after_closes", -1),
        ("mcp_server_heap_trim_after_closes", 1000001),
        ("mcp_server_heap_trim_delay_seconds", -1),
        ("mcp_server_heap_trim_delay_seconds", 3601),
        ("mcp_server_airs_tenant_rate", 0),
        ("mcp_server_fleet_refresh_seconds", 3601),
        ("mcp_server_client_requests_per_second", -1),
        ("mcp_server_client_request_burst", 0),
        ("mcp_server_client_airs_calls_in_flight", -1),
        ("mcp_server_client_airs_requests_per_minute", 10000001),
    ],
)
def test_preflight_refuses_out_of_range_values(variable: str, value: float, tmp_path: Path) -> None:
    proc, out = _play(tmp_path, {variable: value})
    assert proc.returncode != 0
    assert f"{variable} must be between" in proc.stdout, proc.stdout[-4000:]
    assert not out.exists()


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("mcp_server_memory_refuse_fraction", 0, "0"),
        ("mcp_server_batch_requests_per_second", 0, "0"),
        ("mcp_server_fleet_share", False, "false"),
        ("mcp_server_client_requests_per_second", 0, "0"),
        ("mcp_server_client_airs_calls_in_flight", 0, "0"),
        ("mcp_server_client_airs_requests_per_minute", 0, "0"),
    ],
)
def test_turning_a_protection_off_is_warned_about(
    variable: str, value: float, shown: str, tmp_path: Path
) -> None:
    proc, _ = _play(tmp_path, {variable: value})
    assert proc.returncode == 0, proc.stdout[-4000:]
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "SECURITY:" in line]
    assert [w for w in warnings if f"SECURITY: {variable}={shown}:" in w], warnings
    # The role's defaults leave every protection on: no such warning.
    proc, _ = _play(tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"SECURITY: {variable}={shown}:" not in proc.stdout + proc.stderr
