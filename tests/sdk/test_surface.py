"""The SDK's typed surface is complete: a method per op, a class per error code, tolerant reads."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Literal, TypeGuard

import msgspec
import orjson
import pytest

from protocol import messages as m
from protocol.errors import CLOSE_RECONNECT_RANGE, CloseCode, ErrorCode, ProtocolError
from protocol.sdk import Client, codes, errors, generate
from protocol.sdk.cursors import JsonFileStore, MemoryStore, StreamCursors, floor_id
from protocol.sdk.decoding import convert, encode_request
from protocol.sdk.ops import EVENT_NAMES, Api
from server.ids import floor_id as server_floor_id

#: The event names ``Api.on`` accepts as literals; checked against ``EVENT_NAMES`` below, so a
#: new event type fails the test instead of going unregistered here.
EventName = Literal[
    "post.created",
    "post.deleted",
    "follow",
    "unfollow",
    "post.reactions",
    "community.membership",
    "dm.message",
    "dm.typing",
    "dm.read",
    "notification",
    "presence",
    "safety.status",
    "incident.started",
    "incident.ended",
    "user.updated",
    "community.certified",
    "post.counts",
    "community.join_request",
    "tag.post_created",
    "tag.post_deleted",
]


def is_event_name(name: str) -> TypeGuard[EventName]:
    return name in typing.get_args(EventName)


def test_the_generated_modules_are_up_to_date() -> None:
    assert generate.main(["--check"]) == 0


@pytest.mark.parametrize("request_type", m.REQUEST_TYPES, ids=m.op_of)
def test_every_op_has_a_typed_method(request_type: type[m.Request]) -> None:
    method = getattr(Api, generate.method_name(m.op_of(request_type)), None)
    assert method is not None and inspect.iscoroutinefunction(method), (
        f"no method for {m.op_of(request_type)}"
    )
    hints = typing.get_type_hints(method)
    assert hints.pop("return") is m.RESULT_TYPES[request_type]
    fields = {f.name for f in msgspec.structs.fields(request_type)} - {"id"}
    assert set(inspect.signature(method).parameters) - {"self"} == fields
    assert set(hints) == fields


def test_every_event_type_can_be_handled() -> None:
    assert set(EVENT_NAMES) == {t.TYPE for t in m.EVENT_TYPES}
    assert set(typing.get_args(EventName)) == set(EVENT_NAMES)
    overloaded = [typing.get_type_hints(f)["event"] for f in typing.get_overloads(Api.on)]
    literal_names = {
        name for h in overloaded if typing.get_origin(h) is Literal for name in typing.get_args(h)
    }
    assert literal_names == set(EVENT_NAMES)  # a typed overload of Api.on for every name
    bot = Client("http://127.0.0.1:9", "tsd_x")
    for event in m.EVENT_TYPES:
        name = event.TYPE
        assert is_event_name(name)
        bot.on(name)(print)
        bot.on(event)(print)
    with pytest.raises(ValueError, match="unknown event type"):
        bot.on("post.exploded")  # type: ignore[call-overload]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_maps_to_its_own_exception(code: ErrorCode) -> None:
    cls = codes.ERROR_CLASSES[code]
    assert cls.CODE is code and cls.__name__ == generate.error_class_name(code)
    error = codes.error_for(
        code.value, "nope", path="$.text", retry_after_ms=5, request_id="7", op="post.create"
    )
    assert type(error) is cls and isinstance(error, errors.RequestError) and isinstance(error, ProtocolError)
    assert (error.code, error.wire_code, error.message, error.path) == (code, code.value, "nope", "$.text")
    assert (error.retry_after_ms, error.request_id, error.op) == (5, "7", "post.create")
    assert codes.error_for(code.value).message == code.meaning  # no message: the table's meaning


def test_error_classes_are_distinct_and_grouped() -> None:
    assert len(set(codes.ERROR_CLASSES.values())) == len(ErrorCode)
    assert issubclass(codes.RateLimitedError, errors.RetryLaterError)
    assert issubclass(codes.ShedError, errors.RetryLaterError)
    assert issubclass(codes.BusyError, errors.RetryLaterError)  # every picture worker busy: retry
    assert issubclass(codes.InvalidFrameError, errors.FrameError)
    assert issubclass(codes.UnavailableError, errors.ServerFaultError)
    unknown = codes.error_for("brand_new_code", "from a newer server")
    assert type(unknown) is errors.UnknownError and unknown.wire_code == "brand_new_code"
    assert "brand_new_code" in str(unknown)


def test_close_codes_split_into_reconnect_and_terminal() -> None:
    for code in CloseCode:
        assert errors.is_terminal(code) is (code not in CLOSE_RECONNECT_RANGE)
    assert type(errors.terminal_close(4500)) is errors.AuthFailed
    assert type(errors.terminal_close(4501)) is errors.SessionRevoked
    assert type(errors.terminal_close(4502)) is errors.BadHandshake
    assert type(errors.terminal_close(4503)) is errors.UnsupportedProtocol
    assert type(errors.terminal_close(1009)) is errors.MessageTooBig
    assert type(errors.terminal_close(4999)) is errors.TerminalClose  # unknown: by its range
    assert errors.is_terminal(4999) and not errors.is_terminal(4499) and not errors.is_terminal(1006)


def _user(**extra: object) -> dict[str, object]:
    return {
        "id": "01M6DRNNTGEPJAGK15WSGG6CMW",
        "handle": "hanako",
        "display_name": "花子",
        "verified": False,
        "bot": False,
        **extra,
    }


def test_fields_from_a_newer_server_are_ignored_everywhere() -> None:
    profile = {
        **_user(pronouns="she/her"),
        "created_at": "2026-11-02T09:15:30.000Z",
        "followers_count": 2,
        "following_count": 1,
        "following": False,
        "followed_by": False,
        "blocking": False,
        "muting": False,
    }
    ready = {
        "op": "ready",
        "user": profile,
        "session_id": "01M7Z5BMW07PJB47KBT0SS27PG",
        "recovered": False,
        "replayed": 0,
        "reload": [],
        "incident": None,
        "region": "ap-northeast-1",
    }
    decoded = convert(ready, m.Ready)
    assert decoded.user.handle == "hanako"
    page: dict[str, object] = {"posts": [], "next": None, "took_ms": 3}
    assert convert(page, m.TimelinePage).posts == []
    members = {
        "members": [
            {"user": _user(), "role": "owner", "joined_at": "x"},
            {"user": _user(mood="🙂"), "role": "member", "joined_at": "y"},
        ],
        "next": None,
    }
    assert convert(members, m.MemberPage).members[1].role == "member"
    with pytest.raises(msgspec.ValidationError):  # a wrong type is still an error
        convert({"posts": "nope", "next": None}, m.TimelinePage)


def test_requests_leave_out_arguments_at_their_default() -> None:
    frame = m.PostCreate(id="9", text="hi")
    assert orjson.loads(encode_request(frame)) == {"op": "post.create", "id": "9", "text": "hi"}
    community = m.CommunityCreate(id="3", name="x", tags=["sendai"])
    assert orjson.loads(encode_request(community)) == {
        "op": "community.create",
        "id": "3",
        "name": "x",
        "tags": ["sendai"],
    }
    assert orjson.loads(encode_request(m.Heartbeat(id="1"))) == {"op": "heartbeat", "id": "1"}


def test_floor_ids_match_the_servers() -> None:
    for ms in (0, 1, 1_795_253_172_000, 2**48 - 1):
        assert floor_id(ms) == server_floor_id(ms)


def test_cursor_files_round_trip(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "c.json")
    assert store.load() == {}
    store.save({"following": "01M7Z3MWDW88G9C4QTT0N7GYSQ"})
    assert JsonFileStore(tmp_path / "c.json").load() == {"following": "01M7Z3MWDW88G9C4QTT0N7GYSQ"}


def test_events_are_accepted_once_and_cursors_move_only_when_handled() -> None:
    store = MemoryStore({"following": "01M7Z3MWDW88G9C4QTT0N7GYS0"})
    cursors = StreamCursors(store)
    floor = "01M7Z3MWDW88G9C4QTT0N7GYS0"
    assert not cursors.accept("following", floor, floor)  # at the resume point: seen before
    assert cursors.accept("following", "01M7Z3MWDW88G9C4QTT0N7GYS1", floor)
    assert not cursors.accept("following", "01M7Z3MWDW88G9C4QTT0N7GYS1", floor)  # replayed again
    assert store.cursors["following"] == floor  # accepted, not handled: not covered yet
    cursors.handled("following", "01M7Z3MWDW88G9C4QTT0N7GYS1")
    assert store.cursors["following"] == "01M7Z3MWDW88G9C4QTT0N7GYS1"
    cursors.restart("direct", "01M7Z3MWDW88G9C4QTT0N7GYS5")
    assert cursors.missing() == ["notifications"]
    # A stream restarting from the clock stays before an event accepted but not yet handled.
    assert cursors.accept("notifications", "01M7Z3MWDW88G9C4QTT0N7GYS9", None)
    cursors.restart("notifications", "01M7Z3MWDW99999999999999ZZ")
    assert store.cursors["notifications"] < "01M7Z3MWDW88G9C4QTT0N7GYS9"
