"""The mcp_ingress IngressRoutes, rendered by Ansible's own templating from the role's files.

The OAuth metadata rule must name exactly the paths the server serves in OAuth mode (taken from
the server's routes, not written down twice), and appear only when asked for.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from airs_mcp.auth.resource_metadata import metadata_routes
from airs_mcp.auth.settings import OAuthConfig
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from starlette.routing import Route

from harness.checkout import COLLECTION

ROLE = COLLECTION / "roles" / "mcp_ingress"
PATH_MATCHER = re.compile(r"Path\(`([^`]*)`\)")


def render(**variables: Any) -> list[dict[str, Any]]:
    """The template's documents, with the role's defaults and vars and ``variables`` on top."""
    values: dict[str, Any] = {}
    for source in (ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml"):
        values.update(yaml.safe_load(source.read_text()))
    values.update(variables)
    # Role files are trusted templates in Ansible 2.19; so they are here.
    trusted = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in values.items()}
    templar = Templar(loader=DataLoader(), variables=trusted)
    source = (ROLE / "templates" / "ingressroute.yaml.j2").read_text()
    text = templar.template(trust_as_template(source))
    return [document for document in yaml.safe_load_all(text) if document]


def ingress_routes(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == "IngressRoute"]


def metadata_rules(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for rule in route["spec"]["routes"] if "oauth-protected-resource" in rule["match"]]


def served_metadata_paths(resource: str) -> set[str]:
    config = OAuthConfig(
        issuer="https://login.example", jwks_url="https://j.example", resource=resource
    )
    return {route.path for route in metadata_routes(config) if isinstance(route, Route)}


def test_oauth_metadata_is_not_routed_by_default() -> None:
    routes = ingress_routes(render())
    assert len(routes) == 2  # plain and HTTPS
    assert all(metadata_rules(route) == [] for route in routes)


def test_oauth_metadata_rule_names_the_paths_the_server_serves() -> None:
    routes = ingress_routes(render(mcp_ingress_oauth_metadata_enabled=True))
    served = served_metadata_paths("https://mcp.example/mcp")  # the plain and the RFC 9728 path
    assert served_metadata_paths("https://mcp.example") <= served
    for route in routes:
        [rule] = metadata_rules(route)
        assert set(PATH_MATCHER.findall(rule["match"])) == served, rule["match"]
        assert "PathPrefix" not in rule["match"]  # nothing else under /.well-known/
        assert [service["name"] for service in rule["services"]] == ["aisecurity-mcp-server"]
        assert [m["name"] for m in rule["middlewares"]] == [
            "aisecurity-mcp-server-rate-limit",
            "aisecurity-mcp-server-in-flight",
        ]


def test_oauth_metadata_rule_keeps_the_host_restriction() -> None:
    documents = render(mcp_ingress_oauth_metadata_enabled=True, mcp_ingress_host="mcp.example")
    for route in ingress_routes(documents):
        [rule] = metadata_rules(route)
        assert rule["match"].startswith("Host(`mcp.example`) && (Path("), rule["match"]
        assert rule["match"].endswith(")")
