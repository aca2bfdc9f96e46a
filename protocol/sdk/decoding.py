"""Reading server frames as a client must (PROTOCOL.md section 12): typed, but tolerant.

The models in :mod:`protocol.messages` reject unknown fields, which is right for the server's
own checks; a client, though, must ignore fields a newer v1 server adds. :func:`convert` asks
the shared codec for the typed value and, when it refuses an unknown field, drops that field
and asks again. Everything else (a wrong type, a missing field) still fails loudly.

Requests are encoded by the codec too, leaving out arguments at their default, so that a
request sent to an older server carries no argument it may not know yet.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import orjson

from protocol import codec
from protocol import messages as m

__all__ = ["convert", "encode_request", "parse_frame"]

_S = TypeVar("_S", bound=msgspec.Struct)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`(?: - at `\$([^`]*)`)?$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
#: More unknown fields than this in one frame is not a newer server but a broken one.
_MAX_DROPPED = 256


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """One server frame as a JSON object (``ValueError`` if it is not one)."""
    frame = orjson.loads(raw)
    if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
        raise ValueError("a server frame is a JSON object with an `op`")
    return frame


def convert(data: dict[str, Any], model: type[_S]) -> _S:
    """``data`` as ``model``, ignoring fields ``model`` does not know. ``data`` may be changed."""
    for _ in range(_MAX_DROPPED):
        try:
            return codec.decode_result(model, data)
        except msgspec.ValidationError as exc:
            unknown = _UNKNOWN_FIELD.match(str(exc))
            if unknown is None or not _drop(data, unknown.group(2) or "", unknown.group(1)):
                raise
    raise msgspec.ValidationError(f"more than {_MAX_DROPPED} unknown fields")


def _drop(data: Any, path: str, field: str) -> bool:
    node = data
    for step in _STEP.finditer(path):
        key, index = step.groups()
        try:
            node = node[key] if key is not None else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(node, dict) and field in node:
        del node[field]
        return True
    return False


def encode_request(frame: m.Request) -> bytes:
    """A request frame as sent: its op, its id and the arguments that differ from their default."""
    body: dict[str, Any] = {"op": m.op_of(type(frame)), "id": frame.id}
    for field in msgspec.structs.fields(frame):
        if field.name == "id":
            continue
        value = getattr(frame, field.name)
        if not field.required:
            default = (
                field.default_factory() if field.default_factory is not msgspec.NODEFAULT else field.default
            )
            if value == default:
                continue
        body[field.name] = value
    return codec.encode(body)
