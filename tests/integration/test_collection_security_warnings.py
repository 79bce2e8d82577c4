"""Every ``SECURITY:`` warning of the roles appears when its protection is turned off, and only
then.

``site.yml --check`` runs against the embedded control plane (the preflights read the cluster)
with the roles' preflight tags, where the warnings are given (the ``security_warning`` action).
A first run has every protection on and must print no warning at all. Each later run turns off
one protection of each role at once (the warnings name their variable, so they cannot be
mistaken for each other) and must print exactly the warnings of those.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.playbooks import PlaybookRun, run_playbook
from tests.fixtures.ansible import (
    vault_password_file,  # noqa: F401 - fixture
    write_vars,
)
from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFLIGHTS = "metallb_preflight,traefik_preflight,mcp_server_preflight,mcp_ingress_preflight"
DIGEST = "sha256:" + hashlib.sha256(b"pinned").hexdigest()
# Every protection on (the example inventory leaves two off: images by tag, no HTTPS redirect).
ALL_ON = {
    "metallb_image_digests": {
        "quay.io/metallb/controller": DIGEST,
        "quay.io/metallb/speaker": DIGEST,
    },
    "traefik_image_digest": DIGEST,
    "traefik_web_redirect_to_https": True,
}


@dataclass(frozen=True)
class Protection:
    """A protection turned off (``settings``) and the start of the warning that must then
    appear."""

    role: str
    settings: dict[str, Any]
    text: str

    @property
    def id(self) -> str:
        return next(iter(self.settings))


PROTECTIONS = (
    Protection("metallb", {"metallb_image_digests": {}},
        "SECURITY: metallb_image_digests={}: the MetalLB images run by tag;"),
    # Without HTTPS there is nothing to redirect to: the redirect's own warning stays away.
    Protection("traefik", {"traefik_websecure_enabled": False,
                           "traefik_web_redirect_to_https": False},
        "SECURITY: traefik_websecure_enabled=false: no HTTPS entrypoint;"),
    Protection("traefik", {"traefik_web_redirect_to_https": False},
        "SECURITY: traefik_web_redirect_to_https=false: the plain-HTTP web entrypoint serves "
        "the MCP routes;"),
    Protection("traefik", {"traefik_pod_security_level": "baseline"},
        "SECURITY: traefik_pod_security_level=baseline: Pod Security Admission no longer "
        "enforces the restricted profile in traefik."),
    Protection("traefik", {"traefik_image_digest": ""},
        'SECURITY: traefik_image_digest="": docker.io/library/traefik:'),
    Protection("traefik", {"traefik_read_timeout_seconds": 0},
        "SECURITY: traefik_read_timeout_seconds=0: no bound on reading a request;"),
    Protection("traefik", {"traefik_dashboard_expose": True},
        "SECURITY: traefik_dashboard_expose=true: the dashboard port is published on the "
        "Service"),
    Protection("mcp_server", {"mcp_server_auth": "none"},
        "SECURITY: mcp_server_auth=none: anyone who reaches the server can call every tool"),
    Protection("mcp_server", {"mcp_server_network_policy_enabled": False},
        "SECURITY: mcp_server_network_policy_enabled=false: any pod in the cluster can reach "
        "the server pods directly"),
    Protection("mcp_server", {"mcp_server_pod_security_level": "privileged"},
        "SECURITY: mcp_server_pod_security_level=privileged: Pod Security Admission no "
        "longer enforces the restricted profile in aisecurity."),
    Protection("mcp_server", {"mcp_server_max_sse_sessions": 0},
        "SECURITY: mcp_server_max_sse_sessions=0: no cap on open SSE sessions per pod."),
    Protection("mcp_server", {"mcp_server_limit_concurrency": 0},
        "SECURITY: mcp_server_limit_concurrency=0: no cap on concurrent connections per pod."),
    Protection("mcp_server", {"mcp_server_memory_refuse_fraction": 0},
        "SECURITY: mcp_server_memory_refuse_fraction=0: no memory refusal;"),
    Protection("mcp_server", {"mcp_server_batch_requests_per_second": 0},
        "SECURITY: mcp_server_batch_requests_per_second=0: pan_batch_scan sends unpaced;"),
    Protection("mcp_server", {"mcp_server_client_requests_per_second": 0},
        "SECURITY: mcp_server_client_requests_per_second=0: one credential may send MCP "
        "messages as fast as a pod takes them"),
    Protection("mcp_server", {"mcp_server_client_airs_calls_in_flight": 0},
        "SECURITY: mcp_server_client_airs_calls_in_flight=0: one credential may hold any "
        "number of AIRS calls open at once"),
    Protection("mcp_server", {"mcp_server_client_airs_requests_per_minute": 0},
        "SECURITY: mcp_server_client_airs_requests_per_minute=0: one credential may spend the "
        "AIRS tenant's whole rate limit"),
    Protection("mcp_ingress", {"mcp_ingress_tls_entry_points": []},
        "SECURITY: mcp_ingress_tls_entry_points=[]: the MCP routes are served over plain "
        "HTTP only;"),
    Protection("mcp_ingress", {"mcp_ingress_rate_limit_enabled": False},
        "SECURITY: mcp_ingress_rate_limit_enabled=false: no per-client request rate limit"),
    Protection("mcp_ingress", {"mcp_ingress_in_flight_limit_enabled": False},
        "SECURITY: mcp_ingress_in_flight_limit_enabled=false: no per-client cap on "
        "simultaneous requests"),
)  # fmt: skip


def _rounds() -> list[tuple[Protection, ...]]:
    """Run k turns off the k-th protection of every role that has one."""
    by_role = [list(group) for _, group in itertools.groupby(PROTECTIONS, key=lambda p: p.role)]
    return [tuple(p for p in round_ if p is not None) for round_ in itertools.zip_longest(*by_role)]


ROUNDS = _rounds()


def _flat(output: str) -> str:
    """The output with every run of whitespace as one space: Ansible wraps long warnings."""
    return " ".join(output.split())


def _warning_count(output: str) -> int:
    return _flat(output).count("[WARNING]: SECURITY:")


class Runs:
    """The check-mode preflight runs, each made once and shared by the tests that read it."""

    def __init__(self, cluster: EmbeddedCluster, password: Path, directory: Path) -> None:
        self.cluster = cluster
        self.password = password
        self.directory = directory
        self.done: dict[int, PlaybookRun] = {}

    def run(self, index: int, turned_off: tuple[Protection, ...]) -> PlaybookRun:
        if index not in self.done:
            settings = dict(ALL_ON)
            for protection in turned_off:
                settings |= protection.settings
            variables = write_vars(self.directory / f"round-{index}.yml", settings)
            self.done[index] = run_playbook(
                "site.yml",
                self.cluster.kubeconfig,
                vault_password_file=self.password,
                vars_files=(variables,),
                args=("--check", "--tags", PREFLIGHTS),
            ).check()
        return self.done[index]


@pytest.fixture(scope="module")
def runs(
    embedded_control_plane_session: EmbeddedCluster,
    vault_password_file: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Runs:
    return Runs(embedded_control_plane_session, vault_password_file, tmp_path_factory.mktemp("sw"))


def test_no_warning_with_every_protection_on(
    runs: Runs, embedded_control_plane: EmbeddedCluster
) -> None:
    run = runs.run(-1, ())
    assert "Warn about protections turned off" in run.output  # the warning tasks did run
    assert "SECURITY:" not in run.output, run.output[-4000:]


@pytest.mark.parametrize(
    ("index", "protection"),
    [(i, p) for i, round_ in enumerate(ROUNDS) for p in round_],
    ids=lambda value: value.id if isinstance(value, Protection) else f"round{value}",
)
def test_a_protection_turned_off_is_warned_about(
    runs: Runs, embedded_control_plane: EmbeddedCluster, index: int, protection: Protection
) -> None:
    run = runs.run(index, ROUNDS[index])
    assert f"[WARNING]: {protection.text}" in _flat(run.output), run.output[-6000:]
    # Nothing but the warnings of this round's protections, each once.
    assert _warning_count(run.output) == len(ROUNDS[index]), run.output[-6000:]
