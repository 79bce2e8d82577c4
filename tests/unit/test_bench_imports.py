"""What bench/ and harness/ import: no cycle between bench modules, nothing from tests/.

Benchmarks run as ``python -m bench.<name>`` without pytest; what they share with the tests is
the ``harness`` package, which imports neither the tests nor the benchmarks. Imports inside
functions count as well: one there only hides a cycle until that function runs.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported_names(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at any depth of its code; for ``from a
    import b`` both ``a`` and ``a.b`` (``b`` may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: str) -> dict[str, set[str]]:
    """Module of ``package`` -> the modules of the same package it imports."""
    paths = {module_name(path): path for path in sorted((ROOT / package).glob("*.py"))}
    return {name: imported_names(path) & set(paths) - {name} for name, path in paths.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One import path per cycle found, each from a module back to itself."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append([*path[path.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return found


def imports_from(package: str, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """Module of ``package`` -> what it imports from under any of ``prefixes``."""
    found = {}
    for path in sorted((ROOT / package).glob("*.py")):
        hits = sorted(
            name
            for name in imported_names(path)
            if any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)
        )
        if hits:
            found[module_name(path)] = hits
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_bench_module_imports_another_that_imports_it_back() -> None:
    graph = import_graph("bench")
    assert "bench.suite" in graph  # the glob found the benchmarks
    assert cycles(graph) == []


def test_bench_imports_nothing_from_the_tests() -> None:
    assert imports_from("bench", ("tests",)) == {}


def test_harness_imports_neither_the_tests_nor_the_benchmarks() -> None:
    assert (ROOT / "harness").is_dir()
    assert imports_from("harness", ("tests", "bench")) == {}
