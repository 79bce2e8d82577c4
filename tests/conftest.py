"""Shared pytest set-up: the process-starting fixtures of tests/fixtures, imported once."""

from tests.fixtures.cluster import (  # noqa: F401 - fixtures are found by name
    _cluster_session,
    embedded_cluster,
    embedded_cluster_session,
    embedded_control_plane,
    embedded_control_plane_session,
)
from tests.fixtures.host_restore import pytest_configure  # noqa: F401 - hook by name
from tests.fixtures.images import (  # noqa: F401 - fixtures are found by name
    double_image,
    python_base_image,
    server_image,
)
from tests.fixtures.lanes import (  # noqa: F401 - hooks by name
    pytest_collection_modifyitems,
    pytest_xdist_make_scheduler,
)
from tests.fixtures.processes import (  # noqa: F401 - fixtures and the report hook by name
    airs_double,
    airs_double_session,
    mcp_server,
    pytest_runtest_makereport,
    start_mcp_server,
    start_mcp_server_module,
)
from tests.fixtures.traefik import (  # noqa: F401 - fixtures are found by name
    mcp_replicas,
    traefik_plain,
    traefik_sticky,
)
