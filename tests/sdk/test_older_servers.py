"""The SDK against servers older (and newer) than itself: PROTOCOL.md section 12.

A field added to a server frame later in v1 is absent from an older server's frames; the SDK
reads it as null, an empty list or false, at any depth. A missing field with no such value still
fails loudly, naming the field. Fields a newer server adds are still ignored. The frames are the
specification's own: the examples in today's PROTOCOL.md with the fields the changelog (section
13) says came later taken out, and the 1.0.0 specification's examples as they were.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from protocol import messages as m
from protocol.codec import PROTOCOL_NAME
from protocol.sdk import Client, ClientClosed, MemoryStore
from protocol.sdk.decoding import convert
from tests.test_protocol_doc import EXAMPLES

from .frames_v1_0 import FRAMES as FRAMES_1_0
from .support import steady_backoff, until


class _NoNeutral:
    def __repr__(self) -> str:
        return "NO_NEUTRAL"


#: A field whose type has no neutral value under section 12: an older server's frame without it
#: cannot be read.
NO_NEUTRAL: Any = _NoNeutral()


class Added(NamedTuple):
    model: type[msgspec.Struct]
    field: str
    version: str
    #: What section 12 reads when an older server leaves the field out.
    neutral: object


#: Every field a server frame gained after 1.0.0, with the version that added it (PROTOCOL.md
#: section 13; the asyncapi.json of each release, in git, agrees field for field). User's and
#: Profile's `bot` is not here: it is in the 1.0.0 specification already (1.3.0 began setting it).
ADDED_AFTER_1_0 = [
    Added(m.Post, "community_id", "1.1.0", None),
    Added(m.Post, "announcement", "1.1.0", False),
    Added(m.Post, "repost_of", "1.1.0", None),
    Added(m.Post, "quote_of", "1.1.0", None),
    Added(m.Post, "reactions", "1.1.0", []),
    Added(m.Post, "my_reactions", "1.1.0", []),
    Added(m.Profile, "blocking", "1.1.0", False),
    Added(m.Profile, "muting", "1.1.0", False),
    Added(m.PostDeletedEvent, "community_id", "1.1.0", None),
    Added(m.Ready, "reload", "1.1.0", []),
    Added(m.Limits, "reaction_emoji", "1.1.0", []),
    Added(m.Limits, "message_max_clusters", "1.1.0", NO_NEUTRAL),
    Added(m.Limits, "conversation_max_members", "1.1.0", NO_NEUTRAL),
    Added(m.Limits, "typing_interval_ms", "1.1.0", NO_NEUTRAL),
    Added(m.Limits, "community_max_tags", "1.1.0", NO_NEUTRAL),
    Added(m.Limits, "message_burst", "1.1.0", NO_NEUTRAL),
    Added(m.Limits, "message_refill_ms", "1.1.0", NO_NEUTRAL),
    Added(m.Ready, "incident", "1.2.0", None),
    Added(m.UserSettings, "presence_visibility", "1.2.0", NO_NEUTRAL),
    Added(m.Limits, "idle_after_ms", "1.2.0", NO_NEUTRAL),
    Added(m.Limits, "offline_grace_ms", "1.2.0", NO_NEUTRAL),
    Added(m.Limits, "bot_post_burst", "1.3.0", NO_NEUTRAL),
    Added(m.Limits, "bot_post_refill_ms", "1.3.0", NO_NEUTRAL),
    Added(m.Limits, "bot_message_burst", "1.3.0", NO_NEUTRAL),
    Added(m.Limits, "bot_message_refill_ms", "1.3.0", NO_NEUTRAL),
    Added(m.Invite, "code_prefix", "1.8.0", None),
    # The client itself reads a hello without these as a window of 0 (test_recent.py); the
    # generic rule has no neutral int.
    Added(m.Limits, "resume_window_ms", "1.8.0", NO_NEUTRAL),
    Added(m.Limits, "resume_recent_max", "1.8.0", NO_NEUTRAL),
    Added(m.User, "avatar", "1.9.0", None),
    Added(m.Profile, "avatar", "1.9.0", None),
    Added(m.Profile, "bio", "1.9.0", None),
    Added(m.Profile, "interests", "1.9.0", []),
    Added(m.Post, "media", "1.9.0", []),
    Added(m.Message, "media", "1.9.0", []),
    Added(m.Limits, "media_max_bytes", "1.9.0", NO_NEUTRAL),
    Added(m.Limits, "media_max_attachments", "1.9.0", NO_NEUTRAL),
    Added(m.Limits, "alt_max_clusters", "1.9.0", NO_NEUTRAL),
    Added(m.Limits, "bio_max_clusters", "1.9.0", NO_NEUTRAL),
    Added(m.Limits, "upload_burst", "1.9.0", NO_NEUTRAL),
    Added(m.Limits, "upload_refill_ms", "1.9.0", NO_NEUTRAL),
    Added(m.Post, "entities", "1.10.0", []),
    # Typed `int | None` for this reading: no int is neutral, and null says "an older server".
    Added(m.Post, "replies_count", "1.10.0", None),
    Added(m.Post, "reposts_count", "1.10.0", None),
    Added(m.Post, "quotes_count", "1.10.0", None),
    Added(m.Limits, "handle_change_interval_ms", "1.12.0", NO_NEUTRAL),
]

#: Server messages by the version that introduced them (section 13); the rest came in 1.1.0.
INTRODUCED = {
    "1.0.0": {
        "hello",
        "ready",
        "heartbeat.ok",
        "post.create.ok",
        "post.delete.ok",
        "follow.ok",
        "unfollow.ok",
        "timeline.following.ok",
        "user.get.ok",
        "invite.create.ok",
        "invite.list.ok",
        "event.post.created",
        "event.post.deleted",
        "event.follow",
        "event.unfollow",
    },
    "1.2.0": {
        "presence.get.ok",
        "safety.set.ok",
        "safety.board.ok",
        "safety.history.ok",
        "incident.start.ok",
        "incident.end.ok",
        "event.presence",
        "event.safety.status",
        "event.incident.started",
        "event.incident.ended",
    },
    "1.4.0": {"timeline.user.ok", "community.mine.ok"},
    "1.6.0": {"event.user.updated", "event.community.certified"},
    "1.9.0": {"profile.update.ok"},
    "1.10.0": {
        "timeline.tag.ok",
        "tag.unwatch.ok",
        "event.tag.post_created",
        "event.tag.post_deleted",
        "user.followers.ok",
        "user.following.ok",
        "event.post.counts",
        "event.community.join_request",
        "search.users.ok",
        "search.posts.ok",
    },
    "1.11.0": {"onboarding.get.ok", "session.list.ok", "session.revoke.ok"},
    "1.12.0": {"account.handle.ok"},
    "1.13.0": {"push.config.ok", "push.subscribe.ok", "push.unsubscribe.ok", "push.preferences.ok"},
}
OLDER_VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
_RESULTS = {m.op_of(request): result for request, result in m.RESULT_TYPES.items()}
SERVER_EXAMPLES = [
    (name, json.loads(body))
    for name, body in EXAMPLES
    if name in ("hello", "ready") or name.endswith(".ok") or name.startswith("event.")
]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def introduced(message: str) -> str:
    return next((v for v, names in INTRODUCED.items() if message in names), "1.1.0")


def body_and_model(message: str, frame: dict[str, Any]) -> tuple[dict[str, Any], type[msgspec.Struct]]:
    """What the client decodes of a frame, and as what (``Client._open``, ``_call``, ``_event``)."""
    if message == "hello":
        return frame, m.Hello
    if message == "ready":
        return frame, m.Ready
    if message.startswith("event."):
        return frame["data"], m.EVENT_BY_TYPE[message.removeprefix("event.")]
    return frame["data"], _RESULTS[message.removesuffix(".ok")]


def as_sent_by(version: str, frame: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Added]]:
    """``frame`` without the fields added after ``version``; the same frame with those fields set
    to their neutral values instead; and the fields taken out.

    Fields are found by name at any depth. That is exact for the messages a server of
    ``version`` sends: none of them has another field of the same name (the one clash,
    Notification's ``community_id``, is in a message 1.0.0 did not have).
    """
    later = {a.field: a for a in ADDED_AFTER_1_0 if _version(a.version) > _version(version)}
    removed: list[Added] = []

    def rewrite(value: Any, neutral: bool) -> Any:
        if isinstance(value, list):
            return [rewrite(item, neutral) for item in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key not in later:
                out[key] = rewrite(item, neutral)
                continue
            if not neutral:
                removed.append(later[key])
            if neutral and later[key].neutral is not NO_NEUTRAL:
                out[key] = copy.deepcopy(later[key].neutral)
        return out

    return rewrite(frame, neutral=False), rewrite(frame, neutral=True), removed


def _case_id(case: tuple[str, str, dict[str, Any]]) -> str:
    return f"{case[0]}-{case[1]}"


OLDER_CASES = [
    (version, message, frame)
    for version in OLDER_VERSIONS
    for message, frame in SERVER_EXAMPLES
    if _version(introduced(message)) <= _version(version)
]


def test_the_table_names_real_fields_the_models_require() -> None:
    for added in ADDED_AFTER_1_0:
        fields = {f.encode_name: f for f in msgspec.structs.fields(added.model)}
        assert added.field in fields and fields[added.field].required, added
    assert {name for name, _ in SERVER_EXAMPLES} >= set().union(*INTRODUCED.values())


@pytest.mark.parametrize(("version", "message", "frame"), OLDER_CASES, ids=map(_case_id, OLDER_CASES))
def test_a_frame_from_an_older_server_reads_as_section_12_says(
    version: str, message: str, frame: dict[str, Any]
) -> None:
    older, neutral, removed = as_sent_by(version, frame)
    body, model = body_and_model(message, older)
    if any(a.neutral is NO_NEUTRAL for a in removed):
        with pytest.raises(msgspec.ValidationError) as refused:
            convert(body, model)
        missing = re.fullmatch(r"Object missing required field `(\w+)`( - at `\$[^`]*`)?", str(refused.value))
        assert missing is not None, refused.value
        assert missing.group(1) in {a.field for a in removed if a.neutral is NO_NEUTRAL}
        return
    neutral_body, _ = body_and_model(message, neutral)
    expected = msgspec.convert(neutral_body, model)  # strictly, as the server's own tests read it
    assert convert(body, model) == expected, f"{version} leaves out {[a.field for a in removed]}"


def test_every_field_added_after_1_0_is_taken_out_of_some_example() -> None:
    """The test above is not vacuous: each field of the table is left out of a frame somewhere
    (by name: Post's and post.deleted's ``community_id`` are checked one by one below)."""
    taken_out = {a.field for version, _, frame in OLDER_CASES for a in as_sent_by(version, frame)[2]}
    assert taken_out == {a.field for a in ADDED_AFTER_1_0}


def test_a_1_0_server_lacks_six_fields_in_every_post_and_each_reads_as_neutral() -> None:
    page = next(frame for name, frame in SERVER_EXAMPLES if name == "timeline.following.ok")
    older, _, removed = as_sent_by("1.0.0", page)
    assert {a.field for a in removed} >= {"community_id", "announcement", "repost_of", "quote_of"}
    result = convert(older["data"], m.TimelinePage)
    assert result.posts
    for post in result.posts:
        assert post.community_id is None and post.announcement is False
        assert post.repost_of is None and post.quote_of is None
        assert post.reactions == [] and post.my_reactions == []


@pytest.mark.parametrize(
    ("message", "raw"), FRAMES_1_0, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FRAMES_1_0)]
)
def test_the_1_0_0_specifications_own_frames(message: str, raw: str) -> None:
    body, model = body_and_model(message, json.loads(raw))
    if message == "hello":  # limits gained ints in 1.1.0-1.3.0, and an int has no neutral value
        with pytest.raises(
            msgspec.ValidationError, match=r"missing required field `message_burst` - at `\$\.limits`"
        ):
            convert(body, model)
        return
    decoded = convert(body, model)
    if isinstance(decoded, m.Ready):
        assert decoded.reload == [] and decoded.incident is None
        assert decoded.user.blocking is False and decoded.user.muting is False
    if isinstance(decoded, m.PostDeletedEvent):
        assert decoded.community_id is None


def test_missing_fields_without_a_neutral_value_still_fail_with_the_field_and_its_place() -> None:
    post = next(frame for name, frame in SERVER_EXAMPLES if name == "post.create.ok")["data"]
    for path, field in [
        ((), "id"),
        ((), "text"),
        ((), "author"),
        (("author",), "handle"),
        ((), "created_at"),
    ]:
        broken = copy.deepcopy(post)
        target = broken["post"]
        for step in path:
            target = target[step]
        del target[field]
        where = ".".join(("$", "post", *path))
        with pytest.raises(msgspec.ValidationError) as refused:
            convert(broken, m.PostResult)
        assert str(refused.value) == f"Object missing required field `{field}` - at `{where}`"


def _with_unknown_fields(value: Any) -> Any:
    if isinstance(value, list):
        return [_with_unknown_fields(item) for item in value]
    if isinstance(value, dict):
        return {**{k: _with_unknown_fields(v) for k, v in value.items()}, "added_in_v1_9": {"x": [1]}}
    return value


@pytest.mark.parametrize(
    ("message", "frame"), SERVER_EXAMPLES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SERVER_EXAMPLES)]
)
def test_a_newer_server_adds_a_field_to_every_object_and_it_is_ignored(
    message: str, frame: dict[str, Any]
) -> None:
    expected = convert(*body_and_model(message, copy.deepcopy(frame)))
    newer = _with_unknown_fields(frame)
    assert convert(*body_and_model(message, newer)) == expected


def test_older_and_newer_at_once_and_more_fields_than_the_old_retry_loop_allowed() -> None:
    """A page of 100 posts from a server that both lacks the fields added since 1.0.0 (six in
    1.1.0, the author's ``avatar`` and the post's ``media`` in 1.9.0, its ``entities`` and
    three counts in 1.10.0) and has three of its own: 1,200 fields to fill in and 300 to drop, in
    one walk (the former loop stopped at 256)."""
    post = next(frame for name, frame in SERVER_EXAMPLES if name == "post.create.ok")["data"]["post"]
    older, _, removed = as_sent_by("1.0.0", {"post": post})
    assert len(removed) == 12
    newer = {"views": 3, "lang": "ja", "pinned": False}
    page: dict[str, Any] = {
        "posts": [{**copy.deepcopy(older["post"]), **newer} for _ in range(100)],
        "next": None,
    }
    result = convert(page, m.TimelinePage)
    assert len(result.posts) == 100 and all(
        p.reactions == []
        and p.media == []
        and p.entities == []
        and p.author.avatar is None
        and p.replies_count is None
        for p in result.posts
    )


# --- the rule itself, on models made for it ---------------------------------------------------


class Tagged(msgspec.Struct, tag_field="kind", tag="tagged"):
    flag: bool


class Other(msgspec.Struct, tag_field="kind", tag="other"):
    names: list[str]


class Inner(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    the_name: str
    is_on: bool
    maybe: int | None


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    inner: Inner
    optional_inner: Inner | None
    inners: list[Inner]
    by_name: dict[str, Inner]
    pair: tuple[Inner, int]
    either: Tagged | Other
    words: tuple[str, ...]
    unique: frozenset[int]
    table: dict[str, int]
    annotated: Annotated[bool | None, msgspec.Meta(description="optional through Annotated")]
    at_least_one: Annotated[list[int], msgspec.Meta(min_length=1)]
    count: int
    mode: Literal["a", "b"]
    default: int = 7


def _outer(**overrides: Any) -> dict[str, Any]:
    inner = {"theName": "n", "isOn": True, "maybe": 1}
    return {
        "key": "k",
        "inner": inner,
        "optional_inner": inner,
        "inners": [inner],
        "by_name": {"x": inner},
        "pair": [inner, 1],
        "either": {"kind": "tagged", "flag": True},
        "words": ["w"],
        "unique": [1],
        "table": {"a": 1},
        "annotated": True,
        "at_least_one": [1],
        "count": 1,
        "mode": "a",
        **overrides,
    }


def test_each_kind_of_type_reads_its_neutral_value_when_absent() -> None:
    frame = _outer()
    for key in ("optional_inner", "words", "unique", "table", "annotated"):
        del frame[key]
    decoded = convert(frame, Outer)
    assert decoded.optional_inner is None and decoded.annotated is None
    assert decoded.words == () and decoded.unique == frozenset() and decoded.table == {}
    assert decoded.default == 7


def test_neutral_values_are_filled_in_at_any_depth_and_under_renamed_fields() -> None:
    bare = {"theName": "n"}  # isOn (bool) and maybe (int | None) left out
    frame = _outer(
        inner=dict(bare),
        inners=[dict(bare), dict(bare)],
        by_name={"x": dict(bare)},
        pair=[dict(bare), 2],
        either={"kind": "other"},
    )
    decoded = convert(frame, Outer)
    neutral = Inner(the_name="n", is_on=False, maybe=None)
    assert decoded.inner == neutral and decoded.inners == [neutral, neutral]
    assert decoded.by_name == {"x": neutral} and decoded.pair == (neutral, 2)
    assert decoded.either == Other(names=[])
    assert convert(_outer(either={"kind": "tagged"}), Outer).either == Tagged(flag=False)


@pytest.mark.parametrize(
    "field",
    [
        pytest.param("key", id="str"),
        pytest.param("count", id="int, which section 12 does not list"),
        pytest.param("mode", id="Literal"),
        pytest.param("inner", id="object that cannot be null"),
        pytest.param("at_least_one", id="list that may not be empty"),
        pytest.param("either", id="union without null"),
    ],
)
def test_fields_without_a_neutral_value_still_fail(field: str) -> None:
    frame = _outer()
    del frame[field]
    with pytest.raises(msgspec.ValidationError, match=f"^Object missing required field `{field}`$"):
        convert(frame, Outer)


def test_unknown_fields_are_dropped_but_the_tag_and_wrong_types_are_kept() -> None:
    frame = _outer(inner={"theName": "n", "isOn": True, "maybe": None, "the_name": "snake"})
    frame["either"]["new"] = 1
    decoded = convert(frame, Outer)
    assert decoded.inner.the_name == "n" and decoded.either == Tagged(flag=True)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `bool`, got `str` - at `\$.inner.isOn`"):
        convert(_outer(inner={"theName": "n", "isOn": "yes", "maybe": None, "extra": 1}), Outer)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `array`, got `str` - at `\$.posts`"):
        convert({"posts": "nope", "next": None, "took_ms": 3}, m.TimelinePage)


# --- through the client: a WebSocket server that answers as an older one does ------------------

_FRAMES_1_0 = {name: json.loads(raw) for name, raw in reversed(FRAMES_1_0)}  # the first of each
#: A hello this SDK can read: section 12 gives the int limits added in 1.1.0-1.3.0 no neutral
#: value, so a 1.0.0 hello is refused (the next test). Everything after it is 1.0.0's, verbatim.
_READABLE_HELLO = next(frame for name, frame in SERVER_EXAMPLES if name == "hello")


@asynccontextmanager
async def older_server(
    hello: dict[str, Any],
    answer: Callable[[dict[str, Any]], dict[str, Any]],
    after_ready: list[dict[str, Any]],
) -> AsyncIterator[str]:
    """A WebSocket server playing an older Tsudoi server: ``hello``, then 1.0.0's ``ready`` to
    any ``auth``, then ``after_ready`` events, then ``answer(request)`` as each request's ``ok``.

    It does not check what the client sends: a real 1.0 server would also refuse the ``direct``
    and ``notifications`` cursors this SDK puts in ``auth``, a matter of what the SDK sends,
    not of what it reads."""

    async def session(ws: ServerConnection) -> None:
        try:
            await ws.send(json.dumps(hello))
            auth = json.loads(await ws.recv())
            assert auth["op"] == "auth"
            await ws.send(json.dumps(_FRAMES_1_0["ready"]))
            for event in after_ready:
                await ws.send(json.dumps(event))
            async for raw in ws:
                request = json.loads(raw)
                await ws.send(json.dumps({"op": "ok", "id": request["id"], "data": answer(request)}))
        except ConnectionClosed:
            pass

    async with serve(session, "127.0.0.1", 0, subprotocols=[Subprotocol(PROTOCOL_NAME)]) as server:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"ws://{host}:{port}/ws"


def _answer_as_1_0(request: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = _FRAMES_1_0[f"{request['op']}.ok"]["data"]
    return data


async def test_the_client_reads_ready_results_and_events_from_a_1_0_server() -> None:
    created, deleted = _FRAMES_1_0["event.post.created"], _FRAMES_1_0["event.post.deleted"]
    events = [created, deleted, _FRAMES_1_0["event.follow"]]
    async with older_server(_READABLE_HELLO, _answer_as_1_0, events) as url:
        # A cursor before both events, so they are new to this bot.
        bot = Client(url, "tsd_x", cursor_store=MemoryStore({"following": "01M7Z3MWDW88G9C4QTT0N7GYS0"}))
        seen: list[m.EventData] = []
        for event in (m.PostCreatedEvent, m.PostDeletedEvent, m.FollowEvent):
            bot.on(event)(seen.append)
        async with asyncio.timeout(15), bot:
            assert bot.ready is not None and bot.ready.reload == [] and bot.ready.incident is None
            assert bot.user is not None and bot.user.blocking is False and bot.incident is None
            post = (await bot.post_create("地震だ、みんな無事？")).post
            assert post.community_id is None and post.announcement is False and post.repost_of is None
            page = await bot.timeline_following()
            assert [p.my_reactions for p in page.posts] == [[], []]
            profile = (await bot.user_get("taro_k")).user
            assert profile.following and profile.muting is False
            await until(lambda: len(seen) == 3, what="the three events")
            assert isinstance(seen[0], m.PostCreatedEvent) and seen[0].post.reactions == []
            assert isinstance(seen[1], m.PostDeletedEvent) and seen[1].community_id is None
            assert isinstance(seen[2], m.FollowEvent)
            await until(lambda: bot.cursors.get("following") == deleted["pos"], what="the cursor")


async def test_a_hello_without_the_later_int_limits_is_refused_and_says_which(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reported, not guessed: a server before 1.3.0 sends no ``limits.bot_*`` (nor, before 1.1.0,
    ``limits.message_burst``), ints with no neutral value. The client does not reach ``ready``,
    and its log names the field."""
    caplog.set_level(logging.INFO, logger="tsudoi.sdk")
    async with older_server(_FRAMES_1_0["hello"], _answer_as_1_0, []) as url:
        bot = Client(url, "tsd_x", backoff=steady_backoff(0.1))
        starting = asyncio.create_task(bot.start())
        await until(
            lambda: "missing required field `message_burst` - at `$.limits`" in caplog.text, what="the log"
        )
        assert not bot.connected and bot.connections == 0 and not starting.done()
        await bot.close()
        with pytest.raises(ClientClosed):
            await starting
