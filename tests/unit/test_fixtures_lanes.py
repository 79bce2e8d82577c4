"""Which lane a test runs in under ``pytest -n`` (tests/fixtures/lanes.py)."""

from __future__ import annotations

from tests.fixtures.lanes import CLUSTER_LANE, DOCKER_LANE, lane


def test_kind_runs_in_the_docker_lane_though_it_is_an_e2e_file() -> None:
    assert lane("tests/e2e/test_kind.py::test_kind_scenario_passes") == DOCKER_LANE


def test_every_other_e2e_file_and_the_control_plane_tests_share_the_cluster_lane() -> None:
    assert lane("tests/e2e/test_deploy.py::test_objects_are_in_place") == CLUSTER_LANE
    assert lane("tests/e2e/test_hardening.py::test_x[a::b]") == CLUSTER_LANE
    assert lane("tests/integration/test_collection_control_plane.py::test_y") == CLUSTER_LANE
    assert lane("tests/integration/test_cluster_lifecycle_restart.py::test_r") == CLUSTER_LANE


def test_any_other_file_is_a_lane_of_its_own() -> None:
    assert lane("tests/integration/test_mcp_auth.py::test_z[wrong-token]") == (
        "tests/integration/test_mcp_auth.py"
    )
    assert lane("tests/unit/test_summary.py::a") != lane("tests/unit/test_traefik_config.py::a")
