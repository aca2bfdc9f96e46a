"""Generate the AsyncAPI 3.0 document of protocol v1 from the models in :mod:`protocol.messages`.

``python -m protocol.spec`` rewrites ``protocol/asyncapi.json``; ``python -m protocol.spec
--check`` exits 1 if the committed file differs from what the models say (the test suite runs
it). Message names in the document:

- a client request: its op (``post.create``), and its reply ``post.create.ok``;
- ``auth``, ``hello``, ``ready``, ``error``;
- an event: ``event.<type>`` (``event.post.created``).

Every message, every payload schema and every inline enum has a ``title``, so code generators
(AsyncAPI Modelina) name their models after it: a component schema is titled by its model
(``PostCreate``), an inline envelope by its message name in CamelCase (``PostCreateOk``,
``EventPostCreated``), an enum by its model and field (``PostCreateOp``, ``MemberRole``).

The schemas are msgspec's, put in one canonical form by :mod:`protocol.schema_norm` so the
document does not change with the msgspec or Python version. One is reshaped: ``Post`` refers to
itself (``repost_of``, ``quote_of``), but an embedded post is one level deep (PROTOCOL.md section
1, Post), so the document says exactly that with ``EmbeddedPost``, whose own ``repost_of`` and
``quote_of`` are null. That makes the schemas free of cycles, which documentation tools need: the
AsyncAPI HTML template samples an example payload from each schema, and a self-referring schema
with two recursive fields doubles its sample at every level down to the sampler's depth limit
(15). Replies name no channel, for the same tool (see :func:`_reply`).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson

from . import messages as m
from .codec import MAX_FRAME_BYTES, PROTOCOL_NAME
from .errors import CLOSE_MEANINGS, ERROR_MEANINGS
from .schema_norm import normalise

SPEC_PATH = Path(__file__).with_name("asyncapi.json")
_REF = "#/components/schemas/{name}"

Schema = dict[str, Any]


def _ref(model: type[msgspec.Struct]) -> Schema:
    return {"$ref": _REF.format(name=model.__name__)}


def _frame(properties: dict[str, Schema], required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _doc(model: type) -> str:
    return " ".join((model.__doc__ or "").split())


def _title(message_name: str) -> str:
    """``post.create.ok`` -> ``PostCreateOk``: a schema title for an inline envelope."""
    return "".join(part[:1].upper() + part[1:] for part in message_name.replace("_", ".").split("."))


#: Model -> (name of its one-level copy, the fields that embed the model itself, what the copy is).
_EMBEDDED = {
    "Post": (
        "EmbeddedPost",
        ("repost_of", "quote_of"),
        "A post embedded in another (its ``repost_of`` or ``quote_of``): one level deep, so its "
        "own ``repost_of`` and ``quote_of`` are always null (PROTOCOL.md section 1, Post).",
    ),
}


def _title_enums(model: str, schema: Schema) -> Schema:
    """``schema`` with each property's inline ``enum`` titled ``<Model><Field>`` (``MemberRole``).

    msgspec writes a ``Literal`` field (and every request's ``op``) as an inline enum; code
    generators make a type of each and, untitled, call it ``AnonymousSchema_N``.
    """
    if not isinstance(schema.get("properties"), dict):
        return schema

    def titled(node: Schema, title: str) -> Schema:
        if "enum" in node and "title" not in node:
            return {"title": title, **node}  # first, as normalise orders it (no $ref here)
        if isinstance(node.get("anyOf"), list):
            return {**node, "anyOf": [titled(member, title) for member in node["anyOf"]]}
        return node

    properties = {name: titled(value, model + _title(name)) for name, value in schema["properties"].items()}
    return {**schema, "properties": properties}


def _reply(*messages: Schema) -> Schema:
    """A reply on the connection the request came in on.

    No ``channel``: the optional field would only repeat the operation's own channel (the
    messages' ``$ref``s already name it), and the AsyncAPI HTML template renders, for every reply
    that names a channel, every message of that channel with a generated example. That is 61
    replies times 138 messages, a page quadratic in the protocol's size, which ran the renderer
    out of heap.
    """
    return {"messages": list(messages)}


def _retarget(schema: Any, old: str, new: str) -> Any:
    """``schema`` with every ``$ref`` to ``old`` pointing at ``new`` instead."""
    if isinstance(schema, dict):
        return {k: new if k == "$ref" and v == old else _retarget(v, old, new) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_retarget(v, old, new) for v in schema]
    return schema


def _one_level(schemas: dict[str, Schema]) -> dict[str, Schema]:
    """Replace each self-reference listed in :data:`_EMBEDDED` by a reference to a one-level copy."""
    out = dict(schemas)
    for name, (embedded, fields, description) in _EMBEDDED.items():
        model = schemas[name]
        own, copy_ref = _REF.format(name=name), _REF.format(name=embedded)
        properties = model["properties"]
        out[name] = {
            **model,
            "properties": {
                key: _retarget(value, own, copy_ref) if key in fields else value
                for key, value in properties.items()
            },
        }
        copy = {**model, "title": embedded, "description": description}
        copy["properties"] = {
            key: {"type": "null"} if key in fields else value for key, value in properties.items()
        }
        out[embedded] = normalise(copy)
    return out


def build() -> dict[str, Any]:
    """The AsyncAPI document as a dict (deterministic: same models, same document)."""
    models: list[Any] = [
        *m.CLIENT_FRAME_TYPES,
        m.Hello,
        m.Ready,
        m.Error,
        *m.RESULT_TYPES.values(),
        *m.EVENT_TYPES,
    ]
    _, emitted = msgspec.json.schema_components(models, ref_template=_REF)
    schemas = _one_level({name: _title_enums(name, normalise(s)) for name, s in emitted.items()})
    request_id = schemas["Heartbeat"]["properties"]["id"]
    id_schema = schemas["PostDelete"]["properties"]["post_id"]

    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def message(name: str, payload: Schema, summary: str, description: str = "") -> Schema:
        if "$ref" not in payload:  # an inline envelope; a component schema has its model's title
            payload = {"title": _title(name), **payload}
        messages[name] = {"name": name, "title": name, "summary": summary, "payload": payload}
        if description:
            messages[name]["description"] = description
        return {"$ref": f"#/channels/gateway/messages/{name}"}

    error_ref = message(
        "error",
        _ref(m.Error),
        "A request failed; the connection stays open.",
        "Codes: " + "; ".join(f"`{code}`: {text}" for code, text in ERROR_MEANINGS.items()),
    )
    hello_ref = message("hello", _ref(m.Hello), _doc(m.Hello))
    ready_ref = message("ready", _ref(m.Ready), "Answers a successful auth.", _doc(m.Ready))
    auth_ref = message("auth", _ref(m.Auth), "The first client frame.", _doc(m.Auth))
    operations["sendHello"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/gateway"},
        "messages": [hello_ref],
        "summary": "Sent on every new connection.",
    }
    operations["receiveAuth"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/gateway"},
        "messages": [auth_ref],
        "reply": _reply(ready_ref),
    }
    for request_type, result_type in m.RESULT_TYPES.items():
        op = m.op_of(request_type)
        request_ref = message(op, _ref(request_type), _doc(request_type) or f"The {op} request.")
        ok_payload = _frame(
            {"op": {"const": "ok"}, "id": request_id, "data": _ref(result_type)},
            ["op", "id", "data"],
        )
        ok_ref = message(f"{op}.ok", ok_payload, f"The answer to a successful {op}.")
        operations[f"receive.{op}"] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/gateway"},
            "messages": [request_ref],
            "reply": _reply(ok_ref, error_ref),
        }
    event_refs = []
    for event_type in m.EVENT_TYPES:
        properties: dict[str, Schema] = {
            "op": {"const": "event"},
            "seq": {"type": "integer", "minimum": 1},
            "type": {"const": event_type.TYPE},
        }
        required = ["op", "seq", "type", "data"]
        if event_type.STREAM is not None:
            properties["stream"] = {"const": event_type.STREAM}
            properties["pos"] = id_schema
            required += ["stream", "pos"]
        properties["data"] = _ref(event_type)
        event_refs.append(
            message(
                f"event.{event_type.TYPE}", _frame(properties, required), _doc(event_type) or event_type.TYPE
            )
        )
    operations["sendEvents"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/gateway"},
        "messages": event_refs,
        "summary": "Events pushed to the client, each with a per-connection seq.",
    }
    close_codes = "; ".join(
        f"{int(code)} {code.name.lower()}: {text}" for code, text in CLOSE_MEANINGS.items()
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tsudoi gateway",
            "version": "1.15.1",
            "description": (
                "Protocol v1 of the Tsudoi WebSocket gateway; the prose specification is "
                "protocol/PROTOCOL.md. Generated from protocol/messages.py by "
                "`python -m protocol.spec`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "pathname": "/ws",
                "description": f"Subprotocol {PROTOCOL_NAME}; text frames of at most {MAX_FRAME_BYTES} bytes.",
            }
        },
        "channels": {
            "gateway": {
                "address": "/ws",
                "title": "The gateway connection",
                "description": f"Close codes: {close_codes}",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            }
        },
        "operations": operations,
        "components": {
            "messages": {name: value for name, value in messages.items()},
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render() -> bytes:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2) + b"\n"


def stale_diff(committed: str, rendered: str, context: int = 3, limit: int = 40) -> str:
    """The first ``limit`` lines of a unified diff from the committed document to the rendered one."""
    lines = list(
        difflib.unified_diff(
            committed.splitlines(),
            rendered.splitlines(),
            "protocol/asyncapi.json (committed)",
            "protocol/asyncapi.json (from the models)",
            n=context,
            lineterm="",
        )
    )
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"... {len(lines) - limit} more diff lines")
    return "\n".join(shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if asyncapi.json is stale")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check:
        committed = SPEC_PATH.read_bytes() if SPEC_PATH.exists() else b""
        if committed != rendered:
            print(f"{SPEC_PATH} is stale: run python -m protocol.spec", file=sys.stderr)
            print(stale_diff(committed.decode("utf-8", "replace"), rendered.decode()), file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_bytes(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
