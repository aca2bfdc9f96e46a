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

from typing import Annotated, ClassVar, Literal

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
#: A direct message: the real rule (1-1,000 clusters) is in protocol.text, like a post's. Empty
#: only when the message carries pictures (``media``, since 1.9.0).
MessageText = Annotated[str, msgspec.Meta(max_length=16384)]
#: One of ``limits.reaction_emoji`` (a single emoji grapheme).
Emoji = Annotated[str, msgspec.Meta(min_length=1, max_length=32, examples=["👍"])]
#: A display name: 1-50 user-perceived characters; the real rule is in protocol.text.
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
#: A community's name: 1-50 user-perceived characters, checked like a display name.
CommunityName = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
#: A community's description: 0-500 user-perceived characters.
Description = Annotated[str, msgspec.Meta(max_length=4096)]
#: An interest tag: 1-30 characters in any script without white space, ``#`` or ``,``; stored
#: and compared in canonical form (NFKC, then case-folded: "Ｓｅｎｄａｉ" is "sendai").
Tag = Annotated[str, msgspec.Meta(pattern="^[^\\s#,]{1,30}$", examples=["sendai", "防災"])]
#: A hashtag to read (``timeline.tag``), with or without its ``#``: the grammar of PROTOCOL.md
#: section 7.10 decides (protocol.text.tag_body); the bound protects the decoder.
HashtagQuery = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["炊き出し"])]
#: What an entity of a post's text is: a hashtag or a link. Read as a string, not an enum, so
#: that a client meets a kind added later as one to ignore (PROTOCOL.md section 12).
EntityKind = Annotated[str, msgspec.Meta(examples=["tag", "url"])]
#: An opaque page cursor from a previous page's ``next``; pass it back unchanged.
PageCursor = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
UserIds = Annotated[list[Id], msgspec.Meta(min_length=1, max_length=149)]
SearchQuery = Annotated[str, msgspec.Meta(max_length=100)]
#: A profile's bio: 0-160 user-perceived characters (section 7.8); the bound protects the decoder.
Bio = Annotated[str, msgspec.Meta(max_length=2048)]
#: A picture's description for people who cannot see it: 0-1,500 user-perceived characters.
AltText = Annotated[str, msgspec.Meta(max_length=8192)]
#: Where a picture is served: a path on this server, ``/media/<id>/<variant>``.
MediaUrl = Annotated[str, msgspec.Meta(examples=["/media/01JD0M7Q5W3K4T9V2X8Y6Z1ABC/display"])]
#: A placeholder colour, ``#rrggbb``: what a client paints while the picture loads.
Colour = Annotated[str, msgspec.Meta(pattern="^#[0-9a-f]{6}$", examples=["#8a7f72"])]
ReportReason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
#: What kind of wrong a report names (since 1.10.0): misinformation matters most in a disaster.
ReportCategory = Literal["spam", "harassment", "misinformation", "other"]
ConversationTitle = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
#: A client's idempotency key for ``post.create`` and ``dm.send``: 1-64 of ``A-Z a-z 0-9 _ -``
#: (a UUID's hex digits fit). ``(?!\n)`` because Python's ``$`` also matches before a final
#: newline, which the pattern must refuse as JSON Schema's (ECMA-262) ``$`` does.
Nonce = Annotated[
    str, msgspec.Meta(pattern="^[A-Za-z0-9_-]{1,64}(?!\n)$", examples=["5f0c2b9e4d7a4e0b9f3a1c2d8e6b7a90"])
]

#: A member's role in a community.
Role = Literal["owner", "moderator", "member"]
#: Who may start a direct conversation with a user (or add them to a group).
DmPolicy = Literal["everyone", "following", "nobody"]
ConversationKind = Literal["direct", "group"]
#: ``text`` is a member's message; the others are written by the server when the conversation
#: is made and its membership changes (``subject`` is the member added, removed or leaving).
MessageKind = Literal["text", "created", "added", "removed", "left"]
NotificationKind = Literal[
    "mention",
    "reply",
    "reaction",
    "follow",
    "repost",
    "quote",
    "announcement",
    "join_request",
    "join_approved",
    "safety",
]
#: Online: at least one live connection and activity within ``limits.idle_after_ms``; idle:
#: connected but inactive; offline: no connection for longer than the grace period.
PresenceState = Literal["online", "idle", "offline"]
#: Who sees a user's presence and last-seen time: their friends (mutual follows), or nobody.
PresenceVisibility = Literal["friends", "nobody"]
SafetyState = Literal["safe", "need_help", "evacuating"]
#: Who a safety status is for: friends (mutual follows), followers (friends included), or
#: everyone (pushed to followers, readable by anyone).
SafetyAudience = Literal["friends", "followers", "everyone"]
#: A coarse area in words ("Sendai, Aoba ward"), never coordinates.
Area = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
IncidentTitle = Annotated[str, msgspec.Meta(min_length=1, max_length=800)]


class _Model(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=False):
    pass


#: The most positions ``auth.recent`` may carry (``limits.resume_recent_max``): at 20 items a
#: second into one stream, a 5-second window holds 100.
RESUME_RECENT_MAX = 1000
#: Members a conversation carries in ``dm.list`` pages (``dm.get`` carries every member).
CONVERSATION_PREVIEW_MEMBERS = 10
#: ``block.list`` and ``mute.list`` return at most this many users, the most recent first.
RELATION_LIST_MAX = 1000


# --- payloads --------------------------------------------------------------------------------


class Avatar(_Model):
    """A profile picture: a square, served in two sizes (since 1.9.0)."""

    #: At most 400 x 400 pixels.
    url: MediaUrl
    #: At most 96 x 96 pixels: for lists and small cards, and during an incident.
    thumbnail_url: MediaUrl
    placeholder: Colour


class User(_Model):
    """A user as shown next to their posts: enough to render a name, badges and a face."""

    id: Id
    handle: str
    #: 1-50 characters; "" only for a deleted account (since 1.11.0), whose messages stay in
    #: their conversations: show it as "a deleted account".
    display_name: str
    verified: bool
    bot: bool
    #: Null for none: draw the initial. Since 1.9.0.
    avatar: Avatar | None


class Profile(User):
    """A user's profile page, as seen by the requesting user."""

    #: 0-160 user-perceived characters (since 1.9.0).
    bio: str | None
    #: Interest tags in canonical form, at most ``PROFILE_MAX_INTERESTS`` (since 1.9.0).
    interests: list[str]
    created_at: Timestamp
    followers_count: int
    following_count: int
    #: The requesting user follows this user.
    following: bool
    #: This user follows the requesting user.
    followed_by: bool
    #: The requesting user blocks this user.
    blocking: bool
    #: The requesting user mutes this user.
    muting: bool


class ReactionCount(_Model):
    emoji: str
    count: int


class MediaVariant(_Model):
    """One size of a picture: where it is served and its size in pixels."""

    url: MediaUrl
    width: int
    height: int
    #: ``image/jpeg`` or ``image/webp`` (an animation is an animated WebP).
    content_type: str


class Media(_Model):
    """A picture attached to a post or a message (since 1.9.0). ``width`` and ``height`` are
    the upright original's: a client lays out a box of that shape, painted ``placeholder``,
    before any byte arrives."""

    id: Id
    width: int
    height: int
    placeholder: Colour
    #: What the picture shows, for people who cannot see it; null if its author gave none.
    alt: str | None
    #: An animation (from a GIF, an animated PNG or WebP); ``thumbnail`` is its first frame.
    animated: bool
    #: Long edge at most 1,600 pixels (an animation: 800).
    display: MediaVariant
    #: Long edge at most 400 pixels, a still: what timelines show during an incident.
    thumbnail: MediaVariant


class MediaAttachment(_Model):
    """A picture to attach: the ``id`` an upload answered (section 11.11) and its alt text."""

    id: Id
    alt: AltText | None = None


#: Pictures on one post or message.
MEDIA_MAX_ATTACHMENTS = 4
#: Interest tags on one profile.
PROFILE_MAX_INTERESTS = 10
MediaAttachments = Annotated[list[MediaAttachment], msgspec.Meta(max_length=MEDIA_MAX_ATTACHMENTS)]


class Entity(_Model):
    """A hashtag or a link found in a post's text by the server (PROTOCOL.md section 7.10),
    never markup: ``start`` and ``end`` are UTF-16 code unit offsets into ``text`` (``end``
    exclusive; JavaScript's ``text.slice(start, end)``), and the text between them is what to
    show. ``tag`` is a hashtag's normalised form (NFKC, case-folded; null for a link), the
    value to pass to ``timeline.tag``; ``url`` is a link's address (null for a hashtag)."""

    kind: EntityKind
    start: int
    end: int
    tag: str | None
    url: str | None


class Post(_Model):
    """A post. A repost has empty ``text`` and the original in ``repost_of``; a quote has its
    own text and the original in ``quote_of``. An embedded original is one level deep (its own
    ``repost_of`` and ``quote_of`` are null) and null if the original was deleted.

    ``reactions`` are the counts per emoji, in the order each emoji was first used on the post.
    ``my_reactions`` are the emoji the *requesting* user added; an event is shared by every
    recipient, so in events it is always empty (a new post has no reactions; for an embedded
    original, keep what ``post.reactions`` events and reads told you).
    """

    id: Id
    author: User
    text: str
    emotext: Emotext | None
    reply_to: Id | None
    #: The community the post was made in; null for a post to one's followers.
    community_id: Id | None
    #: A certified community's announcement (see ``community.announce``).
    announcement: bool
    repost_of: Post | None
    quote_of: Post | None
    reactions: list[ReactionCount]
    my_reactions: list[str]
    #: Its pictures in the author's order, at most 4 (since 1.9.0); empty for a repost.
    media: list[Media]
    #: Its hashtags and links, in order of appearance (since 1.10.0); empty for a repost.
    entities: list[Entity]
    created_at: Timestamp
    #: Standing replies, reposts and quotes of it, by everyone (since 1.10.0; always an integer
    #: from this version's server, null only from older ones). 0 on a repost itself.
    replies_count: int | None
    reposts_count: int | None
    quotes_count: int | None


class Invite(_Model):
    """An invite. The server keeps only a hash of the code, so ``code`` and ``url`` are given
    once, in ``invite.create``'s answer; ``invite.list`` has them null and tells invites apart
    by ``code_prefix``, the code's first characters (since 1.8.0)."""

    code: str | None
    url: str | None
    #: Always set by this server; optional so that clients read older servers' invites.
    code_prefix: str | None
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
    #: The messaging rate (``dm.send``, ``dm.open``): ``message_burst``, then one per
    #: ``message_refill_ms``.
    message_burst: int
    message_refill_ms: int
    #: Bots' rates (``bot`` is true in their profile), the same requests as ``post_*`` and
    #: ``message_*`` draw on: ``bot_post_burst`` then one per ``bot_post_refill_ms``, and
    #: ``bot_message_burst`` then one per ``bot_message_refill_ms``.
    bot_post_burst: int
    bot_post_refill_ms: int
    bot_message_burst: int
    bot_message_refill_ms: int
    #: A direct message's length in user-perceived characters.
    message_max_clusters: int
    #: Members of a group conversation, its owner included.
    conversation_max_members: int
    #: The emoji ``post.react`` accepts, in the order a picker should show them.
    reaction_emoji: list[str]
    #: ``dm.typing`` is forwarded at most once per conversation and member in this interval.
    typing_interval_ms: int
    community_max_tags: int
    #: A connected user with no activity (any request but ``heartbeat``) for this long is idle.
    idle_after_ms: int
    #: How far behind its cursor a resume looks for items stored late (several writers): keep
    #: the positions you hold within this many milliseconds of each cursor and send them in
    #: ``auth.recent`` (section 6.5).
    resume_window_ms: int
    #: The most positions ``auth.recent`` may carry.
    resume_recent_max: int
    #: A user whose last connection closed is offline after this grace period, so a quick
    #: reconnect does not flap.
    offline_grace_ms: int
    #: Pictures (since 1.9.0): the largest upload in bytes, pictures per post or message, and
    #: the lengths of alt text and of a bio in user-perceived characters.
    media_max_bytes: int
    media_max_attachments: int
    alt_max_clusters: int
    bio_max_clusters: int
    #: The upload rate (``POST /api/media``): ``upload_burst``, then one per ``upload_refill_ms``.
    upload_burst: int
    upload_refill_ms: int
    #: The least time between two handle changes of one account (``account.handle``, since 1.12.0).
    handle_change_interval_ms: int


class Community(_Model):
    """A community as seen by the requesting user (``my_role``, ``request_pending``)."""

    id: Id
    name: str
    description: str
    tags: list[str]
    #: Joining needs a moderator's approval (``community.join`` files a request).
    approval_required: bool
    #: Certified by the operators: an official page whose staff may post announcements.
    certified: bool
    owner: User
    member_count: int
    created_at: Timestamp
    #: The requesting user's role, or null if not a member.
    my_role: Role | None
    #: The requesting user has a join request waiting.
    request_pending: bool


class Member(_Model):
    user: User
    role: Role
    joined_at: Timestamp


class JoinRequest(_Model):
    user: User
    requested_at: Timestamp


class Message(_Model):
    id: Id
    conversation_id: Id
    kind: MessageKind
    #: Who wrote it; for server-written kinds, who made the change (``left``: the one leaving).
    author: User
    #: The text of a ``text`` message; empty for the other kinds, and for a ``text`` message
    #: that carries only pictures.
    text: str
    #: For ``added``, ``removed`` and ``left``: the member concerned.
    subject: User | None
    #: A ``text`` message's pictures, at most 4 (since 1.9.0); empty for the other kinds.
    media: list[Media]
    created_at: Timestamp


class Conversation(_Model):
    """A direct (1:1) or group conversation, as seen by one of its members."""

    id: Id
    kind: ConversationKind
    #: A group's title; null for direct conversations and untitled groups.
    title: str | None
    #: A group's owner (who may add and remove members); null for direct conversations.
    owner_id: Id | None
    #: Members in the order they joined: all of them from ``dm.get`` and ``dm.open``, the first
    #: ``CONVERSATION_PREVIEW_MEMBERS`` (10) in ``dm.list`` pages.
    members: list[User]
    member_count: int
    created_at: Timestamp
    last_message: Message | None
    #: Members' ``text`` messages after the requesting user's read marker.
    unread: int
    #: The requesting user's read marker: the id of the last message they have read.
    last_read: Id | None


class Notification(_Model):
    id: Id
    kind: NotificationKind
    #: Who caused it (null for none).
    actor: User | None
    #: The post concerned (mention, reply, reaction, repost, quote, announcement).
    post_id: Id | None
    #: The community concerned (announcement, join_request, join_approved).
    community_id: Id | None
    #: For ``reaction``: which emoji.
    emoji: str | None
    created_at: Timestamp
    read: bool


class UserSettings(_Model):
    dm_policy: DmPolicy
    presence_visibility: PresenceVisibility


class Presence(_Model):
    """A user's presence as the requesting user may see it."""

    user_id: Id
    state: PresenceState
    #: The user's last activity, to the minute (written behind); null if never seen.
    last_seen_at: Timestamp | None


class SafetyStatus(_Model):
    """One safety report of a user ("I am safe", "I need help", "we are evacuating")."""

    id: Id
    user: User
    state: SafetyState
    #: At most 149 user-perceived characters, like a post; may be empty.
    note: str
    area: str | None
    audience: SafetyAudience
    created_at: Timestamp


class BoardEntry(_Model):
    """A friend on the safety board."""

    user: User
    #: Their latest safety status you may see, or null if they have given none.
    status: SafetyStatus | None
    #: Null if they hide their presence (``presence_visibility`` "nobody").
    presence: Presence | None


class Incident(_Model):
    """A disaster or emergency an operator declared: clients show a banner while it lasts."""

    id: Id
    title: str
    area: str | None
    started_at: Timestamp
    #: Null while it is active.
    ended_at: Timestamp | None


# --- client → server -------------------------------------------------------------------------


class Cursors(_Model):
    """The last ``pos`` the client saw on each resumable stream."""

    #: Posts (and their deletions) of the user's circle: made outside communities by the user and
    #: the users they follow, and made in the user's communities by anyone.
    following: Id | None = None
    #: Messages of the user's conversations.
    direct: Id | None = None
    #: The user's notifications.
    notifications: Id | None = None


class ClientFrame(_Model, tag_field="op"):
    """Base of every frame a client sends."""


class Auth(ClientFrame, tag="auth"):
    """The first frame on a connection. Answered by ``ready`` or by a close (4500/4502).

    ``token`` is a session token from ``POST /api/login`` or ``/api/signup``. A browser may omit it
    and rely on the HttpOnly ``tsudoi_session`` cookie, which is honoured only when the WebSocket
    handshake's ``Origin`` is the server's own (or allow-listed).

    ``recent`` (since 1.8.0): the positions the client holds within ``limits.resume_window_ms``
    behind the cursor of their stream, all streams in one list. With it, the resume also sends
    the items of that window the client lacks: ones stored late, after an item with a greater
    position (section 6.5). Without it, a resume starts strictly after each cursor.

    ``compact`` (since 1.15.0): true asks for compact events (section 3.5): in every event's
    ``data``, at any depth, a member whose value is ``null``, ``false`` or ``[]`` is left out,
    and the client reads it back as section 12 reads a field an older server left out. Send it
    only to a server whose ``hello.features`` lists ``compact``.
    """

    token: Token | None = None
    cursors: Cursors | None = None
    recent: Annotated[list[Id], msgspec.Meta(max_length=RESUME_RECENT_MAX)] | None = None
    compact: bool | None = None


class Request(ClientFrame):
    """A request: answered by exactly one ``ok`` or ``error`` frame with the same ``id``."""

    id: RequestId


class Heartbeat(Request, tag="heartbeat"):
    """Keeps the connection alive; send one every ``heartbeat_interval_ms`` (any frame counts)."""


class PostCreate(Request, tag="post.create"):
    """A post to one's followers, or with ``community_id`` to a community one is a member of.
    A reply (``reply_to``) to a community post belongs to that community; ``quote_of`` quotes
    a post with this text."""

    text: PostText
    emotext: Emotext | None = None
    reply_to: Id | None = None
    quote_of: Id | None = None
    community_id: Id | None = None
    #: Makes a retry safe: the author's second ``post.create`` with this nonce creates nothing
    #: and answers the post the first one created (PROTOCOL.md 4.3.1).
    nonce: Nonce | None = None
    #: Pictures uploaded for a post (section 11.11), at most 4, in the order to show them.
    media: MediaAttachments = []


class PostDelete(Request, tag="post.delete"):
    """Delete one's own post, or, as a moderator, a post in one's community."""

    post_id: Id


class PostRepost(Request, tag="post.repost"):
    """Repost a post to one's followers. Undo it by deleting the repost (``post.delete``)."""

    post_id: Id


class PostGet(Request, tag="post.get"):
    post_id: Id


class PostThread(Request, tag="post.thread"):
    """A post with the chain of posts it replies to and a page of its direct replies, oldest
    first. Pass the previous page's ``next`` as ``after`` for more replies."""

    post_id: Id
    limit: PageLimit = 50
    after: Id | None = None


class PostReact(Request, tag="post.react"):
    """Add a reaction (idempotent: adding one you have already added changes nothing)."""

    post_id: Id
    emoji: Emoji


class PostUnreact(Request, tag="post.unreact"):
    """Remove one of your reactions (idempotent)."""

    post_id: Id
    emoji: Emoji


class TimelineDiscover(Request, tag="timeline.discover"):
    """Posts from outside your circle, best first (ranking in PROTOCOL.md). ``cursor`` is the
    previous page's ``next``."""

    limit: PageLimit = 20
    cursor: PageCursor | None = None


class CommunityCreate(Request, tag="community.create"):
    name: CommunityName
    description: Description = ""
    tags: Annotated[list[Tag], msgspec.Meta(max_length=8)] = []
    approval_required: bool = False


class CommunityGet(Request, tag="community.get"):
    community_id: Id


class CommunitySearch(Request, tag="community.search"):
    """Communities whose name contains ``query`` (case-insensitive) and, with ``tag``, carry
    that tag; largest first."""

    query: SearchQuery = ""
    tag: Tag | None = None
    limit: PageLimit = 20
    cursor: PageCursor | None = None


class SearchUsers(Request, tag="search.users"):
    """People whose handle or display name contains ``query``, compared width-, case- and
    kana-insensitively (PROTOCOL.md 4.11); the one whose handle is ``query`` first. Since 1.10.0."""

    query: SearchQuery
    limit: PageLimit = 20
    cursor: PageCursor | None = None


class SearchPosts(Request, tag="search.posts"):
    """Posts you may read whose text contains ``query``, compared width-, case- and
    kana-insensitively (PROTOCOL.md 4.11); newest first. Since 1.10.0."""

    query: SearchQuery
    limit: PageLimit = 20
    cursor: PageCursor | None = None


class CommunityMine(Request, tag="community.mine"):
    """The communities you are a member of, in the order you joined them, each with your role
    (``my_role``)."""

    limit: PageLimit = 20
    cursor: PageCursor | None = None


class CommunityJoin(Request, tag="community.join"):
    """Join an open community, or file a join request to one that needs approval."""

    community_id: Id


class CommunityLeave(Request, tag="community.leave"):
    """Leave a community (or withdraw a pending join request). The owner transfers first."""

    community_id: Id


class CommunityRequests(Request, tag="community.requests"):
    """Pending join requests, oldest first (moderators)."""

    community_id: Id


class CommunityApprove(Request, tag="community.approve"):
    community_id: Id
    user_id: Id


class CommunityDecline(Request, tag="community.decline"):
    community_id: Id
    user_id: Id


class CommunityMembers(Request, tag="community.members"):
    """Members in the order they joined, each with their role."""

    community_id: Id
    limit: PageLimit = 50
    cursor: PageCursor | None = None


class CommunitySetRole(Request, tag="community.set_role"):
    """The owner makes a member a moderator, or a moderator a member again."""

    community_id: Id
    user_id: Id
    role: Literal["moderator", "member"]


class CommunityTransfer(Request, tag="community.transfer"):
    """The owner hands the community to another member and becomes a moderator."""

    community_id: Id
    user_id: Id


class CommunityBan(Request, tag="community.ban"):
    """Remove a member (or a requester) and keep them out. Moderators ban members; only the
    owner bans moderators; nobody bans the owner."""

    community_id: Id
    user_id: Id


class CommunityUnban(Request, tag="community.unban"):
    community_id: Id
    user_id: Id


class CommunityTimeline(Request, tag="community.timeline"):
    """A community's posts, newest first. Open communities are readable by everyone; those
    that need approval, by their members."""

    community_id: Id
    limit: PageLimit = 20
    before: Id | None = None


class CommunityAnnounce(Request, tag="community.announce"):
    """In a certified community, its owner and moderators post an announcement: a community
    post that also notifies every member."""

    community_id: Id
    text: PostText
    emotext: Emotext | None = None
    #: Pictures uploaded for a post (section 11.11), as ``post.create`` takes them.
    media: MediaAttachments = []


class DmOpen(Request, tag="dm.open"):
    """With one other user and no ``title``: your direct conversation with them (made on first
    use). Otherwise: a new group you own, titled ``title`` if given."""

    user_ids: UserIds
    title: ConversationTitle | None = None


class DmList(Request, tag="dm.list"):
    """Your conversations, the most recently active first (each with at most
    ``CONVERSATION_PREVIEW_MEMBERS`` members: ``dm.get`` gives them all)."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 20
    cursor: PageCursor | None = None


class DmGet(Request, tag="dm.get"):
    """One conversation with every member."""

    conversation_id: Id


class DmSend(Request, tag="dm.send"):
    conversation_id: Id
    #: May be empty when ``media`` is not.
    text: MessageText
    #: Makes a retry safe: the author's second ``dm.send`` with this nonce in this conversation
    #: sends nothing and answers the message the first one sent (PROTOCOL.md 4.5.4).
    nonce: Nonce | None = None
    #: Pictures uploaded for a post (section 11.11), as ``post.create`` takes them.
    media: MediaAttachments = []


class DmHistory(Request, tag="dm.history"):
    """Messages newest first; ``before`` is the previous page's ``next``."""

    conversation_id: Id
    limit: PageLimit = 50
    before: Id | None = None


class DmTyping(Request, tag="dm.typing"):
    """You are typing: the other members see ``dm.typing`` (throttled, never stored)."""

    conversation_id: Id


class DmRead(Request, tag="dm.read"):
    """Move your read marker forward to ``message_id`` (never backward)."""

    conversation_id: Id
    message_id: Id


class DmLeave(Request, tag="dm.leave"):
    """Leave a group conversation. An owner leaving hands the group to its longest member."""

    conversation_id: Id


class DmAdd(Request, tag="dm.add"):
    """The group's owner adds members."""

    conversation_id: Id
    user_ids: UserIds


class DmRemove(Request, tag="dm.remove"):
    """The group's owner removes a member."""

    conversation_id: Id
    user_id: Id


class SettingsGet(Request, tag="settings.get"):
    pass


class SettingsUpdate(Request, tag="settings.update"):
    """Change the settings given; the others stay."""

    dm_policy: DmPolicy | None = None
    presence_visibility: PresenceVisibility | None = None


class SessionList(Request, tag="session.list"):
    """Your signed-in sessions: each live one (not signed out, not expired), newest first, with
    the device it was started from and when it was last used; never a token (since 1.11.0)."""


class SessionRevoke(Request, tag="session.revoke"):
    """Sign one of your other sessions out: its token stops working and its live connections,
    on every node, close at once with 4501. This connection's own session is signed out by
    ``POST /api/logout`` instead. Since 1.11.0."""

    session_id: Id


class AccountHandle(Request, tag="account.handle"):
    """Change your handle, with your password (since 1.12.0). The rules are sign-up's (3-20
    ASCII letters, digits, ``_``; unique regardless of case); one change per
    ``limits.handle_change_interval_ms``. The handle you leave stays yours for good: nobody else
    can take it, and it still finds you (``user.get``, mentions). Sent live as ``user.updated``."""

    #: The new handle, as it should be written (its case is kept).
    handle: Annotated[str, msgspec.Meta(max_length=64)]
    #: Your current password.
    password: Annotated[str, msgspec.Meta(max_length=4096)]


#: A key of a browser's push subscription (``PushSubscription.toJSON().keys``): base64url, with
#: or without padding.
PushKey = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_-]+={0,2}$", max_length=128)]


class PushKeys(_Model):
    """The keys of a push subscription (RFC 8291): ``p256dh`` the browser's P-256 public key
    (65 bytes, uncompressed), ``auth`` its authentication secret (16 bytes)."""

    p256dh: PushKey
    auth: PushKey


class PushKindSwitches(_Model):
    """Some push kinds switched on (true) or off (false); those left out stay as they are."""

    safety: bool | None = None
    announcement: bool | None = None
    dm: bool | None = None
    mention: bool | None = None
    incident: bool | None = None


class PushConfig(Request, tag="push.config"):
    """Web Push: the server's VAPID public key (for ``PushManager.subscribe``), what you want
    pushed, and your devices that receive pushes. Since 1.13.0."""


class PushSubscribe(Request, tag="push.subscribe"):
    """Let this device receive Web Push: the browser's ``PushSubscription`` (its ``endpoint``,
    ``keys`` and ``expirationTime``). Bound to this connection's session, which signing out
    ends; idempotent per endpoint (the same id again, with the keys given). Since 1.13.0."""

    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    keys: PushKeys
    #: When the browser says the subscription ends (ms since the epoch), or null.
    expiration_time: int | None = None


class PushUnsubscribe(Request, tag="push.unsubscribe"):
    """Stop pushing to one of your devices (an ``id`` of ``push.config``'s subscriptions).
    Since 1.13.0."""

    subscription_id: Id


class PushPreferencesSet(Request, tag="push.preferences"):
    """Change what is pushed to you: kinds switched on or off, and whether a DM's push carries
    its text (``previews``). Answers as ``push.config``. Since 1.13.0."""

    kinds: PushKindSwitches | None = None
    previews: bool | None = None


class PresenceGet(Request, tag="presence.get"):
    """The presence of these users, those you may see (friends who show it); others are left
    out of the answer."""

    user_ids: UserIds


class SafetySet(Request, tag="safety.set"):
    """Say how you are. Stored with its history, and pushed at once to the audience's live
    connections (``safety.status``) and inboxes (a ``safety`` notification)."""

    state: SafetyState
    note: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    area: Area | None = None
    audience: SafetyAudience = "friends"


class SafetyBoard(Request, tag="safety.board"):
    """Your friends, those who need help first, then those unheard from longest: each with their
    latest status, presence and last-seen time."""

    limit: PageLimit = 50
    cursor: PageCursor | None = None


class SafetyHistory(Request, tag="safety.history"):
    """A user's statuses you may see, newest first."""

    user_id: Id
    limit: PageLimit = 20
    before: Id | None = None


class IncidentStart(Request, tag="incident.start"):
    """Operators only: declare an incident (one at a time). Every connected client receives
    ``incident.started``; ``ready`` carries it while it lasts."""

    title: IncidentTitle
    area: Area | None = None


class IncidentEnd(Request, tag="incident.end"):
    """Operators only: end the active incident."""


class NotificationList(Request, tag="notification.list"):
    """Newest first; ``before`` is the previous page's ``next``."""

    limit: PageLimit = 20
    before: Id | None = None


class NotificationRead(Request, tag="notification.read"):
    notification_id: Id


class NotificationReadAll(Request, tag="notification.read_all"):
    pass


class BlockAdd(Request, tag="block.add"):
    """Block a user: follows between you end, and neither of you sees, follows, mentions or
    messages the other."""

    user_id: Id


class BlockRemove(Request, tag="block.remove"):
    user_id: Id


class BlockList(Request, tag="block.list"):
    pass


class MuteAdd(Request, tag="mute.add"):
    """Mute a user: their posts and what they do leave your timelines and notifications. They
    are not told."""

    user_id: Id


class MuteRemove(Request, tag="mute.remove"):
    user_id: Id


class MuteList(Request, tag="mute.list"):
    pass


class ReportCreate(Request, tag="report.create"):
    """Report a post or a user to the operators (exactly one of ``post_id`` and ``user_id``),
    with a ``category`` (since 1.10.0), a note in ``reason``, or both; at least one."""

    #: The reporter's own words (only operators read them). Optional since 1.10.0.
    reason: ReportReason | None = None
    post_id: Id | None = None
    user_id: Id | None = None
    category: ReportCategory | None = None


class Follow(Request, tag="follow"):
    user_id: Id


class Unfollow(Request, tag="unfollow"):
    user_id: Id


class TimelineFollowing(Request, tag="timeline.following"):
    """Newest first. Pass the previous page's ``next`` as ``before`` for the following page."""

    limit: PageLimit = 20
    before: Id | None = None


class TimelineUser(Request, tag="timeline.user"):
    """One user's own posts and reposts, newest first, for their profile page: those made
    outside communities, and those in communities you may read (open ones, and your own).
    Pass the previous page's ``next`` as ``before`` for the following page."""

    user_id: Id
    limit: PageLimit = 20
    before: Id | None = None


class TimelineTag(Request, tag="timeline.tag"):
    """The standing posts with a hashtag that you may see, newest first (since 1.10.0). With
    ``live``, this connection also receives each new such post as a ``tag.post_created``
    event, and each deletion as ``tag.post_deleted``, until ``tag.unwatch`` or the connection
    ends: live only, never replayed (ask again after reconnecting). Pass the previous page's
    ``next`` as ``before`` for the following page."""

    tag: HashtagQuery
    limit: PageLimit = 20
    before: Id | None = None
    live: bool = False


class TagUnwatch(Request, tag="tag.unwatch"):
    """Stop receiving a hashtag's live events on this connection (since 1.10.0). Answered
    ``ok`` whether or not it was watched."""

    tag: HashtagQuery


class UserGet(Request, tag="user.get"):
    handle: Handle


class UserFollowers(Request, tag="user.followers"):
    """Who follows a user, most recent follow first, leaving out the people you hide (since
    1.10.0). Pass the previous page's ``next`` as ``cursor`` for the following page."""

    user_id: Id
    limit: PageLimit = 50
    cursor: PageCursor | None = None


class UserFollowing(Request, tag="user.following"):
    """Whom a user follows, most recent follow first, leaving out the people you hide (since
    1.10.0). Paged as ``user.followers``."""

    user_id: Id
    limit: PageLimit = 50
    cursor: PageCursor | None = None


class ProfileUpdate(Request, tag="profile.update"):
    """Change your own profile: the fields given; the others stay (since 1.9.0). A change of
    what a User shows (display name, avatar) is sent live as ``user.updated``."""

    display_name: DisplayName | None = None
    bio: Bio | None = None
    #: An upload made for an avatar (section 11.11): it becomes your profile picture.
    avatar: Id | None = None
    #: Remove your profile picture (not with ``avatar``).
    remove_avatar: bool = False
    #: Replaces every interest; canonicalised like community tags, duplicates dropped.
    interests: Annotated[list[Tag], msgspec.Meta(max_length=PROFILE_MAX_INTERESTS)] | None = None


class InviteCreate(Request, tag="invite.create"):
    pass


class InviteList(Request, tag="invite.list"):
    pass


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


class Done(_Model):
    """The answer of a request that has nothing to return but its success."""


class ThreadResult(_Model):
    #: The posts ``post`` replies to, the thread's root first (deleted ones left out).
    ancestors: list[Post]
    post: Post
    #: Direct replies, oldest first.
    replies: list[Post]
    #: Pass as ``after`` for more replies; null when there are no more.
    next: Id | None


class ReactionsResult(_Model):
    post_id: Id
    reactions: list[ReactionCount]
    my_reactions: list[str]


class DiscoverPage(_Model):
    posts: list[Post]
    next: str | None


class CommunityResult(_Model):
    community: Community


class CommunityPage(_Model):
    communities: list[Community]
    next: str | None


class UserPage(_Model):
    users: list[User]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next: str | None


class PostPage(_Model):
    posts: list[Post]
    #: Pass as ``cursor`` for the next (older) page; null on the last page.
    next: str | None


class JoinRequestList(_Model):
    requests: list[JoinRequest]


class MemberResult(_Model):
    member: Member


class MemberPage(_Model):
    members: list[Member]
    next: str | None


class ConversationResult(_Model):
    conversation: Conversation


class ConversationPage(_Model):
    conversations: list[Conversation]
    next: str | None


class MessageResult(_Model):
    message: Message


class MessagePage(_Model):
    messages: list[Message]
    next: Id | None


class SettingsResult(_Model):
    settings: UserSettings


class SessionInfo(_Model):
    """A signed-in session, as ``session.list`` shows it (since 1.11.0)."""

    #: The session's id (the ``session_id`` of ``ready``), never its token.
    id: Id
    #: A short description of the device from its User-Agent at log-in ("Firefox on Windows"),
    #: "" if unknown.
    device: str
    created_at: Timestamp
    #: When it was last used, to about a minute; null if not since it started.
    last_used_at: Timestamp | None
    expires_at: Timestamp
    #: Whether it is the session of the connection asking.
    current: bool


class SessionListResult(_Model):
    sessions: list[SessionInfo]


class PushKinds(_Model):
    """What is pushed to a person, per kind (each on unless switched off): a followed friend's
    safety status, an announcement of a certified community of theirs, a DM, a mention or a
    reply (``mention``), the start of an incident."""

    safety: bool
    announcement: bool
    dm: bool
    mention: bool
    incident: bool


class PushSubscriptionInfo(_Model):
    """A device that receives your pushes (since 1.13.0)."""

    id: Id
    #: The push service's origin (scheme and host of the endpoint), never the whole endpoint.
    origin: str
    #: The device of the session that subscribed, as ``session.list`` shows it ("" if unknown).
    device: str
    #: When it subscribed, in ms since the epoch.
    created_at: int


class PushConfigResult(_Model):
    #: The VAPID public key (RFC 8292): an uncompressed P-256 point, base64url without padding;
    #: ``PushManager.subscribe``'s ``applicationServerKey``.
    public_key: str
    kinds: PushKinds
    #: Whether a DM's push carries its text.
    previews: bool
    #: Your devices that receive pushes, oldest first.
    subscriptions: list[PushSubscriptionInfo]


class PushSubscribeResult(_Model):
    id: Id


class NotificationPage(_Model):
    notifications: list[Notification]
    #: Unread notifications in all (not only on this page).
    unread: int
    next: Id | None


class UnreadResult(_Model):
    unread: int


class UserList(_Model):
    #: The most recent first, at most ``RELATION_LIST_MAX`` (1,000).
    users: list[User]


class ReportResult(_Model):
    report_id: Id


class PresenceResult(_Model):
    presences: list[Presence]


class SafetyResult(_Model):
    status: SafetyStatus


class BoardPage(_Model):
    entries: list[BoardEntry]
    next: str | None


class SafetyPage(_Model):
    statuses: list[SafetyStatus]
    next: Id | None


class IncidentResult(_Model):
    incident: Incident


# --- first run (PROTOCOL.md 4.12, since 1.11.0) -------------------------------------------------

#: How many suggestions of each kind ``onboarding.get`` gives at most.
OnboardingLimit = Annotated[int, msgspec.Meta(ge=1, le=50)]


class OnboardingGet(Request, tag="onboarding.get"):
    """A first-run guide built from your own circle: who invited you, people your inviter
    follows and people in your communities, and communities carrying your interests or your
    inviter's; never strangers ranked by popularity, and nothing is recorded (PROTOCOL.md
    4.12). Since 1.11.0."""

    limit: OnboardingLimit = 10


class SuggestedUser(_Model):
    """A person suggested by ``onboarding.get``, with the ties that brought them up."""

    user: User
    #: The person who invited you follows them.
    inviter_follows: bool
    #: How many of your communities they are a member of.
    shared_communities: int


class SuggestedCommunity(_Model):
    """A community suggested by ``onboarding.get``, with the ties that brought it up."""

    community: Community
    #: Your profile interests (canonical tags) that the community carries, in your order.
    interests: list[str]
    #: The person who invited you is a member.
    inviter_member: bool


class Onboarding(_Model):
    #: Who invited you; null if an operator's invite, or if one of you blocks the other or you
    #: mute them.
    inviter: User | None
    #: You follow the inviter (as joining does, until you unfollow).
    following_inviter: bool
    #: The inviter follows you back.
    inviter_follows_you: bool
    #: Most ties first (see PROTOCOL.md 4.12).
    people: list[SuggestedUser]
    #: Most ties first (see PROTOCOL.md 4.12).
    communities: list[SuggestedCommunity]


#: Every request op, with the result its ``ok`` frame carries: the one list of the ops that exist.
#: The server declares how it serves each (server/gateway/ops.py); the spec and the SDK are
#: generated from this list.
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
    PostRepost: PostResult,
    PostGet: PostResult,
    PostThread: ThreadResult,
    PostReact: ReactionsResult,
    PostUnreact: ReactionsResult,
    TimelineDiscover: DiscoverPage,
    CommunityCreate: CommunityResult,
    CommunityGet: CommunityResult,
    CommunitySearch: CommunityPage,
    CommunityJoin: CommunityResult,
    CommunityLeave: CommunityResult,
    CommunityRequests: JoinRequestList,
    CommunityApprove: MemberResult,
    CommunityDecline: Done,
    CommunityMembers: MemberPage,
    CommunitySetRole: MemberResult,
    CommunityTransfer: CommunityResult,
    CommunityBan: Done,
    CommunityUnban: Done,
    CommunityTimeline: TimelinePage,
    CommunityAnnounce: PostResult,
    DmOpen: ConversationResult,
    DmList: ConversationPage,
    DmGet: ConversationResult,
    DmSend: MessageResult,
    DmHistory: MessagePage,
    DmTyping: Done,
    DmRead: Done,
    DmLeave: Done,
    DmAdd: ConversationResult,
    DmRemove: ConversationResult,
    SettingsGet: SettingsResult,
    SettingsUpdate: SettingsResult,
    SessionList: SessionListResult,
    SessionRevoke: Done,
    AccountHandle: ProfileResult,
    NotificationList: NotificationPage,
    NotificationRead: UnreadResult,
    NotificationReadAll: UnreadResult,
    BlockAdd: ProfileResult,
    BlockRemove: ProfileResult,
    BlockList: UserList,
    MuteAdd: ProfileResult,
    MuteRemove: ProfileResult,
    MuteList: UserList,
    ReportCreate: ReportResult,
    PresenceGet: PresenceResult,
    SafetySet: SafetyResult,
    SafetyBoard: BoardPage,
    SafetyHistory: SafetyPage,
    IncidentStart: IncidentResult,
    IncidentEnd: IncidentResult,
    TimelineUser: TimelinePage,
    CommunityMine: CommunityPage,
    ProfileUpdate: ProfileResult,
    UserFollowers: UserPage,
    UserFollowing: UserPage,
    TimelineTag: TimelinePage,
    TagUnwatch: Done,
    SearchUsers: UserPage,
    SearchPosts: PostPage,
    OnboardingGet: Onboarding,
    PushConfig: PushConfigResult,
    PushSubscribe: PushSubscribeResult,
    PushUnsubscribe: Done,
    PushPreferencesSet: PushConfigResult,
}
#: Every request type, in the order of :data:`RESULT_TYPES`.
REQUEST_TYPES: tuple[type[Request], ...] = tuple(RESULT_TYPES)
CLIENT_FRAME_TYPES: tuple[type[ClientFrame], ...] = (Auth, *REQUEST_TYPES)


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
    #: What this server offers that a client asks for in ``auth`` (since 1.15.0): ``compact``.
    features: list[str]


class Ready(ServerFrame, tag="ready"):
    """Answers a successful ``auth``; the connection is live from here on.

    ``recovered`` is true when cursors were sent and, on every stream that had one, every item
    missed since it follows this frame (``replayed`` of them in all, as ordinary events, oldest
    first per stream). ``reload`` names the streams whose cursor was too far behind (more than
    ``limits.resume_max_items`` items missed): reload their views instead (``timeline.following``,
    ``dm.list``, ``notification.list``). A stream sent without a cursor is neither replayed nor
    named: the client has nothing to resume there.
    """

    user: Profile
    session_id: str
    recovered: bool
    replayed: int
    reload: list[str]
    #: The active incident, or null.
    incident: Incident | None


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


class PostCreatedEvent(EventData):
    TYPE = "post.created"
    STREAM = "following"
    post: Post


class PostDeletedEvent(EventData):
    TYPE = "post.deleted"
    STREAM = "following"
    post_id: Id
    author_id: Id
    community_id: Id | None


class PostReactionsEvent(EventData):
    """A reaction was added or removed: the post's counts now. Sent to everyone who receives the
    post's own events live (the author's followers, or the community's members)."""

    TYPE = "post.reactions"
    post_id: Id
    user_id: Id
    emoji: str
    added: bool
    reactions: list[ReactionCount]


class CommunityMembershipEvent(EventData):
    """The user's own standing in a community changed; sent to the user's connections."""

    TYPE = "community.membership"
    community: Community
    change: Literal[
        "joined", "requested", "approved", "declined", "left", "banned", "unbanned", "role", "transferred"
    ]


class DmMessageEvent(EventData):
    """A message in one of the user's conversations, including server-written ones."""

    TYPE = "dm.message"
    STREAM = "direct"
    message: Message


class DmTypingEvent(EventData):
    TYPE = "dm.typing"
    conversation_id: Id
    user: User


class DmReadEvent(EventData):
    """A member moved their read marker."""

    TYPE = "dm.read"
    conversation_id: Id
    user_id: Id
    message_id: Id


class NotificationEvent(EventData):
    TYPE = "notification"
    STREAM = "notifications"
    notification: Notification


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


class PresenceEvent(EventData):
    """A friend's presence changed (coalesced: a burst of changes arrives as the last one)."""

    TYPE = "presence"
    presence: Presence


class SafetyStatusEvent(EventData):
    """Someone in whose audience you are said how they are. A priority event."""

    TYPE = "safety.status"
    status: SafetyStatus


class IncidentStartedEvent(EventData):
    """Sent to every connected client."""

    TYPE = "incident.started"
    incident: Incident


class IncidentEndedEvent(EventData):
    TYPE = "incident.ended"
    incident: Incident


class UserUpdatedEvent(EventData):
    """A user's card as everyone sees it changed: an operator gave or took away the verified
    badge, or the user changed their name, picture (``profile.update``) or handle
    (``account.handle``). Sent to the user's connections and their followers' (since 1.6.0)."""

    TYPE = "user.updated"
    user: User


class CommunityCertifiedEvent(EventData):
    """An operator certified a community or withdrew its certification; sent to every member
    (since 1.6.0)."""

    TYPE = "community.certified"
    community_id: Id
    certified: bool


class PostCountsEvent(EventData):
    """A reply, repost or quote of a post was made or deleted: the post's counts now (since
    1.10.0). Sent, like ``post.reactions``, to everyone who receives the post's own events live
    (the author's followers, or the community's members), except those who hide whoever caused
    the change."""

    TYPE = "post.counts"
    post_id: Id
    replies_count: int
    reposts_count: int
    quotes_count: int


class CommunityJoinRequestEvent(EventData):
    """The open join requests of a community changed: someone asked to join (``requested``),
    withdrew (``withdrawn``), or was approved, declined or banned by a moderator. Sent to the
    community's owner and moderators (since 1.10.0)."""

    TYPE = "community.join_request"
    community_id: Id
    user: User
    change: Literal["requested", "withdrawn", "approved", "declined", "banned"]
    #: When the request was made; null once it is no longer open.
    requested_at: Timestamp | None


class TagPostCreatedEvent(EventData):
    """A post with a hashtag this connection watches (``timeline.tag`` with ``live``) was
    made: one event per watched tag of the post, ``tag`` saying which (since 1.10.0). Live
    only: not on a stream, never replayed. Posts in communities that require approval are not
    sent this way (their members receive them as ``post.created``)."""

    TYPE = "tag.post_created"
    tag: str
    post: Post


class TagPostDeletedEvent(EventData):
    """A post with a hashtag this connection watches was deleted (since 1.10.0). Live only."""

    TYPE = "tag.post_deleted"
    tag: str
    post_id: Id


EVENT_TYPES: tuple[type[EventData], ...] = (
    PostCreatedEvent,
    PostDeletedEvent,
    FollowEvent,
    UnfollowEvent,
    PostReactionsEvent,
    CommunityMembershipEvent,
    DmMessageEvent,
    DmTypingEvent,
    DmReadEvent,
    NotificationEvent,
    PresenceEvent,
    SafetyStatusEvent,
    IncidentStartedEvent,
    IncidentEndedEvent,
    UserUpdatedEvent,
    CommunityCertifiedEvent,
    PostCountsEvent,
    CommunityJoinRequestEvent,
    TagPostCreatedEvent,
    TagPostDeletedEvent,
)
#: Each event payload class by its ``type`` on the wire.
EVENT_BY_TYPE: dict[str, type[EventData]] = {event.TYPE: event for event in EVENT_TYPES}
STREAMS: tuple[str, ...] = ("following", "direct", "notifications")

# Every event payload class is named after its type in CamelCase plus ``Event`` (``post.created``
# is PostCreatedEvent), so a request (PostCreate) and the event it causes do not differ by one
# letter. (The names before 1.7.0 were kept as aliases through 1.7 and removed in 1.8.0.)
