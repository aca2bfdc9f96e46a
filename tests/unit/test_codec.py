"""The wire codec: every client frame decodes to its type, every bad one to a precise ProtocolError."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from protocol import messages as m
from protocol.codec import (
    decode_client_frame,
    decode_server_frame,
    event_frame,
    event_tail,
    format_timestamp,
    frame_op,
    parse_timestamp,
    to_wire,
)
from protocol.errors import ErrorCode, ProtocolError
from protocol.text import Emotext

POST_ID = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"
USER_ID = "01JD0M7Q5W3K4T9V2X8Y6Z1ABD"
OTHER_ID = "01JD0M7Q5W3K4T9V2X8Y6Z1ABE"

# The smallest valid frame of each client op (besides op and id).
VALID_ARGS: dict[str, dict[str, Any]] = {
    "heartbeat": {},
    "post.create": {"text": "こんにちは", "emotext": "super_shake", "reply_to": POST_ID},
    "post.delete": {"post_id": POST_ID},
    "follow": {"user_id": USER_ID},
    "unfollow": {"user_id": USER_ID},
    "timeline.following": {"limit": 50, "before": POST_ID},
    "user.get": {"handle": "alice_99"},
    "user.followers": {
        "user_id": USER_ID,
        "limit": 100,
        "cursor": "e1800000000000.01JD0M7Q5W3K4T9V2X8Y6Z1ABC",
    },
    "user.following": {"user_id": USER_ID},
    "profile.update": {"display_name": "Alice", "bio": "仙台", "avatar": POST_ID, "interests": ["防災"]},
    "invite.create": {},
    "invite.list": {},
    "post.repost": {"post_id": POST_ID},
    "post.get": {"post_id": POST_ID},
    "post.thread": {"post_id": POST_ID, "limit": 10, "after": OTHER_ID},
    "post.react": {"post_id": POST_ID, "emoji": "👍"},
    "post.unreact": {"post_id": POST_ID, "emoji": "👍"},
    "timeline.discover": {"limit": 10, "cursor": "o20"},
    "community.create": {
        "name": "仙台",
        "description": "地域",
        "tags": ["sendai", "防災"],
        "approval_required": True,
    },
    "community.get": {"community_id": POST_ID},
    "community.search": {"query": "仙台", "tag": "防災", "limit": 5, "cursor": "o5"},
    "community.join": {"community_id": POST_ID},
    "community.leave": {"community_id": POST_ID},
    "community.requests": {"community_id": POST_ID},
    "community.approve": {"community_id": POST_ID, "user_id": USER_ID},
    "community.decline": {"community_id": POST_ID, "user_id": USER_ID},
    "community.members": {"community_id": POST_ID, "limit": 10, "cursor": OTHER_ID},
    "community.set_role": {"community_id": POST_ID, "user_id": USER_ID, "role": "moderator"},
    "community.transfer": {"community_id": POST_ID, "user_id": USER_ID},
    "community.ban": {"community_id": POST_ID, "user_id": USER_ID},
    "community.unban": {"community_id": POST_ID, "user_id": USER_ID},
    "community.timeline": {"community_id": POST_ID, "limit": 10, "before": OTHER_ID},
    "community.announce": {"community_id": POST_ID, "text": "給水所", "emotext": "big"},
    "dm.open": {"user_ids": [USER_ID, OTHER_ID], "title": "避難所"},
    "dm.list": {"limit": 50, "cursor": OTHER_ID},
    "dm.get": {"conversation_id": POST_ID},
    "dm.send": {
        "conversation_id": POST_ID,
        "text": "無事？",
        "media": [{"id": POST_ID, "alt": "避難所の入口"}],
    },
    "dm.history": {"conversation_id": POST_ID, "limit": 10, "before": OTHER_ID},
    "dm.typing": {"conversation_id": POST_ID},
    "dm.read": {"conversation_id": POST_ID, "message_id": OTHER_ID},
    "dm.leave": {"conversation_id": POST_ID},
    "dm.add": {"conversation_id": POST_ID, "user_ids": [USER_ID]},
    "dm.remove": {"conversation_id": POST_ID, "user_id": USER_ID},
    "settings.get": {},
    "settings.update": {"dm_policy": "following"},
    "session.list": {},
    "session.revoke": {"session_id": USER_ID},
    "account.handle": {"handle": "hanako_sendai", "password": "correct horse battery staple"},
    "push.config": {},
    "push.subscribe": {
        "endpoint": "https://push.example/send/abc",
        "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQ", "auth": "tBHItJI5svbpez7KI4CCXg"},
        "expiration_time": None,
    },
    "push.unsubscribe": {"subscription_id": USER_ID},
    "push.preferences": {
        "kinds": {"safety": True, "announcement": None, "dm": False, "mention": None, "incident": None},
        "previews": True,
    },
    "notification.list": {"limit": 10, "before": OTHER_ID},
    "notification.read": {"notification_id": OTHER_ID},
    "notification.read_all": {},
    "block.add": {"user_id": USER_ID},
    "block.remove": {"user_id": USER_ID},
    "block.list": {},
    "mute.add": {"user_id": USER_ID},
    "mute.remove": {"user_id": USER_ID},
    "mute.list": {},
    "report.create": {"reason": "spam", "post_id": POST_ID, "category": "misinformation"},
    "presence.get": {"user_ids": [USER_ID, OTHER_ID]},
    "safety.set": {
        "state": "need_help",
        "note": "閉じ込められています",
        "area": "仙台市",
        "audience": "followers",
    },
    "safety.board": {"limit": 50, "cursor": "o50"},
    "safety.history": {"user_id": USER_ID, "limit": 10, "before": OTHER_ID},
    "incident.start": {"title": "宮城県沖地震", "area": "東北地方"},
    "incident.end": {},
    "timeline.user": {"user_id": USER_ID, "limit": 30, "before": POST_ID},
    "timeline.tag": {"tag": "#炊き出し", "limit": 30, "before": POST_ID, "live": True},
    "tag.unwatch": {"tag": "炊き出し"},
    "community.mine": {"limit": 10, "cursor": POST_ID},
    "search.users": {"query": "ｔａｒｏ", "limit": 10, "cursor": "o10"},
    "search.posts": {"query": "炊き出し", "limit": 10, "cursor": "p" + POST_ID},
    "onboarding.get": {"limit": 10},
}


def refused(data: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(data)
    return caught.value


def frame(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def test_every_request_op_has_a_sample_here() -> None:
    assert set(VALID_ARGS) == {m.op_of(t) for t in m.REQUEST_TYPES}


@pytest.mark.parametrize("request_type", m.REQUEST_TYPES, ids=m.op_of)
def test_valid_request_decodes_to_its_type(request_type: type[m.Request]) -> None:
    op = m.op_of(request_type)
    decoded = decode_client_frame(frame(op=op, id="req-1", **VALID_ARGS[op]))
    assert type(decoded) is request_type
    assert decoded.id == "req-1"
    for name, value in VALID_ARGS[op].items():
        assert msgspec.to_builtins(getattr(decoded, name)) == value


def test_request_defaults_apply_when_fields_are_left_out() -> None:
    decoded = decode_client_frame(frame(op="timeline.following", id="1"))
    assert isinstance(decoded, m.TimelineFollowing)
    assert (decoded.limit, decoded.before) == (20, None)
    post = decode_client_frame(frame(op="post.create", id="2", text="hi"))
    assert isinstance(post, m.PostCreate)
    assert (post.emotext, post.reply_to) == (None, None)


def test_emotext_decodes_to_the_enum() -> None:
    decoded = decode_client_frame(frame(op="post.create", id="1", text="hi", emotext="kirakira"))
    assert isinstance(decoded, m.PostCreate)
    assert decoded.emotext is Emotext.KIRAKIRA


def test_auth_decodes_with_token_and_cursors() -> None:
    decoded = decode_client_frame(frame(op="auth", token="tok", cursors={"following": POST_ID}))
    assert isinstance(decoded, m.Auth)
    assert decoded.token == "tok"
    assert decoded.cursors == m.Cursors(following=POST_ID)


def test_auth_decodes_without_token_for_cookie_auth() -> None:
    decoded = decode_client_frame('{"op":"auth"}')
    assert decoded == m.Auth(token=None, cursors=None)


def test_text_and_bytes_decode_alike() -> None:
    text = '{"op":"heartbeat","id":"x"}'
    assert decode_client_frame(text) == decode_client_frame(text.encode()) == m.Heartbeat(id="x")


@pytest.mark.parametrize(
    "data", ["not json", "{", "", b"{'op': 'heartbeat'}", '{"op":"heartbeat","id":"1"} x']
)
def test_non_json_is_invalid_json_without_request_id(data: str | bytes) -> None:
    error = refused(data)
    assert error.code is ErrorCode.INVALID_JSON
    assert error.request_id is None


@pytest.mark.parametrize("data", ['[{"op":"heartbeat","id":"1"}]', '"heartbeat"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_invalid_frame(data: str) -> None:
    error = refused(data)
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.request_id is None


def test_missing_op_is_invalid_frame_at_op_with_request_id() -> None:
    error = refused(frame(id="r1", text="hi"))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.path == "$.op"
    assert error.request_id == "r1"


def test_non_string_op_is_invalid_frame_at_op() -> None:
    error = refused(frame(op=7, id="r1"))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.path == "$.op"


@pytest.mark.parametrize("op", ["post.edit", "ok", "event", "hello", "POST.CREATE", ""])
def test_unknown_op_keeps_the_request_id(op: str) -> None:
    error = refused(frame(op=op, id="r2"))
    assert error.code is ErrorCode.UNKNOWN_OP
    assert error.request_id == "r2"


def test_unknown_field_is_invalid_frame_with_request_id() -> None:
    error = refused(frame(op="post.create", id="r3", text="hi", txet="typo"))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.request_id == "r3"
    assert "txet" in error.message
    assert error.path == "$.txet"


def test_unknown_nested_field_names_its_full_path() -> None:
    error = refused(frame(op="auth", cursors={"following": None, "dms": "x"}))
    assert error.path == "$.cursors.dms"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"op": "post.create", "text": 42}, "$.text"),
        ({"op": "post.create", "text": ["hi"]}, "$.text"),
        ({"op": "timeline.following", "limit": "20"}, "$.limit"),
        ({"op": "timeline.following", "limit": 101}, "$.limit"),
        ({"op": "timeline.following", "limit": 0}, "$.limit"),
        ({"op": "post.delete", "post_id": "not-an-id"}, "$.post_id"),
        ({"op": "follow", "user_id": None}, "$.user_id"),
        ({"op": "user.get", "handle": "ユーザー"}, "$.handle"),
        ({"op": "post.create", "text": ""}, "$.text"),
    ],
)
def test_wrong_type_or_value_names_the_field(fields: dict[str, Any], path: str) -> None:
    error = refused(frame(id="r4", **fields))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.path == path
    assert error.request_id == "r4"


def test_missing_required_field_is_invalid_frame() -> None:
    error = refused(frame(op="post.delete", id="r5"))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.request_id == "r5"
    assert "post_id" in error.message


@pytest.mark.parametrize("emotext", ["wobble", "Shake", "", 3])
def test_invalid_emotext_is_invalid_frame_at_emotext(emotext: object) -> None:
    error = refused(frame(op="post.create", id="r6", text="hi", emotext=emotext))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.path == "$.emotext"


def test_request_id_of_64_characters_is_accepted() -> None:
    assert decode_client_frame(frame(op="heartbeat", id="i" * 64)) == m.Heartbeat(id="i" * 64)


def test_request_id_longer_than_64_is_invalid_frame() -> None:
    error = refused(frame(op="heartbeat", id="i" * 65))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.path == "$.id"
    assert error.request_id is None  # too long to be echoed back


@pytest.mark.parametrize("rid", ["", 5, None])
def test_empty_or_non_string_request_id_is_invalid_frame(rid: object) -> None:
    error = refused(frame(op="heartbeat", id=rid))
    assert error.code is ErrorCode.INVALID_FRAME
    assert error.request_id is None


def test_missing_request_id_is_invalid_frame() -> None:
    error = refused(frame(op="heartbeat"))
    assert error.code is ErrorCode.INVALID_FRAME


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe", b'{"op":"heartbeat","id":"\xc3"}', b'{"op":"post.create","id":"1","text":"\xed\xa0\x80"}'],
    ids=["garbage", "truncated-sequence", "encoded-surrogate"],
)
def test_invalid_utf8_is_invalid_json(data: bytes) -> None:
    error = refused(data)
    assert error.code is ErrorCode.INVALID_JSON
    assert error.request_id is None


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ('{"op":"post.create","id":"1","text":"\\ud800"}', "$.text"),
        ('{"op":"post.create","id":"1","text":"a\\udfffb"}', "$.text"),
        ('{"op":"community.create","id":"1","name":"n","tags":["ok","\\ud83d"]}', "$.tags[1]"),
        ('{"op":"post.create","id":"1","text":"t","\\udc00":1}', "$"),
    ],
    ids=["high", "low", "in-a-list", "in-a-key"],
)
def test_a_lone_surrogate_escape_is_refused_with_the_request_id(data: str, path: str) -> None:
    # JSON's grammar allows the escape; no Unicode text can hold it: the value is refused, and
    # the answer carries the request's id so the client can match it (PROTOCOL.md section 3).
    for form in (data, data.encode()):
        error = refused(form)
        assert error.code is ErrorCode.INVALID_FRAME
        assert (error.request_id, error.path) == ("1", path)
        assert "lone surrogate" in error.message


def test_a_frame_too_deep_for_any_parser_stays_invalid_json() -> None:
    error = refused("[" * 5000 + "]" * 5000)
    assert error.code is ErrorCode.INVALID_JSON and error.request_id is None


def test_frame_op_reads_the_op_of_a_frame_that_did_not_decode() -> None:
    assert frame_op('{"op":"auth","token":123}') == "auth"
    assert frame_op(b'{"op":7}') is None
    assert frame_op("not json") is None


def test_timestamp_has_the_exact_wire_format() -> None:
    ms = int(dt.datetime(2026, 11, 21, 13, 45, 0, 123000, tzinfo=dt.UTC).timestamp() * 1000 + 0.5)
    assert format_timestamp(ms) == "2026-11-21T13:45:00.123Z"
    assert parse_timestamp("2026-11-21T13:45:00.123Z") == ms
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(1_800_000_000_007) == "2027-01-15T08:00:00.007Z"


@given(st.integers(min_value=0, max_value=4_102_444_800_000))  # 1970 to 2100
@example(1_800_000_000_999)
@example(1_095_954_883_735)  # 2004-09-23T15:54:43.735Z
@example(2_148_931_970_140)  # 2038-02-04T21:32:50.140Z
def test_timestamps_round_trip(ms: int) -> None:
    text = format_timestamp(ms)
    assert len(text) == 24 and text.endswith("Z")
    assert parse_timestamp(text) == ms


def post(post_id: str = POST_ID) -> m.Post:
    author = m.User(id=USER_ID, handle="alice", display_name="Alice", verified=False, bot=False, avatar=None)
    return m.Post(
        id=post_id,
        author=author,
        text="地震だ、みんな無事？",
        emotext=Emotext.SUPER_SHAKE,
        reply_to=None,
        community_id=None,
        announcement=False,
        repost_of=None,
        quote_of=None,
        reactions=[],
        my_reactions=[],
        media=[],
        entities=[],
        created_at="2026-11-21T13:45:00.123Z",
        replies_count=0,
        reposts_count=0,
        quotes_count=0,
    )


def test_stream_event_frame_carries_seq_stream_and_pos() -> None:
    data = m.PostCreatedEvent(post=post())
    raw = event_frame(7, event_tail(data, pos=POST_ID))
    parsed = orjson.loads(raw)
    assert parsed["op"] == "event"
    assert parsed["seq"] == 7
    assert parsed["type"] == "post.created"
    assert parsed["stream"] == "following"
    assert parsed["pos"] == POST_ID
    assert parsed["data"] == to_wire(data)
    assert parsed["data"]["post"]["emotext"] == "super_shake"
    decoded = decode_server_frame(raw)
    assert isinstance(decoded, m.Event)
    assert (decoded.seq, decoded.stream, decoded.pos) == (7, "following", POST_ID)


def test_one_tail_serves_many_connections() -> None:
    tail = event_tail(m.PostDeletedEvent(post_id=POST_ID, author_id=USER_ID, community_id=None), pos=OTHER_ID)
    frames = [orjson.loads(event_frame(seq, tail)) for seq in (1, 2, 1000)]
    assert [f["seq"] for f in frames] == [1, 2, 1000]
    assert all(f["data"] == {"post_id": POST_ID, "author_id": USER_ID, "community_id": None} for f in frames)
    assert all(f["pos"] == OTHER_ID and f["type"] == "post.deleted" for f in frames)


def test_non_stream_event_has_no_stream_or_pos() -> None:
    user = m.User(id=USER_ID, handle="alice", display_name="Alice", verified=False, bot=False, avatar=None)
    other = m.User(id=OTHER_ID, handle="bob", display_name="Bob", verified=True, bot=True, avatar=None)
    parsed = orjson.loads(event_frame(3, event_tail(m.FollowEvent(follower=user, followee=other))))
    assert parsed["op"] == "event" and parsed["seq"] == 3 and parsed["type"] == "follow"
    assert "stream" not in parsed and "pos" not in parsed
    assert parsed["data"]["followee"]["handle"] == "bob"


@pytest.mark.parametrize(
    "data",
    [
        m.PostCreatedEvent(post=post()),
        m.PostDeletedEvent(post_id=POST_ID, author_id=USER_ID, community_id=None),
    ],
    ids=["created", "deleted"],
)
def test_stream_event_tail_without_pos_raises(data: m.EventData) -> None:
    with pytest.raises(ValueError, match="pos"):
        event_tail(data)


@given(st.one_of(st.text(), st.binary()))
@example('{"op":"post.create","id":"1","text":"\\ud800"}')
@example(b'{"op":"timeline.following","id":"1","limit":18446744073709551616}')
@example("[" * 5000 + "]" * 5000)
@example('{"op":"auth","cursors":{"following":{"x":[1,2,{}]}}}')
def test_decoding_anything_yields_a_frame_or_a_protocol_error(data: str | bytes) -> None:
    try:
        decoded = decode_client_frame(data)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode)
    else:
        assert isinstance(decoded, m.ClientFrame)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@given(
    st.sampled_from([m.op_of(t) for t in m.CLIENT_FRAME_TYPES]),
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "text",
                "emotext",
                "reply_to",
                "post_id",
                "user_id",
                "limit",
                "before",
                "handle",
                "token",
                "cursors",
            ]
        ),
        _json,
        max_size=4,
    ),
)
def test_decoding_any_object_with_a_real_op_yields_a_frame_or_a_protocol_error(
    op: str, fields: dict[str, Any]
) -> None:
    try:
        data = orjson.dumps({"op": op, **fields})
    except orjson.JSONEncodeError:  # integers beyond 64 bits
        data = b'{"op":"%s","limit":1e400}' % op.encode()
    try:
        decoded = decode_client_frame(data)
    except ProtocolError as error:
        assert isinstance(error.code, ErrorCode)
    else:
        assert m.op_of(type(decoded)) == op


def test_the_largest_server_frames_stay_under_the_documented_bound() -> None:
    """The largest page of every kind, at the code-point limits, every code point 4 bytes of UTF-8:
    posts quoting posts, a thread, a page of direct messages and of conversations, a group with
    every member, the relation lists, a page of communities."""
    from protocol.codec import MAX_SERVER_FRAME_BYTES
    from protocol.text import (
        ALT_MAX_CODE_POINTS,
        COMMUNITY_DESCRIPTION_MAX_CODE_POINTS,
        DISPLAY_NAME_MAX_CODE_POINTS,
        ENTITIES_MAX,
        MESSAGE_MAX_CODE_POINTS,
        POST_MAX_CODE_POINTS,
        REACTION_EMOJI,
    )
    from server.gateway.fit import ok_frame_within_bound

    wide = "\U0001d165"
    stamp = "2026-11-21T13:45:00.123Z"
    user = m.User(
        id="0" * 26,
        handle="h" * 20,
        display_name=wide * DISPLAY_NAME_MAX_CODE_POINTS,
        verified=True,
        bot=True,
        avatar=m.Avatar(
            url=f"/media/{'7' * 26}/display",
            thumbnail_url=f"/media/{'7' * 26}/thumbnail",
            placeholder="#ffffff",
        ),
    )
    variant = m.MediaVariant(
        url=f"/media/{'8' * 26}/thumbnail", width=2**31, height=2**31, content_type="image/webp"
    )
    pictures = [
        m.Media(
            id="8" * 26,
            width=2**31,
            height=2**31,
            placeholder="#ffffff",
            alt=wide * ALT_MAX_CODE_POINTS,
            animated=True,
            display=variant,
            thumbnail=variant,
        )
    ] * m.MEDIA_MAX_ATTACHMENTS
    counts = [m.ReactionCount(emoji=e, count=2**31) for e in REACTION_EMOJI]
    # The most entities a post has (ENTITIES_MAX), each a tag of the longest normalised form a
    # single letter makes: "#ﷺ", whose ligature NFKC expands to 18 characters.
    ligature = unicodedata.normalize("NFKC", "\ufdfa")
    entities = [m.Entity(kind="tag", start=2**16, end=2**16, tag=ligature, url=None)] * ENTITIES_MAX

    def post(quote: m.Post | None = None) -> m.Post:
        return m.Post(
            id="1" * 26,
            author=user,
            text=wide * POST_MAX_CODE_POINTS,
            emotext=Emotext.SUPER_SHAKE,
            reply_to="2" * 26,
            community_id="3" * 26,
            announcement=True,
            repost_of=None,
            quote_of=quote,
            reactions=counts,
            my_reactions=list(REACTION_EMOJI),
            media=pictures,
            entities=entities,
            created_at=stamp,
            replies_count=2**31,
            reposts_count=2**31,
            quotes_count=2**31,
        )

    quoting = post(post())
    message = m.Message(
        id="4" * 26,
        conversation_id="5" * 26,
        kind="text",
        author=user,
        text=wide * MESSAGE_MAX_CODE_POINTS,
        subject=user,
        media=pictures,
        created_at=stamp,
    )

    def conversation(members: int) -> m.Conversation:
        return m.Conversation(
            id="5" * 26,
            kind="group",
            title=wide * DISPLAY_NAME_MAX_CODE_POINTS,
            owner_id="0" * 26,
            members=[user] * members,
            member_count=150,
            created_at=stamp,
            last_message=message,
            unread=2**31,
            last_read="4" * 26,
        )

    community = m.Community(
        id="6" * 26,
        name=wide * DISPLAY_NAME_MAX_CODE_POINTS,
        description=wide * COMMUNITY_DESCRIPTION_MAX_CODE_POINTS,
        tags=["t" * 30] * 8,
        approval_required=True,
        certified=True,
        owner=user,
        member_count=2**31,
        created_at=stamp,
        my_role="moderator",
        request_pending=False,
    )
    largest = {
        "timeline": m.TimelinePage(posts=[quoting] * 100, next="3" * 26),
        "discover": m.DiscoverPage(posts=[quoting] * 100, next="o140"),
        "thread": m.ThreadResult(
            ancestors=[quoting] * 50, post=quoting, replies=[quoting] * 100, next="3" * 26
        ),
        "dm.history": m.MessagePage(messages=[message] * 100, next="4" * 26),
        "dm.list": m.ConversationPage(
            conversations=[conversation(m.CONVERSATION_PREVIEW_MEMBERS)] * 50, next="x"
        ),
        "dm.get": m.ConversationResult(conversation=conversation(150)),
        "block.list": m.UserList(users=[user] * m.RELATION_LIST_MAX),
        "community.search": m.CommunityPage(communities=[community] * 100, next="o100"),
    }
    requests = {
        "timeline": m.TimelineFollowing(id="r" * 64),
        "thread": m.PostThread(id="r" * 64, post_id="1" * 26),
    }
    requests["dm.history"] = m.DmHistory(id="r" * 64, conversation_id="5" * 26)
    requests["discover"] = m.TimelineDiscover(id="r" * 64, cursor="o40")
    for name, result in largest.items():
        request = requests.get(name, m.Heartbeat(id="r" * 64))
        sent = msgspec.json.decode(ok_frame_within_bound(request, result))["data"]
        size = len(ok_frame_within_bound(request, result))
        assert size <= MAX_SERVER_FRAME_BYTES, (name, size)
        # A page cut to fit says where the rest is, and holds a real part of the page.
        if name in requests:
            items = sent.get("posts") or sent.get("replies") or sent.get("messages")
            after = f"o{40 + len(items)}" if name == "discover" else items[-1]["id"]
            assert len(items) >= 20 and sent["next"] == after, (name, len(items))
