"""protocol.schema_norm: the schema output of every msgspec/Python variant maps to one document."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from protocol import messages as m
from protocol.schema_norm import normalise

_REF = "#/components/schemas/{name}"


def _emitted() -> dict[str, Any]:
    """What the locked msgspec emits for every model the document describes."""
    models: list[Any] = [
        *m.CLIENT_FRAME_TYPES,
        m.Hello,
        m.Ready,
        m.Error,
        *m.RESULT_TYPES.values(),
        *m.EVENT_TYPES,
    ]
    _, schemas = msgspec.json.schema_components(models, ref_template=_REF)
    return schemas


def _rewrite(value: Any, *, indent: bool, null_first: bool) -> Any:
    """``value`` as another msgspec/Python would emit it.

    ``indent``: descriptions keep the docstring's four-space continuation indent (msgspec 0.22 on
    Python < 3.13), blank lines staying empty. ``null_first``: ``{"type": "null"}`` opens a
    nullable ``anyOf`` (msgspec <= 0.21).
    """
    if isinstance(value, list):
        return [_rewrite(v, indent=indent, null_first=null_first) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "description" and isinstance(item, str) and indent:
            first, *rest = item.split("\n")
            item = "\n".join([first, *("    " + line if line else line for line in rest)])
        elif key == "anyOf" and null_first:
            item = sorted(
                _rewrite(item, indent=indent, null_first=null_first), key=lambda s: s != {"type": "null"}
            )
        else:
            item = _rewrite(item, indent=indent, null_first=null_first)
        out[key] = item
    return out


VARIANTS = list(itertools.product([False, True], repeat=2))


@pytest.mark.parametrize(
    ("indent", "null_first"), VARIANTS, ids=[f"indent={i}-null_first={n}" for i, n in VARIANTS]
)
def test_every_variant_normalises_to_the_same_schemas(indent: bool, null_first: bool) -> None:
    emitted = _emitted()
    variant = _rewrite(emitted, indent=indent, null_first=null_first)
    if indent or null_first:
        assert variant != emitted  # the variant really is another shape
    assert {k: normalise(v) for k, v in variant.items()} == {k: normalise(v) for k, v in emitted.items()}


def test_descriptions_are_cleaned_like_cleandoc() -> None:
    schema = {"type": "object", "description": "First line.\n\n    Second paragraph,\n    wrapped.\n    "}
    assert normalise(schema)["description"] == "First line.\n\nSecond paragraph,\nwrapped."


def test_null_moves_last_and_other_members_keep_their_order() -> None:
    schema = {"anyOf": [{"type": "null"}, {"$ref": "#/a"}, {"type": "integer"}]}
    assert normalise(schema)["anyOf"] == [{"$ref": "#/a"}, {"type": "integer"}, {"type": "null"}]


def test_keywords_in_a_fixed_order_and_properties_in_field_order() -> None:
    schema = {
        "additionalProperties": False,
        "required": ["b", "a"],
        "properties": {"b": {"maxLength": 3, "type": "string"}, "a": {"type": "integer"}},
        "type": "object",
        "title": "T",
    }
    out = normalise(schema)
    assert list(out) == ["title", "type", "properties", "required", "additionalProperties"]
    assert list(out["properties"]) == ["b", "a"]
    assert list(out["properties"]["b"]) == ["type", "maxLength"]
    assert out["required"] == ["b", "a"]


def test_data_keywords_are_left_alone() -> None:
    # A property named "description" is a schema, and enum/default/examples values are data.
    schema = {
        "properties": {"description": {"type": "string", "default": "  a\n    b"}},
        "enum": [{"type": "null"}, "x"],
        "examples": ["  indented\n    text"],
    }
    out = normalise(schema)
    assert out["properties"]["description"]["default"] == "  a\n    b"
    assert out["enum"] == [{"type": "null"}, "x"]
    assert out["examples"] == ["  indented\n    text"]


def test_normalise_does_not_change_its_argument() -> None:
    schema = {"anyOf": [{"type": "null"}, {"type": "string"}], "description": "a\n    b"}
    normalise(schema)
    assert schema == {"anyOf": [{"type": "null"}, {"type": "string"}], "description": "a\n    b"}
