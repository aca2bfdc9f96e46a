"""Compact events (PROTOCOL.md section 3.5) say exactly what full ones do: every field they may
leave out has one reading, and every example event of PROTOCOL.md comes back whole through the
SDK's reader and through the page's (``web/js/ws.js`` ``expand``, run by Node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import orjson
import pytest

from protocol import messages as m
from protocol.codec import EVENT_HEAD, compact_tail, event_frame
from protocol.sdk.decoding import neutral, normalise
from server.gateway import connection

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
#: Every example event frame of PROTOCOL.md, as (its type, the frame).
EXAMPLES = [
    (frame["type"], frame)
    for body in re.findall(r"```json event\.[\w.]+\n(.*?)```", DOC, re.S)
    for frame in [json.loads(body)]
]


def tail_of(frame: dict[str, Any]) -> bytes:
    """The shared tail of an example frame, as the server would have encoded it."""
    return orjson.dumps(frame)[len(EVENT_HEAD % frame["seq"]) :]


def compact_data(frame: dict[str, Any]) -> dict[str, Any]:
    compact: dict[str, Any] = orjson.loads(event_frame(frame["seq"], compact_tail(tail_of(frame))))
    return compact


def _kinds(t: mi.Type) -> set[type[mi.Type]]:
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return set().union(*(_kinds(member) for member in t.types))
    return {type(t)}


def _payload_structs() -> list[mi.StructType]:
    found: dict[type[msgspec.Struct], mi.StructType] = {}

    def walk(t: mi.Type) -> None:
        while isinstance(t, mi.Metadata):
            t = t.type
        if isinstance(t, mi.StructType):
            if t.cls not in found:
                found[t.cls] = t
                for field in t.fields:
                    walk(field.type)
        elif isinstance(t, mi.UnionType):
            for member in t.types:
                walk(member)
        elif isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
            walk(t.item_type)
        elif isinstance(t, mi.DictType):
            walk(t.value_type)

    for event in m.EVENT_TYPES:
        walk(mi.type_info(event))
    return list(found.values())


def test_every_field_a_compact_event_may_leave_out_has_one_reading() -> None:
    """A field that can be null, false or [] is left out at that value, so it must read back as
    it: it takes only one of the three, and if it has a default, the default is that value."""
    neutral_kinds = {mi.NoneType, mi.BoolType, mi.ListType}
    checked = 0
    for struct in _payload_structs():
        for field in struct.fields:
            kinds = _kinds(field.type) & neutral_kinds
            where = f"{struct.cls.__name__}.{field.name}"
            if not kinds:
                continue
            assert len(kinds) == 1, f"{where} may be {kinds}: a compact event could not tell them apart"
            make = neutral(field.type)
            assert make is not None, f"{where} has no neutral reading"
            if not field.required:
                default = (
                    field.default_factory()
                    if field.default_factory is not msgspec.NODEFAULT
                    else field.default
                )
                assert default == make(), f"{where} defaults to {default!r}, but is read back as {make()!r}"
            checked += 1
    assert checked > 30  # Post, User, Media, Message, ... (the walk reached them)


def test_the_examples_cover_the_events() -> None:
    assert len(EXAMPLES) >= 20 and {"post.created", "dm.message", "notification"} <= {t for t, _ in EXAMPLES}


@pytest.mark.parametrize(("event_type", "frame"), EXAMPLES, ids=[f"{t}-{f['seq']}" for t, f in EXAMPLES])
def test_a_compact_example_reads_back_whole_through_the_sdk(event_type: str, frame: dict[str, Any]) -> None:
    compact = compact_data(frame)
    assert {k: v for k, v in compact.items() if k != "data"} == {
        k: v for k, v in frame.items() if k != "data"
    }
    normalise(compact["data"], m.EVENT_BY_TYPE[event_type])
    assert compact["data"] == frame["data"]


def test_compact_leaves_out_only_null_false_and_empty_members() -> None:
    data: dict[str, Any] = {
        "a": None,
        "b": False,
        "c": [],
        "d": 0,
        "e": "",
        "f": [None, False, [], {"g": None}],
        "h": {},
    }
    tail = orjson.dumps({"type": "x", "data": data})[1:]
    assert orjson.loads(b"{" + compact_tail(tail)) == {
        "type": "x",
        "data": {"d": 0, "e": "", "f": [None, False, [], {}], "h": {}},
    }


def test_the_compact_example_in_the_document_is_the_first_post_created_compacted() -> None:
    (shown,) = re.findall(r"```json compact event\.post\.created\n(.*?)```", DOC, re.S)
    first = next(frame for event_type, frame in EXAMPLES if event_type == "post.created")
    assert json.loads(shown) == compact_data(first)
    sizes = re.search(r"(\d+) bytes on the wire\s+instead of (\d+)", DOC)
    assert sizes is not None
    assert (int(sizes[1]), int(sizes[2])) == (
        len(event_frame(first["seq"], compact_tail(tail_of(first)))),
        len(event_frame(first["seq"], tail_of(first))),
    )


@pytest.mark.skipif(
    shutil.which("node") is None, reason="the page's reader runs in Node (scripts/test installs it)"
)
def test_every_compact_example_reads_back_whole_in_the_page(tmp_path: Path) -> None:
    cases = [
        {"type": t, "data": compact_data(frame)["data"], "whole": frame["data"]} for t, frame in EXAMPLES
    ]
    (tmp_path / "package.json").write_text('{"type": "module"}')
    script = tmp_path / "expand.js"
    script.write_text(
        f'import {{ expand }} from "{(ROOT / "web" / "js" / "ws.js").as_uri()}";\n'
        f'import {{ EVENT_SHAPES }} from "{(ROOT / "web" / "js" / "shapes.js").as_uri()}";\n'
        'import fs from "node:fs";\n'
        "const cases = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
        "for (const c of cases) expand(EVENT_SHAPES[c.type], c.data);\n"
        "console.log(JSON.stringify(cases.map((c) => c.data)));\n"
    )
    run = subprocess.run(
        ["node", str(script)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [case["whole"] for case in cases]


def test_replayed_tails_are_made_compact_once_each_and_the_memory_of_them_is_bounded() -> None:
    tails = [b'"type":"post.deleted","data":{"post_id":"%d","community_id":null}}' % n for n in range(5)]
    first = connection._compacted(tails[0])
    assert first == compact_tail(tails[0]) and b"community_id" not in first
    assert connection._compacted(tails[0]) is first  # the same copy for the next connection
    for n in range(connection.COMPACTED_MAX + 10):
        connection._compacted(b'"type":"x","data":{"n":%d,"gone":null}}' % n)
    assert len(connection._COMPACTED) == connection.COMPACTED_MAX
    assert tails[0] not in connection._COMPACTED  # the oldest went first
