"""Every frame of protocol v1 as a strict typed model.

These types are the contract: the server decodes client frames with them, builds its answers
from them, the SDK and the load test use the same ones, and ``protocol/asyncapi.json`` is
generated from them (``python -m protocol.spec``). Unknown fields are rejected everywhere
(``forbid_unknown_fields``): a misspelt field is an error, not a silent no-op.

Layout of a frame::

    client → server   {"op": "<request op>", "id": "<request id>", ...arguments}
    server → client   {"op": "ok", "id": "<request id>", "data": {...result}}
                      {"op": "error", "id": "<request id>" | null, "code": ..., "message": ...}
                      {"op": "event", "seq": N, "type": "<event type>", "data": {...}}
                      {"op": "hello", ...} then, after auth, {"op": "ready", ...}

Events that belong to a resumable stream also carry ``"stream"`` and ``"pos"``: the client keeps
the last ``pos`` per stream and sends it back as a cursor in ``auth`` after a reconnect.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from .errors import ErrorCode
from .text import Emotext

# --- scalar types ----------------------------------------------------------------------------

#: A persisted item's id: 26 characters of Crockford base32, a 48-bit millisecond timestamp then
#: 80 bits that make it unique. Ids sort by creation time as plain strings.
Id = Annotated[str, msgspec.Meta(pattern="^[0-9A-HJKMNP-TV-Z]{26}$", examples=["01JD0M7Q5W3K4T9V2X8Y6Z1ABC"])]
RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Handle = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_]{3,20}$")]
#: RFC 3339 time in UTC with milliseconds, e.g. "2026-11-21T13:45:00.123Z".
Timestamp = Annotated[str, msgspec.Meta(examples=["2026-11-21T13:45:00.123Z"])]
PageLimit = Annotated[int, msgspec.Meta(ge=1, le=100)]
# Bounds only protect the decoder; the real text rules (NFC, clusters, blank) are in protocol.text.
PostText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class _Model(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=False):
    pass


# --- payloads --------------------------------------------------------------------------------


class User(_Model):
    """A user as shown next to their posts: enough to render a name and badges."""

    id: Id
    handle: str
    display_name: str
    verified: bool
    bot: bool


class Profile(User):
    """A user's profile page, as seen by the requesting user."""

    created_at: Timestamp
    followers_count: int
    following_count: int
    #: The requesting user follows this user.
    following: bool
    #: This user follows the requesting user.
    followed_by: bool


class Post(_Model):
    id: Id
    author: User
    text: str
    emotext: Emotext | None
    reply_to: Id | None
    created_at: Timestamp


class Invite(_Model):
    code: str
    url: str
    created_at: Timestamp
    expires_at: Timestamp
    used_by: User | None
    used_at: Timestamp | None


class Limits(_Model):
    """What this server allows; read it from ``hello`` rather than hard-coding defaults."""

    #: Largest frame a client may send (the server closes with 1009 above it).
    max_frame_bytes: int
    #: Largest frame the server sends; set the client's receive limit at least this high.
    max_server_frame_bytes: int
    post_max_clusters: int
    post_max_code_points: int
    resume_max_items: int
    send_queue_max: int
    max_unused_invites: int
    #: The frame budget: a burst of ``frame_burst`` frames, then one per ``frame_refill_ms``.
    frame_burst: int
    frame_refill_ms: int
    #: The posting rate: ``post_burst`` posts, then one per ``post_refill_ms``.
    post_burst: int
    post_refill_ms: int


# --- client → server -------------------------------------------------------------------------


class Cursors(_Model):
    """The last ``pos`` the client saw on each resumable stream."""

    following: Id | None = None


class ClientFrame(_Model, tag_field="op"):
    """Base of every frame a client sends."""


class Auth(ClientFrame, tag="auth"):
    """The first frame on a connection. Answered by ``ready`` or by a close (4500/4502).

    ``token`` is a session token from ``POST /api/login`` or ``/api/signup``. A browser may omit it
    and rely on the HttpOnly ``tsudoi_session`` cookie, which is honoured only when the WebSocket
    handshake's ``Origin`` is the server's own (or allow-listed).
    """

    token: Token | None = None
    cursors: Cursors | None = None


class Request(ClientFrame):
    """A request: answered by exactly one ``ok`` or ``error`` frame with the same ``id``."""

    id: RequestId


class Heartbeat(Request, tag="heartbeat"):
    """Keeps the connection alive; send one every ``heartbeat_interval_ms`` (any frame counts)."""


class PostCreate(Request, tag="post.create"):
    text: PostText
    emotext: Emotext | None = None
    reply_to: Id | None = None


class PostDelete(Request, tag="post.delete"):
    post_id: Id


class Follow(Request, tag="follow"):
    user_id: Id


class Unfollow(Request, tag="unfollow"):
    user_id: Id


class TimelineFollowing(Request, tag="timeline.following"):
    """Newest first. Pass the previous page's ``next`` as ``before`` for the following page."""

    limit: PageLimit = 20
    before: Id | None = None


class UserGet(Request, tag="user.get"):
    handle: Handle


class InviteCreate(Request, tag="invite.create"):
    pass


class InviteList(Request, tag="invite.list"):
    pass


REQUEST_TYPES: tuple[type[Request], ...] = (
    Heartbeat,
    PostCreate,
    PostDelete,
    Follow,
    Unfollow,
    TimelineFollowing,
    UserGet,
    InviteCreate,
    InviteList,
)
CLIENT_FRAME_TYPES: tuple[type[ClientFrame], ...] = (Auth, *REQUEST_TYPES)


def op_of(frame_type: type[ClientFrame]) -> str:
    tag = frame_type.__struct_config__.tag
    if not isinstance(tag, str):  # pragma: no cover - every concrete frame sets its tag
        raise TypeError(f"{frame_type.__name__} has no op tag")
    return tag


# --- results (the ``data`` of an ``ok`` frame, by request op) --------------------------------


class HeartbeatResult(_Model):
    server_time: Timestamp


class PostResult(_Model):
    post: Post


class PostDeleteResult(_Model):
    post_id: Id


class ProfileResult(_Model):
    user: Profile


class TimelinePage(_Model):
    posts: list[Post]
    #: Pass as ``before`` to get the next (older) page; null on the last page.
    next: Id | None


class InviteResult(_Model):
    invite: Invite


class InviteListResult(_Model):
    invites: list[Invite]


RESULT_TYPES: dict[type[Request], type[_Model]] = {
    Heartbeat: HeartbeatResult,
    PostCreate: PostResult,
    PostDelete: PostDeleteResult,
    Follow: ProfileResult,
    Unfollow: ProfileResult,
    TimelineFollowing: TimelinePage,
    UserGet: ProfileResult,
    InviteCreate: InviteResult,
    InviteList: InviteListResult,
}


# --- server → client -------------------------------------------------------------------------


class ServerFrame(_Model, tag_field="op"):
    """Base of every frame the server sends."""


class Hello(ServerFrame, tag="hello"):
    """Sent at once on every new connection; the client answers with ``auth``."""

    protocol: str
    server_version: str
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    auth_timeout_ms: int
    limits: Limits


class Ready(ServerFrame, tag="ready"):
    """Answers a successful ``auth``; the connection is live from here on.

    ``recovered`` is true when cursors were sent and every item missed since them follows this
    frame (``replayed`` of them, as ordinary events, oldest first). When false, the client
    reloads its views (``timeline.following``) instead: there were no cursors, or more than
    ``limits.resume_max_items`` items were missed.
    """

    user: Profile
    session_id: str
    recovered: bool
    replayed: int


class Ok(ServerFrame, tag="ok"):
    id: RequestId
    #: One of the result types, chosen by the request's op (see RESULT_TYPES).
    data: dict[str, object]


class Error(ServerFrame, tag="error"):
    #: The request's id; null when the frame was too broken to read one.
    id: RequestId | None
    code: ErrorCode
    message: str
    #: The offending field as a JSON path (``$.text``), when one field is to blame.
    path: str | None = None
    retry_after_ms: int | None = None


class Event(ServerFrame, tag="event"):
    #: 1, 2, 3, ... per connection, in the order the events are written to it.
    seq: int
    type: str
    data: dict[str, object]
    #: For events of a resumable stream: the stream's name and the item's position in it.
    stream: str | None = None
    pos: Id | None = None


# --- event data, by event type ---------------------------------------------------------------


class EventData(_Model):
    """Base of event payloads. ``TYPE`` is the event's type, ``STREAM`` its resumable stream."""

    TYPE: ClassVar[str]
    STREAM: ClassVar[str | None] = None


class PostCreated(EventData):
    TYPE = "post.created"
    STREAM = "following"
    post: Post


class PostDeleted(EventData):
    TYPE = "post.deleted"
    STREAM = "following"
    post_id: Id
    author_id: Id


class FollowEvent(EventData):
    """Someone followed someone: sent to the followee's and the follower's connections."""

    TYPE = "follow"
    follower: User
    followee: User


class UnfollowEvent(EventData):
    """Sent to the follower's own connections (followees are not told)."""

    TYPE = "unfollow"
    follower: User
    followee: User


EVENT_TYPES: tuple[type[EventData], ...] = (PostCreated, PostDeleted, FollowEvent, UnfollowEvent)
STREAMS: tuple[str, ...] = ("following",)
