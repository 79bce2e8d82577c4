"""Render the role variable tables of the documentation from the roles' argument specs.

    python tools/role_variables.py                 print the tables
    python tools/role_variables.py --write FILE... replace the block between the markers
    python tools/role_variables.py --check FILE... exit 1 when a block is out of date

The block sits between ``<!-- role-variables:start -->`` and ``<!-- role-variables:end -->``.
Two files carry it: the collection's README (shipped in the collection) and the project's
``docs/configuration.md``; ``scripts/test.sh lint`` checks both.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

COLLECTION = Path(__file__).resolve().parents[1]
# The roles users call, in site.yml's order, then the demo-only double. Every one has a ``main``
# and an ``uninstall`` entry point.
ROLES = ("metallb", "mcp_secret", "mcp_server", "traefik", "mcp_ingress", "airs_api_double")
# Used only by the other roles (shared task logic); documented in the collection README's text.
INTERNAL_ROLES = ("k8s_apply", "tls_ca")
START = "<!-- role-variables:start -->"
END = "<!-- role-variables:end -->"
# ansible-doc markup for code, italics and option names, shown as code.
_MARKUP = re.compile(r"\b[CIO]\(([^)]*)\)")


def _text(value: object) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = " ".join(str(value).split())
    return _MARKUP.sub(r"`\1`", text).replace("|", "\\|")


def _default(option: dict) -> str:
    if "default" not in option:
        return "see description"
    value = option["default"]
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value)}`"


def _type(option: dict) -> str:
    kind = option.get("type", "str")
    if kind == "list" and "elements" in option:
        kind = f"list of {option['elements']}"
    if "choices" in option:
        kind += " (" + ", ".join(str(c) for c in option["choices"]) + ")"
    return kind


def load_spec(role: str) -> dict:
    path = COLLECTION / "roles" / role / "meta" / "argument_specs.yml"
    return yaml.safe_load(path.read_text())["argument_specs"]["main"]


def render() -> str:
    parts = []
    for role in ROLES:
        spec = load_spec(role)
        parts.append(f"#### `airs.mcp_k8s.{role}`: {_text(spec['short_description'])}\n")
        parts.append("| Variable | Type | Default | Description |")
        parts.append("|---|---|---|---|")
        for name, option in spec["options"].items():
            row = [f"`{name}`", _type(option), _default(option), _text(option["description"])]
            if option.get("required"):
                row[3] = "**Required.** " + row[3]
            parts.append("| " + " | ".join(row) + " |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def replace_block(text: str, table: str) -> str:
    start, end = text.index(START), text.index(END)
    return text[: start + len(START)] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", nargs="+", type=Path, metavar="FILE")
    group.add_argument("--check", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    table = render()
    if args.write:
        for path in args.write:
            path.write_text(replace_block(path.read_text(), table))
        return 0
    if args.check:
        stale = [p for p in args.check if replace_block(p.read_text(), table) != p.read_text()]
        for path in stale:
            print(f"{path}: role variable table out of date; run {__file__} --write {path}")
        return 1 if stale else 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
