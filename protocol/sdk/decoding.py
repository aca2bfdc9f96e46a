"""Reading server frames as a client must (PROTOCOL.md section 12): typed, but tolerant.

The models in :mod:`protocol.messages` are the server's promise: they reject unknown fields and
require every field a server of *this* version sends. A client must be looser both ways, and
:func:`convert` is, at any depth (nested objects, lists of them, the ``data`` of results and
events):

- a **newer server** adds fields: those the model does not know are dropped;
- an **older server** leaves out fields added later in v1: a missing field reads as the neutral
  value section 12 gives its type: ``None`` if the type is optional (``X | None``), empty for a
  sequence (list, ``tuple[X, ...]``, set) or a mapping that may be empty, ``False`` for a
  ``bool``.

A missing field of any other type (an id, a ``str``, a ``Literal``, a nested object that cannot
be null) has no neutral value and still fails loudly, with ``msgspec.ValidationError`` naming the
field and where it is: ``Object missing required field `id` - at `$.post```. So does an ``int``:
section 12 does not list it, and no number is neutral for every int field (0 for
``limits.message_burst``, added in 1.1.0, would mean "never send a message").

How, and why this way: the shared codec decodes the frame first, so a frame from a server of
this SDK's version costs one decode and nothing more. Only when that fails is the frame
normalised, in one walk guided by the model's type information (:func:`msgspec.inspect.type_info`,
read once per model class and cached): unknown keys are deleted and missing neutral fields set.
It is then decoded once more, and that answer, value or error, is final. So the work is bounded
by the frame's size, one walk and two decodes at most however many fields need fixing; the walk
costs about twice a decode (measured on a page of 100 posts), hence only on demand.

The other way, used before, reads msgspec's error (``... - at `$.posts[3]```), fixes that one
field and decodes again. It costs a decode per field, and there are many: a page of 100 posts
from a 1.0 server lacks 600, one from a newer server that added three fields to Post has 300
unknown ones (more than the 256 that loop allowed, so such a page failed). To fill in a field it
must also find the field's type from the error's path, which is this walk again, and it hangs
on the wording of msgspec's messages.

Requests are encoded by the codec too, leaving out arguments at their default, so that a
request sent to an older server carries no argument it may not know yet.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
import orjson

from protocol import codec
from protocol import messages as m

__all__ = ["convert", "encode_request", "neutral", "normalise", "parse_frame"]

_S = TypeVar("_S", bound=msgspec.Struct)
#: Normalises one decoded JSON value, in place, for the type it was made for.
_Walk = Callable[[Any], None]
_ARRAYS = (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    """One server frame as a JSON object (``ValueError`` if it is not one)."""
    frame = orjson.loads(raw)
    if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
        raise ValueError("a server frame is a JSON object with an `op`")
    return frame


def convert(data: dict[str, Any], model: type[_S]) -> _S:
    """``data`` as ``model``, as section 12 asks a client to read it: fields ``model`` does not
    know are ignored, and missing fields that have a neutral value read as it (module doc).
    ``data`` may be changed."""
    try:
        return codec.decode_result(model, data)
    except msgspec.ValidationError:
        pass  # a newer or an older server: normalise, then the second answer is final
    normalise(data, model)
    return codec.decode_result(model, data)


def normalise(data: dict[str, Any], model: type[msgspec.Struct]) -> None:
    """Normalise ``data``, in place, as :func:`convert` does before its second decode: unknown
    keys dropped, missing fields with a neutral value set to it. A compact event (section 3.5)
    comes out whole."""
    _shape(model).normalise(data)


@dataclass(frozen=True, slots=True)
class _Shape:
    """How to normalise the JSON object of one Struct class."""

    #: Its fields' names on the wire, and its tag field (``op``) if it has one.
    known: frozenset[str]
    #: Required fields with a neutral value, and a function making that value.
    neutral: tuple[tuple[str, Callable[[], object]], ...]
    #: Fields whose values hold objects that may need normalising in turn.
    nested: tuple[tuple[str, _Walk], ...]

    def normalise(self, value: Any) -> None:
        if not isinstance(value, dict):
            return  # not an object: the decoder says what is wrong with it
        for key in [key for key in value if key not in self.known]:
            del value[key]
        for name, fill in self.neutral:
            if name not in value:
                value[name] = fill()
        for name, walk in self.nested:
            child = value.get(name)
            if child is not None:
                walk(child)


@functools.cache
def _shape(cls: type[msgspec.Struct]) -> _Shape:
    """Read once per class. A nested Struct's shape is looked up when a value is walked, so a
    recursive model (a Post's ``repost_of``) is no loop here."""
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):  # pragma: no cover - a Struct class is a StructType
        raise TypeError(f"{cls!r} is not a Struct")
    known = {field.encode_name for field in info.fields}
    if info.tag_field is not None:
        known.add(info.tag_field)
    neutrals: list[tuple[str, Callable[[], object]]] = []
    nested: list[tuple[str, _Walk]] = []
    for field in info.fields:
        fill = neutral(field.type) if field.required else None
        if fill is not None:
            neutrals.append((field.encode_name, fill))
        walk = _walker(field.type)
        if walk is not None:
            nested.append((field.encode_name, walk))
    return _Shape(frozenset(known), tuple(neutrals), tuple(nested))


def _unwrap(t: mi.Type) -> mi.Type:
    while isinstance(t, mi.Metadata):
        t = t.type
    return t


def _null() -> None:
    return None


def neutral(t: mi.Type) -> Callable[[], object] | None:
    """What section 12 reads an absent field of type ``t`` as, or None if nothing."""
    t = _unwrap(t)
    if isinstance(t, mi.UnionType):
        return _null if any(isinstance(_unwrap(member), mi.NoneType) for member in t.types) else None
    if isinstance(t, mi.BoolType):
        return bool
    if isinstance(t, _ARRAYS):
        return list if not t.min_length else None  # on the wire every sequence is an array
    if isinstance(t, mi.DictType):
        return dict if not t.min_length else None
    return None


def _walker(t: mi.Type) -> _Walk | None:
    """A function normalising values of type ``t``; None if they cannot hold an object."""
    t = _unwrap(t)
    if isinstance(t, mi.StructType):
        if t.array_like:
            return None  # encoded as an array: no names to fill in or drop
        return functools.partial(_normalise_as, t.cls)
    if isinstance(t, _ARRAYS):
        item = _walker(t.item_type)
        return None if item is None else functools.partial(_each, item)
    if isinstance(t, mi.TupleType):
        items = [_walker(item_type) for item_type in t.item_types]
        return functools.partial(_zip, items) if any(items) else None
    if isinstance(t, mi.DictType):
        item = _walker(t.value_type)
        return None if item is None else functools.partial(_each_value, item)
    if isinstance(t, mi.UnionType):
        return _union(t)
    return None


def _normalise_as(cls: type[msgspec.Struct], value: Any) -> None:
    _shape(cls).normalise(value)  # looked up when called, so recursive models need no care


def _each(walk: _Walk, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            if item is not None:
                walk(item)


def _each_value(walk: _Walk, value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            if item is not None:
                walk(item)


def _zip(walks: list[_Walk | None], value: Any) -> None:
    if isinstance(value, list):
        for walk, item in zip(walks, value, strict=False):
            if walk is not None and item is not None:
                walk(item)


def _union(t: mi.UnionType) -> _Walk | None:
    """msgspec allows one array type in a union, and one object type unless they are Structs
    told apart by a tag: pick by the value's JSON type, then by its tag."""
    members = [_unwrap(member) for member in t.types]
    structs = [member for member in members if isinstance(member, mi.StructType)]
    objects: _Walk | None
    if len(structs) > 1:
        tag_field = structs[0].tag_field
        objects = functools.partial(_by_tag, tag_field, {s.tag: _walker(s) for s in structs})
    else:
        objects = next((_walker(t) for t in members if isinstance(t, mi.StructType | mi.DictType)), None)
    arrays = next((_walker(t) for t in members if isinstance(t, (*_ARRAYS, mi.TupleType))), None)
    if objects is None and arrays is None:
        return None
    return functools.partial(_by_json_type, objects, arrays)


def _by_tag(tag_field: str | None, walks: dict[object, _Walk | None], value: dict[str, Any]) -> None:
    walk = walks.get(value.get(tag_field)) if tag_field is not None else None
    if walk is not None:
        walk(value)


def _by_json_type(objects: _Walk | None, arrays: _Walk | None, value: Any) -> None:
    if isinstance(value, dict) and objects is not None:
        objects(value)
    elif isinstance(value, list) and arrays is not None:
        arrays(value)


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
