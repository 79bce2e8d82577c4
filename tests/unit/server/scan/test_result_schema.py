"""The tools' published output schemas are flat (no ``$defs``/``$ref``), describe every field
of every nested model, and accept exactly what the result models accept, read as draft-07 (the
declared dialect) or as 2020-12 (MCP's default).

The schemas are the ones ``MCPServer`` publishes for the registered tools, in process; the
integration test ``tests/integration/server/scan/test_result_schema.py`` checks them over the wire.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any, get_args

import jsonschema
import pytest
from airs_mcp.observability.metrics import Metrics
from airs_mcp.scan.models import (
    BatchItemResult,
    BatchScanResult,
    Detection,
    MaskedText,
    ReportEntry,
    ScanReportsOutput,
    ScanResultEntry,
    ScanResultsOutput,
    ScanSummary,
)
from airs_mcp.scan.result_schema import DIALECT, FlatSchemaModel
from airs_mcp.scan.tools import register_tools
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, TypeAdapter, ValidationError

RETURNS = {
    "pan_inline_scan": ScanSummary,
    "pan_batch_scan": BatchScanResult,
    "pan_get_scan_results": ScanResultsOutput,
    "pan_get_scan_reports": ScanReportsOutput,
}
DIALECTS = (jsonschema.Draft7Validator, jsonschema.Draft202012Validator)
# Replacement values of every JSON type but numbers with a fraction (which pydantic and JSON
# Schema treat differently for integers on purpose).
OTHER_VALUES: tuple[Any, ...] = (None, 0, "s", True, [], {}, ["s"], {"k": "v"})


async def published() -> dict[str, dict[str, Any]]:
    server = MCPServer("unit")
    register_tools(server, lambda: pytest.fail("no tool is called"), Metrics())
    return {tool.name: tool.output_schema for tool in await server.list_tools()}


def keys(node: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every object key in ``node`` with the path of the object holding it."""

    def walk(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield path, key
                yield from walk(inner, (*path, key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                yield from walk(inner, (*path, str(index)))

    return walk(node, ())


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in nested_models(arg)]


def object_schemas(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a property holds: itself, its ``anyOf`` branches, its ``items``."""
    found = [prop] if prop.get("type") == "object" and "properties" in prop else []
    for branch in prop.get("anyOf", []):
        found += object_schemas(branch)
    if isinstance(prop.get("items"), dict):
        found += object_schemas(prop["items"])
    return found


def check_described(model: type[BaseModel], schema: dict[str, Any]) -> set[type[BaseModel]]:
    """Assert ``schema`` describes ``model`` field by field, nested models included; returns
    the models it checked."""
    assert schema["type"] == "object"
    assert schema.get("description") == (inspect.cleandoc(model.__doc__ or "") or None)
    fields = model.model_fields
    assert list(schema["properties"]) == list(fields), model
    required = [name for name, field in fields.items() if field.is_required()]
    assert schema.get("required", []) == required, model
    seen = {model}
    for name, field in fields.items():
        prop = schema["properties"][name]
        assert prop.get("description") == field.description, (model, name)
        inner = nested_models(field.annotation)
        if inner:
            branches = object_schemas(prop)
            assert len(branches) == len(inner), (model, name)
            for nested, branch in zip(inner, branches, strict=True):
                seen |= check_described(nested, branch)
        else:  # a plain field: the type, enum and items pydantic gives its annotation alone
            alone = TypeAdapter(field.annotation).json_schema()
            assert {key: prop[key] for key in alone} == alone, (model, name)
    return seen


def mutations(instance: Any) -> Iterator[Any]:
    """Copies of ``instance`` with one value replaced by another JSON type, or one key
    dropped, at every position."""
    if isinstance(instance, dict):
        for key, value in instance.items():
            rest = {k: v for k, v in instance.items() if k != key}
            yield rest
            for other in OTHER_VALUES:
                if other != value:
                    yield {**instance, key: other}
            for changed in mutations(value):
                yield {**instance, key: changed}
    elif isinstance(instance, list):
        for index, value in enumerate(instance):
            for other in OTHER_VALUES:
                yield [*instance[:index], other, *instance[index + 1 :]]
            for changed in mutations(value):
                yield [*instance[:index], changed, *instance[index + 1 :]]


SUMMARY = ScanSummary(
    scan_id="0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1",
    report_id="R0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1",
    category="malicious",
    action="block",
    tr_id="t1",
    prompt_detected=["injection"],
    response_detected=["dlp"],
    response_masked_data=MaskedText(data="card XXXX", patterns=["Credit Card Number"]),
    errors=["prompt/dlp: timeout"],
)
RESULTS = {
    "pan_inline_scan": SUMMARY,
    "pan_batch_scan": BatchScanResult(
        items=[
            BatchItemResult(index=0, req_id=0, scan_id="s1", report_id="Rs1"),
            BatchItemResult(index=1, error="nothing to scan"),
        ],
        submitted=1,
        failed=1,
        requests=1,
    ),
    "pan_get_scan_results": ScanResultsOutput(
        results=[
            ScanResultEntry(scan_id=SUMMARY.scan_id, req_id=0, status="complete", result=SUMMARY),
            ScanResultEntry(scan_id="s2", status="pending"),
        ]
    ),
    "pan_get_scan_reports": ScanReportsOutput(
        reports=[
            ReportEntry(
                report_id=SUMMARY.report_id,
                scan_id=SUMMARY.scan_id,
                req_id=0,
                status="found",
                detections=[
                    Detection(
                        data_type="prompt",
                        detection_service="urlf",
                        verdict="malicious",
                        action="block",
                        details={"urlf_report": [{"url": "https://x.test/", "risk": "high"}]},
                    )
                ],
            )
        ]
    ),
}


async def test_published_output_schemas_are_flat_with_one_root_dialect() -> None:
    schemas = await published()
    assert set(schemas) == set(RETURNS)
    for name, schema in schemas.items():
        found = list(keys(schema))
        assert not [k for k in found if k[1] in ("$ref", "$defs", "definitions")], name
        assert [path for path, key in found if key == "$schema"] == [()], name
        assert schema["$schema"] == DIALECT
        assert schema == TypeAdapter(RETURNS[name]).json_schema(), name


async def test_every_field_of_every_nested_model_is_described() -> None:
    schemas = await published()
    checked: set[type[BaseModel]] = set()
    for name, schema in schemas.items():
        checked |= check_described(RETURNS[name], schema)
    assert checked == {
        ScanSummary,
        MaskedText,
        BatchScanResult,
        BatchItemResult,
        ScanResultsOutput,
        ScanResultEntry,
        ScanReportsOutput,
        ReportEntry,
        Detection,
    }


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.__name__)
async def test_schemas_accept_exactly_what_the_models_accept(dialect: Any) -> None:
    schemas = await published()
    for name, schema in schemas.items():
        dialect.check_schema(schema)
        validator = dialect(schema)
        model = RETURNS[name]
        valid = RESULTS[name].model_dump(mode="json")
        assert validator.is_valid(valid), list(validator.iter_errors(valid))
        compared = rejected = 0
        for changed in mutations(valid):
            try:
                model.model_validate_json(json.dumps(changed), strict=True)
                accepted = True
            except ValidationError:
                accepted = False
            assert validator.is_valid(changed) == accepted, (name, changed)
            compared += 1
            rejected += not accepted
        assert compared > 50, (name, compared)
        assert rejected > 10, (name, rejected)


def test_a_recursive_model_is_refused() -> None:
    class Tree(BaseModel):
        children: list[Tree] = []

    class Forest(FlatSchemaModel):
        tree: Tree

    Tree.model_rebuild()
    with pytest.raises(TypeError, match="refers to itself"):
        TypeAdapter(Forest).json_schema()
