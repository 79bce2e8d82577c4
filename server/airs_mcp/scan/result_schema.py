"""A base for the tools' result models: a flat output schema that is cheap to check.

Why: the stock mcp 1.x client (what fastmcp 2.x users run) checks every result with
``jsonschema.validate``, which re-checks the schema against its dialect's metaschema and
resolves its ``$ref``s on every call. pydantic's default (nested models as ``$defs``/``$ref``,
dialect 2020-12, whose metaschema is seven vocabularies joined by ``$dynamicRef``) cost ~13 ms a
call here; inlined but still 2020-12 it costs as much, inlined and declared draft-07 under 2 ms
(``bench/README.md``, ``output_schema``).

So a ``FlatSchemaModel`` inlines every model it nests (no ``$defs``/``$ref``; descriptions,
types, enums, defaults and required lists kept) and declares draft-07 at the root. The schemas
use only keywords that mean the same in draft-07 and 2020-12, so a client reading them as
2020-12 accepts the same results. The server still validates results with the pydantic models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["DIALECT", "FlatSchemaModel"]

DIALECT = "http://json-schema.org/draft-07/schema#"
# Keywords whose values are instance data, not subschemas: never resolved as references.
_DATA_KEYWORDS = frozenset({"default", "enum", "const", "examples"})


class FlatSchemaModel(BaseModel):
    """A model whose JSON schema inlines every model it nests and declares ``DIALECT``."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # pydantic drops the definitions nothing refers to any more, so no ``$defs`` is left.
        flat = _inline(handler(core_schema), handler, ())
        return {"$schema": DIALECT, **flat}


def _inline(node: Any, handler: GetJsonSchemaHandler, path: tuple[str, ...]) -> Any:
    """``node`` with each ``{"$ref": ...}`` replaced by the definition it names (its own keys
    win, as a ``$ref``'s siblings do); an inlined definition loses its ``$schema``."""
    if isinstance(node, list):
        return [_inline(item, handler, path) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in path:
            raise TypeError(f"{ref} refers to itself: a recursive model cannot be inlined")
        target = handler.resolve_ref_schema({"$ref": ref})
        merged = {k: v for k, v in target.items() if k != "$schema"}
        merged.update((k, v) for k, v in node.items() if k != "$ref")
        return _inline(merged, handler, (*path, ref))
    return {
        key: value if key in _DATA_KEYWORDS else _inline(value, handler, path)
        for key, value in node.items()
    }
