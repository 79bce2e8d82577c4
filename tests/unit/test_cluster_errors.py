"""Every error of the embedded cluster has one base class, and the CLI reports each the same way.

The classes are found by importing every module of the package, so a new error class that does
not derive from ``EmbeddedClusterError`` fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import embedded_cluster
import pytest
from embedded_cluster import cli, lifecycle
from embedded_cluster.errors import EmbeddedClusterError


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    prefix = f"{embedded_cluster.__name__}."
    for info in pkgutil.walk_packages(embedded_cluster.__path__, prefix):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [cls for _, cls in sorted(found.items())]


ERRORS = _error_classes()


def test_the_package_defines_errors() -> None:
    assert len(ERRORS) > 10  # the walk found the modules (not an empty package path)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__qualname__)
def test_every_error_derives_from_the_one_base(cls: type[BaseException]) -> None:
    assert issubclass(cls, EmbeddedClusterError), f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__qualname__)
def test_cli_reports_every_error_the_same_way(
    cls: type[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> list[str]:
        raise cls("it broke")

    monkeypatch.setattr(lifecycle, "down", fail)
    assert cli.main(["down"]) == 1
    assert capsys.readouterr().err == "embedded-cluster: error: it broke\n"
