"""Shared pytest set-up: the process-starting fixtures of tests/fixtures, imported once."""

from tests.fixtures.cluster import (  # noqa: F401 - fixtures are found by name
    _cluster_session,
    embedded_cluster,
    embedded_cluster_session,
    embedded_control_plane,
    embedded_control_plane_session,
)
