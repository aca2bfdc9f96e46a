"""Validate server frames against the committed AsyncAPI document (protocol/asyncapi.json)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from protocol.spec import SPEC_PATH

_BASE = "urn:tsudoi:asyncapi"
#: Every frame validated during this test process, by message name (the suite checks it grew).
VALIDATED: dict[str, int] = {}


class SchemaViolation(AssertionError):
    pass


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return document


@cache
def _validator(message: str) -> jsonschema.protocols.Validator:
    messages = _document()["components"]["messages"]
    if message not in messages:
        raise SchemaViolation(f"the AsyncAPI document has no message {message!r}")
    registry: Registry[Any] = Registry().with_resource(
        _BASE, Resource.from_contents(_document(), default_specification=DRAFT7)
    )
    schema = {"$ref": f"{_BASE}#/components/messages/{message}/payload"}
    return jsonschema.Draft7Validator(schema, registry=registry)


def message_name(frame: dict[str, Any], request_op: str | None = None) -> str:
    """Which AsyncAPI message a server frame must be; ``request_op`` for ok frames."""
    op = frame.get("op")
    if op == "event":
        return f"event.{frame.get('type')}"
    if op == "ok":
        if request_op is None:
            raise SchemaViolation(f"ok frame for an unknown request: {frame}")
        return f"{request_op}.ok"
    return str(op)


def validate(frame: dict[str, Any], request_op: str | None = None) -> str:
    """Validate a frame the server sent; returns the message name it was checked as."""
    return validate_as(message_name(frame, request_op), frame)


def validate_as(name: str, frame: dict[str, Any]) -> str:
    """Validate a frame as the named AsyncAPI message (client frames included)."""
    errors = sorted(_validator(name).iter_errors(frame), key=lambda e: list(e.path))
    if errors:
        detail = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        raise SchemaViolation(f"{name} frame does not match protocol/asyncapi.json: {detail}\n{frame}")
    VALIDATED[name] = VALIDATED.get(name, 0) + 1
    return name
