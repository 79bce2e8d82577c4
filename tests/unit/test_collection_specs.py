"""Static checks of the Ansible collection: specs, defaults, documented tables, vault, no_log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.fixtures.ansible import collection_tool, example_vault, load_module

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "airs" / "mcp_k8s"
VAULT = ROOT / "inventories" / "example" / "group_vars" / "all" / "vault.yml"


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


ROLE_TOOL = collection_tool("role_variables")
ROLES: tuple[str, ...] = ROLE_TOOL.ROLES


def test_every_role_is_listed_once() -> None:
    on_disk = {path.name for path in (COLLECTION / "roles").iterdir() if path.is_dir()}
    listed = [*ROLE_TOOL.ROLES, *ROLE_TOOL.INTERNAL_ROLES]
    assert sorted(listed) == sorted(on_disk)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_spec_list_the_same_variables(role: str) -> None:
    defaults = _yaml(COLLECTION / "roles" / role / "defaults" / "main.yml")
    specs = _yaml(COLLECTION / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = specs["main"]["options"]
    assert set(defaults) == set(options)
    assert all(name.startswith(f"{role}_") for name in options)
    assert all(opt.get("description") for opt in options.values())
    assert "uninstall" in specs


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_mirror_the_role_defaults(role: str) -> None:
    defaults = _yaml(COLLECTION / "roles" / role / "defaults" / "main.yml")
    options = _yaml(COLLECTION / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"][
        "main"
    ]["options"]
    for name, option in options.items():
        if "default" in option:
            assert option["default"] == defaults[name], name
        else:
            # Computed defaults are described in words instead.
            assert "Default:" in option["description"], name


def test_documented_tables_match_the_specs() -> None:
    tool = ROLE_TOOL
    table = tool.render()
    for doc in (COLLECTION / "README.md", ROOT / "docs" / "configuration.md"):
        text = doc.read_text()
        assert tool.replace_block(text, table) == text, f"{doc}: run role_variables.py --write"
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == sum(
        len(
            _yaml(COLLECTION / "roles" / r / "meta" / "argument_specs.yml")["argument_specs"][
                "main"
            ]["options"]
        )
        for r in ROLES
    )


def test_every_task_touching_the_secret_is_no_log() -> None:
    tasks_dir = COLLECTION / "roles" / "mcp_secret" / "tasks"
    touching = []
    for path in sorted(tasks_dir.glob("*.yml")):
        for task in _yaml(path) or []:
            text = yaml.safe_dump(task)
            if "mcp_secret_api_key" in text or "secret.yaml.j2" in text or "kind: Secret" in text:
                touching.append(task["name"])
                assert task.get("no_log") is True, f"{path.name}: {task['name']}"
    assert "Apply the Secret {{ mcp_secret_name }}" in touching, touching
    server = _yaml(COLLECTION / "roles" / "mcp_server" / "tasks" / "deploy.yml")
    # The registered Secret itself (names and its checksum derived from it are not secret).
    reads = [t for t in server if re.search(r"\b_mcp_server_secret\b", yaml.safe_dump(t))]
    assert reads
    assert all(t.get("no_log") is True for t in reads)


def test_example_vault_is_encrypted_and_holds_the_placeholder() -> None:
    raw = VAULT.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert b"placeholder" not in raw
    plain = example_vault()
    assert set(plain) == {"vault_airs_api_key", "vault_airs_profile_name", "vault_airs_mcp_tokens"}
    assert plain["vault_airs_api_key"].startswith("placeholder-")
    # The demo's client token: public like the demo password, long enough for the server.
    assert [len(token) >= 32 for token in plain["vault_airs_mcp_tokens"]] == [True]


def test_applied_changes_filter_ignores_status_and_bookkeeping() -> None:
    filters = load_module(COLLECTION / "plugins" / "filter" / "k8s_changes.py")
    changed = filters.k8s_applied_changes
    status_only = {
        "changed": True,
        "method": "apply",
        "diff": {
            "before": {"metadata": {"resourceVersion": "1"}, "status": {"replicas": 0}},
            "after": {"metadata": {"resourceVersion": "2"}, "status": {"replicas": 1}},
        },
    }
    spec_change = {
        "changed": True,
        "method": "apply",
        "diff": {"before": {"spec": {"replicas": 2}}, "after": {"spec": {"replicas": 3}}},
    }
    label_change = {
        "changed": True,
        "method": "apply",
        "diff": {"before": {"metadata": {}}, "after": {"metadata": {"labels": {"a": "b"}}}},
    }
    assert changed(status_only) is False
    assert changed(spec_change) is True
    assert changed(label_change) is True
    assert changed({"changed": True, "method": "create"}) is True
    assert changed({"changed": False}) is False
    assert changed({"changed": True, "result": {"results": [status_only, status_only]}}) is False
    assert changed({"changed": True, "result": {"results": [status_only, spec_change]}}) is True


def test_collection_metadata() -> None:
    galaxy = _yaml(COLLECTION / "galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == ("airs", "mcp_k8s")
    major = int(galaxy["version"].split(".")[0])
    assert major >= 1
    runtime = _yaml(COLLECTION / "meta" / "runtime.yml")
    assert re.fullmatch(r">=\d+\.\d+\.\d+", runtime["requires_ansible"])
    assert runtime["action_groups"]["k8s"] == [
        {"metadata": {"extend_group": ["kubernetes.core.k8s"]}},
        "rollout_wait",
    ]
