"""The wire codec of protocol v1: bytes in, typed frames out, and back. No I/O.

One implementation serves the server, the SDK, the load-test clients and the tests.

Fan-out is built on :func:`event_tail` and :func:`event_frame`: an event is serialised *once*
(the tail, everything after ``"seq":N,``) and each connection only prefixes its own sequence
number to the same bytes. The bus carries the tail, so a post is encoded once in the whole
cluster, however many nodes and followers see it.

See ``docs/topics/fanout.md`` in a checkout for how the server uses it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import deque
from typing import Any, TypeVar

import msgspec
import orjson

from .errors import ErrorCode, ProtocolError
from .messages import (
    CLIENT_FRAME_TYPES,
    EVENT_BY_TYPE,
    ClientFrame,
    Error,
    Event,
    EventData,
    Hello,
    Ok,
    Ready,
    ServerFrame,
    op_of,
)

__all__ = [
    "FEATURES",
    "MAX_FRAME_BYTES",
    "MAX_SERVER_FRAME_BYTES",
    "PROTOCOL_NAME",
    "compact_tail",
    "decode_client_frame",
    "decode_event_data",
    "decode_result",
    "decode_server_frame",
    "encode",
    "error_frame",
    "event_frame",
    "event_tail",
    "format_timestamp",
    "ok_frame",
    "parse_retry_after",
    "parse_timestamp",
    "retry_after_reason",
    "to_wire",
]

#: The WebSocket subprotocol a client must request; the version is part of the name.
PROTOCOL_NAME = "tsudoi.v1"
#: What ``hello.features`` announces: the opt-in behaviours a client may ask for in ``auth``.
FEATURES = ("compact",)
#: Largest frame a client may send; larger ones are refused by the WebSocket layer (1009).
MAX_FRAME_BYTES = 64 * 1024
#: No server frame is larger: the largest, a page of 100 posts, is at most about 100 × 9.5 KiB
#: (2,048 code points of at most 4 bytes, plus the author and fields). tests/unit checks it.
MAX_SERVER_FRAME_BYTES = 4 * 1024 * 1024

_FRAME_BY_OP: dict[str, type[ClientFrame]] = {op_of(t): t for t in CLIENT_FRAME_TYPES}
_PATH = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`(?: - at `(\$[^`]*)`)?$")
_RETRY_AFTER = re.compile(r"retry_after_ms=(\d+)")
_M = TypeVar("_M", bound=msgspec.Struct)
_ServerFrameUnion = Hello | Ready | Ok | Error | Event


def to_wire(value: Any) -> Any:
    """Structs, enums and containers to plain JSON-able builtins."""
    return msgspec.to_builtins(value)


def encode(value: Any) -> bytes:
    """Any frame or payload to JSON bytes (orjson)."""
    return orjson.dumps(msgspec.to_builtins(value))


_SURROGATE = re.compile("[\ud800-\udfff]")


def frame_op(data: str | bytes) -> str | None:
    """The ``op`` of a frame that failed to decode, if it has a readable one (for an answer that
    depends on what the client meant, such as a second ``auth``). Not for valid frames."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    op = obj.get("op") if isinstance(obj, dict) else None
    return op if isinstance(op, str) else None


def _request_id(obj: dict[str, Any]) -> str | None:
    rid = obj.get("id")
    if isinstance(rid, str) and 0 < len(rid) <= 64:
        return rid
    return None


def _with_lone_surrogate(data: str | bytes) -> tuple[Any, str] | None:
    """The document and the path of its first string holding a lone surrogate, when that is
    all that stopped orjson: JSON's grammar allows the escape ``"\\ud83d"``, but no UTF-8 text
    can hold what it means, so it is a refused value, not broken JSON. Else None. Only ever
    called on a frame orjson refused: the stdlib parser never sees a valid one."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        found = json.loads(text)
    except (ValueError, RecursionError):  # not JSON after all (UnicodeDecodeError is a ValueError)
        return None
    pending: deque[tuple[Any, str]] = deque([(found, "$")])
    while pending:  # breadth first, without recursion: a frame may nest deeply
        value, path = pending.popleft()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return found, path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return found, path
                pending.append((item, f"{path}.{key}"))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
    return None


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Parse one client text frame. Raises :class:`ProtocolError` saying what is wrong.

    The error's ``request_id`` carries the frame's ``id`` when one could be read, so the answer
    can still be matched to the request.
    """
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        lone = _with_lone_surrogate(data)
        if lone is None:
            raise ProtocolError(ErrorCode.INVALID_JSON, f"not JSON: {exc}") from None
        found, where = lone
        raise ProtocolError(
            ErrorCode.INVALID_FRAME,
            "a string holds a lone surrogate escape (\\ud800-\\udfff outside a pair): not Unicode text",
            path=where,
            request_id=_request_id(found) if isinstance(found, dict) else None,
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "a frame is a JSON object")
    rid = _request_id(obj)
    op = obj.get("op")
    if not isinstance(op, str):
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, "a frame needs an `op` string", path="$.op", request_id=rid
        )
    frame_type = _FRAME_BY_OP.get(op)
    if frame_type is None:
        raise ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown op {op[:64]!r}", request_id=rid)
    try:
        return msgspec.convert(obj, frame_type)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path: str | None
        unknown = _UNKNOWN_FIELD.match(message)
        if unknown:
            path = f"{unknown.group(2) or '$'}.{unknown.group(1)}"
        else:
            match = _PATH.search(message)
            path = match.group(1) if match else None
        raise ProtocolError(ErrorCode.INVALID_FRAME, message, path=path, request_id=rid) from None


def ok_frame(request_id: str, result: msgspec.Struct) -> bytes:
    return orjson.dumps({"op": "ok", "id": request_id, "data": msgspec.to_builtins(result)})


def error_frame(error: ProtocolError) -> bytes:
    frame = Error(
        id=error.request_id,
        code=error.code,
        message=error.message,
        path=error.path,
        retry_after_ms=error.retry_after_ms,
    )
    return encode(frame)


def retry_after_reason(ms: int) -> str:
    """The reason of a ``TRY_AGAIN_LATER`` (4007) close: ``retry_after_ms=N``, the wait before
    reconnecting (PROTOCOL.md section 8.5). The one place it is written."""
    return f"retry_after_ms={ms}"


def parse_retry_after(reason: str) -> int | None:
    """The wait, in ms, a ``TRY_AGAIN_LATER`` close reason gives; None if it gives none. The
    inverse of :func:`retry_after_reason` (error frames carry the same number as a field)."""
    told = _RETRY_AFTER.fullmatch(reason)
    return int(told.group(1)) if told else None


def event_tail(data: EventData, pos: str | None = None) -> bytes:
    """Serialise an event once, without its per-connection ``seq``: ``"type":...}``."""
    obj: dict[str, Any] = {"type": data.TYPE}
    if data.STREAM is not None:
        if pos is None:
            raise ValueError(f"{data.TYPE} belongs to stream {data.STREAM!r} and needs a pos")
        obj["stream"] = data.STREAM
        obj["pos"] = pos
    obj["data"] = msgspec.to_builtins(data)
    return orjson.dumps(obj)[1:]


def compact_tail(tail: bytes) -> bytes:
    """The compact form of an event's tail (``auth.compact``, PROTOCOL.md section 3.5): its
    ``data`` without the object members whose value is ``null``, ``false`` or ``[]``, at any
    depth. Made from the full tail once per event per node, not per recipient."""
    event = orjson.loads(b"{" + tail)
    event["data"] = _without_neutral(event["data"])
    return orjson.dumps(event)[1:]


def _without_neutral(value: Any) -> Any:
    """``value`` with every object member whose value is neutral (section 12) left out. Items of
    arrays are kept whatever they are: a position in an array carries meaning."""
    if isinstance(value, dict):
        return {
            key: _without_neutral(item)
            for key, item in value.items()
            if item is not None and item is not False and item != []
        }
    if isinstance(value, list):
        return [_without_neutral(item) for item in value]
    return value


#: What comes before an event's shared tail in the frame one connection receives: ``%`` its seq.
EVENT_HEAD = b'{"op":"event","seq":%d,'


def event_frame(seq: int, tail: bytes) -> bytes:
    """The frame one connection receives: its own ``seq`` in front of the shared tail."""
    return EVENT_HEAD % seq + tail


def decode_server_frame(data: str | bytes) -> ServerFrame:
    """Parse one server frame (for clients). Raises ``msgspec.ValidationError`` or ``ValueError``."""
    return msgspec.convert(orjson.loads(data), _ServerFrameUnion)  # type: ignore[no-any-return]


def decode_event_data(event_type: str, data: dict[str, Any]) -> EventData:
    """The typed payload of an event frame."""
    return msgspec.convert(data, EVENT_BY_TYPE[event_type])


def decode_result(result_type: type[_M], data: dict[str, Any]) -> _M:
    """The typed ``data`` of an ``ok`` frame, given the result type of the request's op."""
    return msgspec.convert(data, result_type)


def format_timestamp(ms: int) -> str:
    """Milliseconds since the epoch to the wire's RFC 3339 form (UTC, millisecond precision)."""
    return _second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    """The part of a timestamp before its milliseconds. ``strftime`` costs about 5 µs, and every
    heartbeat's answer and every post presented formats one: most fall in a second already
    formatted (0.6 µs then)."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_timestamp(text: str) -> int:
    """The inverse of :func:`format_timestamp` (exact: integer arithmetic, no float rounding)."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)
