"""The records and errors of the Storage port (:mod:`server.store.base`): what its methods take and
return, as plain frozen dataclasses, and what they raise. Adapters build them; the domain reads them.
They are re-exported by :mod:`server.store.base`, where most code imports them from."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

__all__ = [
    "AnnouncementRecord",
    "BlockOutcome",
    "CommunityRecord",
    "ConversationMemberRecord",
    "ConversationRecord",
    "FollowEdge",
    "HandleChangedRecently",
    "HandleTaken",
    "IncidentRecord",
    "InviteExpired",
    "InviteLimitReached",
    "InviteNotFound",
    "InviteRecord",
    "InviteUsed",
    "IssuedInvite",
    "JoinRequestRecord",
    "MediaRecord",
    "MediaUnavailable",
    "MediaVariantRecord",
    "MembershipRecord",
    "MessageRecord",
    "NewNotification",
    "NewPush",
    "NewUser",
    "NonceTaken",
    "NotFound",
    "NotificationRecord",
    "PageRecord",
    "PostRecord",
    "PushJob",
    "PushPreferences",
    "PushSubscriptionRecord",
    "ReportRecord",
    "SafetyRecord",
    "SessionRecord",
    "SignalRecord",
    "StorageError",
    "StorageUnavailable",
    "StreamItem",
    "TooManyUploads",
    "UserRecord",
    "WebhookRecord",
    "new_invite_code",
    "token_hash",
]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    handle: str
    display_name: str
    password_hash: str
    birth_date: str
    created_ms: int
    invited_by: str | None
    operator: bool
    verified: bool
    bot: bool
    #: Who may start a conversation with the user: "everyone", "following" (people the user
    #: follows) or "nobody". New users have "everyone".
    dm_policy: str = "everyone"
    #: Who sees the user's presence and last-seen time: "friends" (mutual follows) or "nobody".
    presence_visibility: str = "friends"
    #: The user's last activity, to the minute (written behind, see ``record_last_seen``).
    last_seen_ms: int | None = None
    #: 0-160 user-perceived characters (checked by the domain).
    bio: str = ""
    #: Interest tags in canonical form, in the user's order.
    interests: tuple[str, ...] = ()
    #: The media id of the profile picture (attached to "avatar:<user id>"), and its
    #: placeholder colour: what a User shows without reading the media record.
    avatar_id: str | None = None
    avatar_placeholder: str | None = None
    #: The account was deleted (:meth:`AccountStorage.delete_user`): a tombstone keeping the
    #: handle reserved and the messages it wrote attributed.
    deleted: bool = False
    #: When the handle was last changed (:meth:`AccountStorage.change_handle`), or None.
    handle_changed_ms: int | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    handle: str
    display_name: str
    password_hash: str
    birth_date: str
    #: A bot account: no password (``password_hash`` is unusable), marked in every payload.
    bot: bool = False


def token_hash(secret: str) -> bytes:
    """What storage keeps of a high-entropy secret (a session token, an invite code): its
    unsalted SHA-256. Salt and a slow hash are for guessable secrets such as passwords; these
    are 128 random bits or more, so a hash is as good as the secret is unguessable, and a
    lookup by hash stays one index probe."""
    return hashlib.sha256(secret.encode()).digest()


#: Characters of an invite code kept in the clear (``code_prefix``), for telling invites apart
#: in a list; the rest of the code (over 100 random bits) is known only by its hash.
INVITE_PREFIX_LENGTH = 4


def new_invite_code() -> str:
    """A fresh invite code: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class InviteRecord:
    """An invite as stored: its code is known only by ``token_hash(code)`` and its first
    characters, so that a copy of the database does not hand out usable invites."""

    code_hash: bytes
    code_prefix: str
    inviter_id: str | None
    created_ms: int
    expires_ms: int
    used_by: str | None
    used_ms: int | None
    grants_operator: bool


@dataclass(frozen=True, slots=True)
class IssuedInvite(InviteRecord):
    """The answer of ``create_invite``: the stored invite and, this once, its code."""

    code: str

    def stored(self) -> InviteRecord:
        """The invite as later reads return it (without the code)."""
        return InviteRecord(
            self.code_hash,
            self.code_prefix,
            self.inviter_id,
            self.created_ms,
            self.expires_ms,
            self.used_by,
            self.used_ms,
            self.grants_operator,
        )


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None
    #: A short description of the device it was started from (from its User-Agent), or "".
    device: str = ""
    #: When it was last used (written behind, at most about once a minute); None: not since
    #: it started, or before sessions kept it (schema 14 on SQLite).
    last_used_ms: int | None = None


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: str
    author_id: str
    text: str
    emotext: str | None
    reply_to: str | None
    created_ms: int
    #: Position of the deletion in the following stream; None while the post stands.
    deleted_pos: str | None
    community_id: str | None = None
    #: A repost's original (its text is empty), or a quote's quoted post.
    repost_of: str | None = None
    quote_of: str | None = None
    announcement: bool = False
    #: Its pictures in order, as attached (alt text included); stored with the post.
    media: tuple[MediaRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class AnnouncementRecord:
    """An announcement: its post, and the id of its notification to the community's members
    (their notification streams' position for it)."""

    post: PostRecord
    notification_id: str


@dataclass(frozen=True, slots=True)
class PostSearchPage:
    """A page of :meth:`~server.store.base.SearchStorage.search_posts`: the posts found, and
    ``resume``, the id to pass as ``before`` for the next page, or None when no match is left."""

    posts: list[PostRecord]
    resume: str | None


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One entry of a following stream: a post created at ``pos``, or deleted at ``pos``."""

    pos: str
    post: PostRecord
    deleted: bool


@dataclass(frozen=True, slots=True)
class CommunityRecord:
    id: str
    name: str
    description: str
    #: Normalised (NFKC, lower case) by the domain before they reach storage; stored in order.
    tags: tuple[str, ...]
    approval_required: bool
    certified: bool
    owner_id: str
    created_ms: int
    #: Members now, the owner included.
    member_count: int


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    #: Issued when the user joined (or was approved): members page in this order.
    id: str
    community_id: str
    user_id: str
    #: "owner", "moderator" or "member".
    role: str
    joined_ms: int


@dataclass(frozen=True, slots=True)
class JoinRequestRecord:
    community_id: str
    user_id: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    #: "direct" (exactly two members, one conversation per pair) or "group".
    kind: str
    title: str | None
    #: A group's owner; None for direct conversations.
    owner_id: str | None
    created_ms: int
    #: The id of the newest message; every conversation has at least its "created" message.
    last_message_id: str


@dataclass(frozen=True, slots=True)
class ConversationMemberRecord:
    conversation_id: str
    user_id: str
    joined_ms: int
    #: The member's read marker: the last message id they have read, or None.
    last_read: str | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    conversation_id: str
    #: The member who wrote it or made the change.
    author_id: str
    #: "text", "created", "added", "removed" or "left".
    kind: str
    text: str
    #: The member added, removed or leaving, for those kinds.
    subject_id: str | None
    created_ms: int
    #: A "text" message's pictures in order, as attached; stored with the message.
    media: tuple[MediaRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: str
    #: One of protocol.messages.NotificationKind.
    kind: str
    actor_id: str | None = None
    post_id: str | None = None
    community_id: str | None = None
    emoji: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: str
    user_id: str
    kind: str
    actor_id: str | None
    post_id: str | None
    community_id: str | None
    emoji: str | None
    created_ms: int
    read: bool


@dataclass(frozen=True, slots=True)
class FollowEdge:
    """One follow as a list of followers (or followees) shows it: the other user, and when the
    follow was made. Lists page by (``created_ms``, ``user_id``), newest first."""

    user_id: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Surroundings:
    """Where a user stands among others, as a connection of theirs is set up from it: whom
    they follow and the communities they belong to (the channels it listens to), whom they
    must not see (:meth:`~server.store.base.RelationStorage.hidden_ids`), and their own
    follow counts (their profile in ``ready``)."""

    followee_ids: list[str]
    #: In the order they joined.
    community_ids: list[str]
    hidden_ids: set[str]
    followers: int
    following: int


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    #: False if the block already existed (then nothing changed).
    created: bool
    #: The follows the block ended, as (follower, followee) pairs.
    unfollowed: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ReportRecord:
    id: str
    reporter_id: str
    post_id: str | None
    user_id: str | None
    reason: str
    created_ms: int
    resolved_ms: int | None
    #: "spam", "harassment", "misinformation" or "other"; None for none (and reports made
    #: before categories existed).
    category: str | None = None


@dataclass(frozen=True, slots=True)
class SafetyRecord:
    id: str
    user_id: str
    #: "safe", "need_help" or "evacuating".
    state: str
    note: str
    area: str | None
    #: "friends", "followers" or "everyone".
    audience: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: str
    title: str
    area: str | None
    started_by: str | None
    started_ms: int
    ended_ms: int | None


@dataclass(frozen=True, slots=True)
class PageRecord:
    """An operator's page, by name: today only "disaster", the page shown during an incident
    (PROTOCOL.md 11.15). Its Markdown source as the operator wrote it; rendering is the
    domain's (:mod:`server.domain.disaster_page`), so a better renderer needs no migration."""

    name: str
    markdown: str
    updated_ms: int


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A bus message an operator's command left in storage for nodes without a shared bus
    (see :mod:`server.relay`): the channel and the exact bytes to publish there."""

    id: str
    channel: str
    payload: bytes
    created_ms: int


@dataclass(frozen=True, slots=True)
class PushSubscriptionRecord:
    """A browser's Web Push subscription (RFC 8030): where to POST, and the keys to encrypt to
    (RFC 8291: ``p256dh`` the browser's P-256 public key, ``auth`` its 16-byte secret, both
    base64url as the browser gives them). Bound to the session that subscribed; one endpoint
    belongs to one account at a time."""

    id: str
    user_id: str
    session_id: str
    endpoint: str
    p256dh: str
    auth: str
    #: When the browser says the subscription ends (ms), or None.
    expiration_ms: int | None
    created_ms: int


@dataclass(frozen=True, slots=True)
class PushPreferences:
    """What a person wants pushed: the kinds switched off (of ``safety``, ``announcement``,
    ``dm``, ``mention``, ``incident``; every kind is on by default), and whether a DM's push
    may carry its text."""

    off: frozenset[str] = frozenset()
    previews: bool = False


@dataclass(frozen=True, slots=True)
class NewPush:
    """One push to queue for one subscription. ``payload`` is the JSON the browser decrypts
    (built once, sent as is); ``priority`` orders the queue (lower first); after
    ``deadline_ms`` it is given up."""

    subscription_id: str
    kind: str
    priority: int
    urgency: str
    payload: bytes
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class PushJob:
    """A queued push as the sender reads it: the push, and its subscription as stored now
    (``subscription`` None: the subscription is gone, and the push with it)."""

    id: str
    kind: str
    priority: int
    urgency: str
    payload: bytes
    due_ms: int
    deadline_ms: int
    attempts: int
    subscription: PushSubscriptionRecord | None


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A bot's registered webhook and how far its deliveries have got.

    ``cursors`` holds, per stream (``following``, ``direct``, ``notifications``), the position
    of the last event the endpoint acknowledged; registration sets every stream to a position
    below everything published after it. ``lease_owner`` is the node delivering it, until
    ``lease_until_ms``; ``failures`` counts consecutive failed attempts (0 after a success).
    """

    user_id: str
    url: str
    created_ms: int
    cursors: dict[str, str]
    failures: int
    last_error: str | None
    lease_owner: str | None
    lease_until_ms: int


@dataclass(frozen=True, slots=True)
class MediaVariantRecord:
    """One stored rendition of a picture: its blob (server.blobs) and what serving it needs."""

    digest: str
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """An uploaded picture. It waits for its owner to attach it (``subject`` None) until
    ``expires_ms``; attaching sets ``subject`` ("post:<post id>", "message:<conversation
    id>:<message id>" or "avatar:<user id>"), ``alt``, and ``expires_ms`` None. Detaching
    (the post deleted, the avatar replaced) clears ``subject`` and sets ``expires_ms`` to the
    moment, so the collector releases its blobs and deletes it with expired uploads."""

    id: str
    owner_id: str
    #: "post" (the pictures of posts and messages) or "avatar".
    kind: str
    #: The upright original's size.
    width: int
    height: int
    placeholder: str
    animated: bool
    display: MediaVariantRecord
    thumbnail: MediaVariantRecord
    created_ms: int
    expires_ms: int | None
    subject: str | None = None
    alt: str | None = None

    @property
    def digests(self) -> tuple[str, ...]:
        """The blobs it references (owned as "media:<id>"), each once."""
        return tuple(dict.fromkeys((self.display.digest, self.thumbnail.digest)))


class StorageError(Exception):
    """Base of everything the storage port raises."""


class StorageUnavailable(StorageError):
    """The database could not be reached or failed; nothing was written."""


class HandleTaken(StorageError):
    pass


class HandleChangedRecently(StorageError):
    """The account changed its handle after the ``changed_before_ms`` a change was asked with."""

    def __init__(self, changed_ms: int) -> None:
        super().__init__(changed_ms)
        self.changed_ms = changed_ms


class InviteNotFound(StorageError):
    pass


class InviteUsed(StorageError):
    pass


class InviteExpired(StorageError):
    pass


class InviteLimitReached(StorageError):
    pass


class NotFound(StorageError):
    """A record a write needs (a community, conversation, member) does not exist."""


class MediaUnavailable(StorageError):
    """A write that attaches pictures named one that is not the author's own upload of the
    right kind, waiting to be attached and unexpired: nothing was written."""

    def __init__(self, media_id: str) -> None:
        super().__init__(f"media {media_id} cannot be attached")
        self.media_id = media_id


class TooManyUploads(StorageError):
    """``add_media`` when the owner already holds ``pending_max`` uploads waiting: nothing was
    written."""


class NonceTaken(StorageError):
    """``create_post`` or ``add_message`` with a client's nonce that already names an item of
    the same author (and conversation): nothing was written. Read that item with
    ``post_by_nonce`` or ``message_by_nonce``."""
