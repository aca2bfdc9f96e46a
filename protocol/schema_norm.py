"""One canonical form for the JSON Schemas msgspec emits, so ``asyncapi.json`` depends on the models only.

msgspec's schema output has moved between releases without the models changing:

- msgspec 0.22 copied a docstring's continuation indent into ``description``; 0.23 strips it,
  and so does Python 3.13 itself, which dedents docstrings when it compiles them. Kept, that
  indent also turns a description into a CommonMark code block (four spaces after a blank line).
- msgspec 0.21 and older write a nullable field as ``anyOf: [{"type": "null"}, X]``; 0.22 and
  newer as ``[X, {"type": "null"}]``.

:func:`normalise` maps every such variant to one form: descriptions cleaned as
:func:`inspect.cleandoc` cleans a docstring, ``{"type": "null"}`` last in ``anyOf``/``oneOf``
(the other members keep their order), ``required`` in the order of ``properties`` (field order),
and a schema's keywords in a fixed order: ``$ref``, ``title``, ``description``, ``type``, the rest
by name, and last the object's shape (``properties``, ``required``, ``additionalProperties``). Maps of names (``properties``) keep their order: it is the models' field order.
Values that are data rather than schemas (``enum``, ``const``, ``default``, ``examples``) are left
exactly as they are.
"""

from __future__ import annotations

import inspect
from typing import Any

Schema = dict[str, Any]

_FIRST = ("$ref", "title", "description", "type")
_LAST = ("properties", "required", "additionalProperties")
#: Keywords whose value is one subschema.
_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
    }
)
#: Keywords whose value is a list of subschemas.
_MANY = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
#: Keywords whose value maps names to subschemas (their order is kept).
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_NULL: Schema = {"type": "null"}


def _keyword_order(key: str) -> tuple[int, int, str]:
    if key in _FIRST:
        return (0, _FIRST.index(key), key)
    if key in _LAST:
        return (2, _LAST.index(key), key)
    return (1, 0, key)


def normalise(schema: Any) -> Any:
    """The canonical form of ``schema`` (a new object; the argument is not changed)."""
    if not isinstance(schema, dict):
        return schema  # true/false schemas
    out: Schema = {}
    for key in sorted(schema, key=_keyword_order):
        value = schema[key]
        if key in ("description", "title") and isinstance(value, str):
            value = inspect.cleandoc(value)
        elif key in _ONE:
            value = normalise(value)
        elif key in _MANY and isinstance(value, list):
            members = [normalise(s) for s in value]
            if key in ("anyOf", "oneOf"):
                # Stable sort: only null moves, to the end, where msgspec >= 0.22 puts it.
                members.sort(key=lambda s: s == _NULL)
            value = members
        elif key in _NAMED and isinstance(value, dict):
            value = {name: normalise(s) for name, s in value.items()}
        out[key] = value
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        order = {name: i for i, name in enumerate(out["properties"])}
        out["required"] = sorted(out["required"], key=lambda name: order.get(name, len(order)))
    return out
