"""The Storage port: what the domain needs from a database, and nothing about which one.

Storage is the source of truth. Every method that writes has returned only after the write is
durable (committed, and with the SQLite adapter's default ``synchronous=FULL``, fsynced), so a
caller may acknowledge and publish as soon as it returns. Failures to reach the database raise
:class:`StorageUnavailable` and nothing is half-written.

Ids: every persisted item gets a time-ordered unique string id (:mod:`server.ids`) from the
adapter, in the order the adapter commits them. The *following stream* of a user is the sequence
of post creations and deletions ordered by position, of the posts *in their circle*: posts made
outside any community by the user and by those they follow, and posts in the communities they are
a member of (by anyone). A creation's position is the post id, a deletion's is a fresh id taken
when it is deleted. A client's cursor is the last position it has seen, and
:meth:`Storage.following_stream_after` returns exactly what came after it. Membership and follows
are read as they are *now*: a stream read after joining a community includes its earlier posts
after the cursor. The *direct stream* is the messages (ids) of the conversations a user is a
member of now, the *notification stream* a user's notifications (ids).

"Standing" means not deleted. Orders of equal keys are broken by id unless a method says else.

Atomic, for a method that writes several records (``create_user``, ``create_invite`` with
``max_unused``), promises two things: all or nothing (a refused or failed call leaves no lasting
write), and concurrent calls, from one process or several, decide as if one ran after the other
(one user per invite and per handle, never more than ``max_unused`` unused invites). It does not
promise isolation: an adapter without multi-document transactions (MongoDB) may let a reader
glimpse a state within the call, such as an invite claimed by a sign-up that then fails with
HandleTaken, or a new user just before their follow of the inviter.

Attaching pictures: ``create_post``, ``create_announcement`` and ``add_message`` take ``media``,
pairs of (media id, alt text) in order. Each must be an upload (:class:`MediaStorage`) of the
author, of kind "post", waiting to be attached (``subject`` None) and unexpired at ``now_ms``;
the write attaches them to what it stores (``subject``, ``alt``, ``expires_ms`` None) and the
stored record carries them, or raises :class:`MediaUnavailable` and writes nothing. A nonce
already taken is told first (NonceTaken), so a retry is answered with what the first call
stored. Without multi-document transactions (MongoDB) the claim is made before the item is
stored and given back if storing fails; a crash in between leaves the pictures attached to
an item that does not exist, never an item whose pictures are someone else's.

The port is cut by area: one Protocol per area below (:class:`AccountStorage`,
:class:`PostStorage`...), each stating its own contract, and :class:`Storage`, the sum of them all,
which every adapter implements. A domain service is typed against the areas it uses only, so its
signature says what it may touch. The records and errors are in :mod:`server.store.records` and
re-exported here. See :mod:`server.store` for the layers around the port.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from .records import (
    AnnouncementRecord,
    BlockOutcome,
    CommunityRecord,
    ConversationMemberRecord,
    ConversationRecord,
    FollowEdge,
    HandleChangedRecently,
    HandleTaken,
    IncidentRecord,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    IssuedInvite,
    JoinRequestRecord,
    MediaRecord,
    MediaUnavailable,
    MediaVariantRecord,
    MembershipRecord,
    MessageRecord,
    NewNotification,
    NewPush,
    NewUser,
    NonceTaken,
    NotFound,
    NotificationRecord,
    PageRecord,
    PostRecord,
    PostSearchPage,
    PushJob,
    PushPreferences,
    PushSubscriptionRecord,
    ReportRecord,
    SafetyRecord,
    SessionRecord,
    SignalRecord,
    StorageError,
    StorageUnavailable,
    StreamItem,
    Surroundings,
    TooManyUploads,
    UserRecord,
    WebhookRecord,
    new_invite_code,
    token_hash,
)

__all__ = [
    "SIGNAL_TTL_MS",
    "AccountStorage",
    "AnnouncementRecord",
    "BlockOutcome",
    "CommunityRecord",
    "CommunityStorage",
    "ConversationMemberRecord",
    "ConversationRecord",
    "ConversationStorage",
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
    "Lifecycle",
    "MediaRecord",
    "MediaStorage",
    "MediaUnavailable",
    "MediaVariantRecord",
    "MembershipRecord",
    "MessageRecord",
    "ModerationStorage",
    "NewNotification",
    "NewPush",
    "NewUser",
    "NonceTaken",
    "NotFound",
    "NotificationRecord",
    "NotificationStorage",
    "PageRecord",
    "PostRecord",
    "PostSearchPage",
    "PostStorage",
    "PushJob",
    "PushPreferences",
    "PushStorage",
    "PushSubscriptionRecord",
    "RelationStorage",
    "ReportRecord",
    "SafetyRecord",
    "SafetyStorage",
    "SearchStorage",
    "SessionRecord",
    "SignalRecord",
    "SignalStorage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StreamItem",
    "Surroundings",
    "TooManyUploads",
    "UserRecord",
    "WebhookRecord",
    "WebhookStorage",
    "new_invite_code",
    "token_hash",
]

#: How long a signal is kept: far longer than any node takes to pick it up.
SIGNAL_TTL_MS = 10 * 60_000


class Lifecycle(Protocol):
    """The adapter's connection to its database, opened by the adapter's ``open``.

    :meth:`close` releases it; no method may be called after. :meth:`ping` is the health check
    : it proves the database answers, nothing more.

    Adapters: ``server/store/sqlite/engine.py``, ``server/store/mongo/database.py``.
    """

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if the database answers a trivial query; raise StorageUnavailable if not."""


class AccountStorage(Protocol):
    """Users, the invites they join through, their settings, and their sessions.

    A handle is unique case-insensitively, and an account's former handles (those it changed
    away from, :meth:`change_handle`) stay its own for good: no other account can take one, and
    a lookup by it finds the account. Lookups by handle ignore case. ``create_user`` is
    atomic in the sense of :mod:`server.store.base` (one user per invite and per handle, never
    more than ``max_unused`` unused invites per inviter). An invite is found by its code, of
    which only ``token_hash(code)`` and the first characters are stored: the code itself is in
    ``create_invite``'s answer only. A session is found by the hash of its
    token (the token itself is never stored) and stays readable after it is revoked or has
    expired: whether it is live is the caller's question (``revoked_ms``, ``expires_ms``).
    ``last_seen_ms`` only moves forward.

    Adapters: ``server/store/sqlite/accounts.py``, ``server/store/mongo/accounts.py``. Contract
    tests: ``tests/contract/test_storage_accounts.py``.
    """

    # --- users and invites -----------------------------------------------------------------------

    async def count_users(self) -> int: ...

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> IssuedInvite:
        """Make an invite with a fresh code (:func:`new_invite_code`), stored as its hash; the
        answer carries the code, this once. With ``max_unused``, atomically refuse
        (InviteLimitReached) when the inviter already holds that many unused, unexpired invites."""

    async def get_invite(self, code: str) -> InviteRecord | None:
        """The invite whose code is ``code`` (found by the code's hash), or None."""

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[InviteRecord]:
        """The inviter's newest ``limit`` invites, newest first (same millisecond: last made first)."""

    async def create_user(self, new: NewUser, *, invite_code: str, now_ms: int) -> UserRecord:
        """Create a user through an invite, in one atomic step: the invite must exist
        (InviteNotFound), be unused (InviteUsed) and unexpired (InviteExpired); the handle must
        be free case-insensitively (HandleTaken). The invite is marked used by the newcomer,
        who follows the inviter (if the invite has one) and becomes an operator if the invite
        grants it. Nothing is written when any check fails."""

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_handle(self, handle: str) -> UserRecord | None:
        """The account whose handle, or else one of whose former handles, is ``handle``
        (case-insensitively), or None."""

    async def change_handle(
        self, user_id: str, handle: str, *, now_ms: int, changed_before_ms: int
    ) -> UserRecord:
        """Give the standing (not deleted) user ``handle`` in one atomic step, and keep the
        handle it had as a former handle of the account (unless only its case changes);
        ``handle_changed_ms`` becomes ``now_ms``. Refused, with nothing written: HandleTaken if
        another account holds ``handle`` as its handle or a former one (one of the user's own
        former handles may be taken back); HandleChangedRecently if the user's
        ``handle_changed_ms`` is later than ``changed_before_ms`` (the cooldown); NotFound if
        there is no such standing user. Returns the user now."""

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def delete_user(self, user_id: str) -> bool:
        """Make the user a tombstone, in one write: ``deleted`` set, no password that matches
        (``password_hash`` "!"), display name, bio and interests emptied, nobody may message
        them or see their presence, verified badge off. The handle stays taken. In the same write
        the deletion is marked unfinished and unclaimed (:meth:`claim_deletion`), so what follows
        the tombstone (server/domain/farewell.py) survives a crash. False if there is no such
        user. (The profile picture is removed with :meth:`set_avatar` beforehand.)"""

    async def claim_deletion(self, *, now_ms: int, lease_ms: int, user_id: str | None = None) -> str | None:
        """Claim an unfinished deletion whose claim has lapsed (or was never made) at ``now_ms``
        for ``lease_ms``, atomically: of ``user_id`` if given, else any; returns the user's id,
        or None if there is none to claim. Two callers never hold one claim at once."""

    async def renew_deletion(self, user_id: str, *, now_ms: int, lease_ms: int) -> None:
        """Hold the claim of the user's unfinished deletion until ``now_ms + lease_ms``: its
        holder renews it as it works, so a long deletion is not taken up by another node
        meanwhile. Nothing is written for a deletion that is finished (or never was)."""

    async def finish_deletion(self, user_id: str) -> None:
        """Mark the user's deletion finished: :meth:`claim_deletion` no longer answers it."""

    async def set_verified(self, user_id: str, verified: bool) -> bool:
        """Set the verified badge; False if there is no such user."""

    async def set_dm_policy(self, user_id: str, policy: str) -> None: ...

    async def set_presence_visibility(self, user_id: str, visibility: str) -> None: ...

    async def update_profile(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        bio: str | None = None,
        interests: Sequence[str] | None = None,
    ) -> UserRecord | None:
        """Set the fields given (None: unchanged), in one write; the user now, or None if there
        is no such user."""

    async def set_avatar(
        self, user_id: str, media_id: str | None, *, now_ms: int
    ) -> tuple[UserRecord, str | None]:
        """Make ``media_id`` the user's profile picture, or with None remove it, atomically:
        the upload must be the user's own of kind "avatar", waiting and unexpired at ``now_ms``
        (else MediaUnavailable, nothing written); it is attached as "avatar:<user id>", and
        ``avatar_id``/``avatar_placeholder`` set from it. The picture it replaces is detached
        (as :meth:`MediaStorage.detach_media` does). Returns the user now and the replaced
        media id, or None. NotFound without the user."""

    async def record_last_seen(self, seen: dict[str, int]) -> None:
        """Raise each user's ``last_seen_ms`` to the time given (never lower it), all in one
        write: presence calls it behind, at most once a minute per user."""

    # --- sessions --------------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int, device: str = ""
    ) -> SessionRecord:
        """Start a session; ``device`` is a short description of where it was started (never
        the token, which is given only as its hash)."""

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        """The session with that token hash, revoked or expired ones included."""

    async def get_session_user(self, token_hash: bytes) -> tuple[SessionRecord, UserRecord | None] | None:
        """The session with that token hash (revoked or expired ones included) and its user as
        stored now (None if the user is gone), or None: what every authentication needs, in
        one call rather than two (a reconnect storm makes one per client)."""

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        """Revoke one session; returns it, or None if there was no live one."""

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        """Revoke every session of a user not revoked yet (expired ones included, harmlessly);
        returns their ids."""

    async def list_sessions(self, user_id: str, now_ms: int, *, limit: int) -> list[SessionRecord]:
        """The user's live sessions at ``now_ms`` (not revoked, not expired), newest first (by
        id), at most ``limit``."""

    async def revoke_user_session(self, user_id: str, session_id: str, now_ms: int) -> SessionRecord | None:
        """Revoke the session ``session_id`` if it is a live one of ``user_id``'s (not revoked,
        not expired at ``now_ms``); returns it, or None (no such live session of that user,
        another user's included: nothing is written)."""

    async def touch_sessions(self, used: dict[str, int]) -> None:
        """Raise each session's ``last_used_ms`` to the time given (never lower it), all in one
        write; unknown sessions are skipped. Callers write behind, in batches (as presence
        writes ``record_last_seen``), at most about once a minute per session."""


class RelationStorage(Protocol):
    """Who follows, blocks and mutes whom: the edges between two users.

    Each edge exists at most once (adding it again answers False and changes nothing). A block
    ends the follows between the two either way in the same atomic write. Follows decide a user's circle (see the following stream in
    :mod:`server.store.base`); blocks and mutes decide what a user must not see
    (:meth:`hidden_ids`).

    Adapters: ``server/store/sqlite/relations.py``, ``server/store/mongo/relations.py``. Contract
    tests: ``tests/contract/test_storage_relations.py``.
    """

    # --- follows ---------------------------------------------------------------------------------

    async def follow(self, follower_id: str, followee_id: str, now_ms: int) -> bool:
        """Returns False if the follow already existed."""

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        """Returns False if there was no such follow."""

    async def followee_ids(self, user_id: str) -> list[str]: ...

    async def follow_state(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        """(viewer follows user, user follows viewer)."""

    async def follow_counts(self, user_id: str) -> tuple[int, int]:
        """(followers, following)."""

    async def friend_ids(self, user_id: str) -> list[str]:
        """Users who follow the user and whom the user follows (mutual follows), any order."""

    async def follower_ids(self, user_id: str) -> list[str]:
        """Everyone who follows the user, any order."""

    async def followers_page(
        self, user_id: str, *, before: tuple[int, str] | None, limit: int
    ) -> list[FollowEdge]:
        """Who follows the user, most recent follow first: ordered by (``created_ms``, follower
        id) descending, only those below ``before`` (a previous page's last edge), at most
        ``limit``. One index range, whatever the user's number of followers."""

    async def following_page(
        self, user_id: str, *, before: tuple[int, str] | None, limit: int
    ) -> list[FollowEdge]:
        """Whom the user follows, as :meth:`followers_page` orders and pages them."""

    # --- blocks and mutes ------------------------------------------------------------------------

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        """Block, and end the follows between the two either way, atomically."""

    async def unblock(self, blocker_id: str, blocked_id: str) -> bool: ...

    async def blocked_ids(self, user_id: str) -> list[str]:
        """Whom the user blocks, most recent first."""

    async def blocks_between(self, a: str, b: str) -> bool:
        """Either blocks the other."""

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        """False if already muted."""

    async def unmute(self, user_id: str, target_id: str) -> bool: ...

    async def muted_ids(self, user_id: str) -> list[str]:
        """Whom the user mutes, most recent first."""

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        """(viewer blocks user, viewer mutes user)."""

    async def hidden_ids(self, user_id: str) -> set[str]:
        """Users whose posts and actions the user must not see: those the user mutes or
        blocks, and those who block the user."""

    # --- a connection's setting up ---------------------------------------------------------------

    async def surroundings(self, user_id: str) -> Surroundings:
        """What a connection of the user is set up from, in one read: :meth:`followee_ids`
        (any order), the communities of :meth:`~CommunityStorage.memberships_of` (in the order
        joined), :meth:`hidden_ids` and :meth:`follow_counts`. One call rather than four, since
        a reconnect storm makes it thousands of times a second: the embedded adapter makes it
        one hop to its reader threads, MongoDB's one round trip's wait."""


class PostStorage(Protocol):
    """Posts, the timelines and streams read from them, and reactions to them.

    A post is never removed: deleting it stamps ``deleted_pos``, a fresh position of the
    following stream, so a reader past its creation learns of the deletion
    (:meth:`following_stream_after`). Timelines list standing posts only; ``get_post`` and
    ``get_posts`` return deleted ones too. A client's nonce names at most one post per author,
    decided by a unique index. A reaction is one (post, user, emoji), at most once.

    Adapters: ``server/store/sqlite/posts.py``, ``server/store/mongo/posts.py``. Contract
    tests: ``tests/contract/test_storage_posts.py``.
    """

    # --- posts and timelines ---------------------------------------------------------------------

    async def create_post(
        self,
        *,
        author_id: str,
        text: str,
        emotext: str | None,
        reply_to: str | None,
        now_ms: int,
        community_id: str | None = None,
        repost_of: str | None = None,
        quote_of: str | None = None,
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> PostRecord:
        """Store a post, with its pictures attached (``media``: see the module docstring). With ``nonce`` (a client's idempotency key) the post is stored only if
        the author has no post with that nonce, deleted or not: otherwise NonceTaken and
        nothing is written. The check is atomic (a unique index): of concurrent calls with one
        author and nonce, exactly one stores a post. The post's hashtags
        (``protocol.text.hashtags`` of its text) are stored with it, for :meth:`tag_timeline`,
        as are an announcement's."""

    async def create_announcement(
        self,
        *,
        author_id: str,
        community_id: str,
        text: str,
        emotext: str | None,
        now_ms: int,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> AnnouncementRecord:
        """Store a post in the community marked as an announcement (pictures attached as by
        ``create_post``), and its notification to the
        community's members, once for all of them, all or nothing: kind "announcement", the
        author its actor, the post and community its subjects, a fresh id greater than the
        post's (never the post's own: one connection is given both, and positions must not
        repeat across its streams). A user's notifications (``notifications``,
        ``notifications_after``, ``unread_notifications``) include it while they are a member
        of the community, if they joined before it and did not make it; each member's read
        state of it is their own (the ``mark_*_read`` methods). NotFound without the
        community."""

    async def post_by_nonce(self, author_id: str, nonce: str) -> PostRecord | None:
        """The author's post stored with ``nonce``, deleted or not."""

    async def get_post(self, post_id: str) -> PostRecord | None:
        """The post, deleted or not (see ``deleted_pos``)."""

    async def get_posts(self, post_ids: list[str]) -> dict[str, PostRecord]:
        """The posts that exist among ``post_ids``, deleted or not."""

    async def delete_post(self, post_id: str) -> PostRecord | None:
        """Mark the post deleted at a fresh stream position; returns the updated record, or None
        if it did not exist or was already deleted."""

    async def posts_by_author_after(self, author_id: str, *, after: str, limit: int) -> list[PostRecord]:
        """The author's standing posts made outside any community with ids > ``after``, oldest
        first, at most ``limit``."""

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        """Standing posts of the user's circle (see the module docstring), newest first,
        ids < ``before``."""

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        """Following-stream entries with position > ``after``, oldest first, at most ``limit``.
        A post created and deleted after ``after`` appears not at all; a post created at or
        before ``after`` and deleted after it appears as a deletion."""

    async def user_timeline(
        self, author_id: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        """The author's standing posts (originals, replies, quotes and reposts), newest first,
        ids < ``before``, at most ``limit``: every one made outside communities, and those made
        in a community that is open (no approval required) or that ``viewer_id`` is a member of
        now."""

    async def tag_timeline(
        self, tag: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        """The standing posts whose text holds the hashtag ``tag`` (normalised, as
        ``protocol.text.hashtags`` gives it when the post is stored; posts stored before the
        hashtag index are indexed by the migration that made it), newest first, ids <
        ``before``, at most ``limit``: those made outside communities, and those made in a
        community that is open or that ``viewer_id`` is a member of now."""

    async def find_repost(self, user_id: str, post_id: str) -> PostRecord | None:
        """The user's standing repost of ``post_id``, if there is one (the newest, if several)."""

    async def replies(self, post_id: str, *, after: str | None, limit: int) -> list[PostRecord]:
        """Standing posts replying directly to ``post_id``, oldest first, ids > ``after``."""

    async def community_timeline(
        self, community_id: str, *, before: str | None, limit: int
    ) -> list[PostRecord]:
        """The community's standing posts, newest first, ids < ``before``."""

    async def community_posts_after(self, community_id: str, *, after: str, limit: int) -> list[PostRecord]:
        """The community's standing posts with ids > ``after``, oldest first."""

    async def discover_candidates(self, user_id: str, *, since_ms: int, limit: int) -> list[PostRecord]:
        """Standing original posts (no reply, no repost) from outside the user's circle made at
        or after ``since_ms``, newest first, at most ``limit``: by neither the user nor anyone
        they follow when made outside a community; in a community only if it is open (no
        approval required) and the user is not a member."""

    # --- reactions -------------------------------------------------------------------------------

    async def add_reaction(self, post_id: str, user_id: str, emoji: str, now_ms: int) -> bool:
        """False if the user had already reacted with that emoji."""

    async def remove_reaction(self, post_id: str, user_id: str, emoji: str) -> bool:
        """False if there was no such reaction."""

    async def reaction_counts(self, post_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        """Per post with reactions: (emoji, number of users), in the order each emoji was first
        used on the post (the earliest standing reaction; ties by emoji). Posts without
        reactions are absent."""

    async def my_reactions(self, user_id: str, post_ids: list[str]) -> dict[str, list[str]]:
        """Per post: the emoji the user reacted with, in the order added. Posts without the
        user's reactions are absent."""

    async def reaction_counts_by(self, user_ids: list[str], post_ids: list[str]) -> dict[str, int]:
        """Per post: how many of ``user_ids`` reacted to it (each user once). Posts with none
        are absent."""

    # --- replies, reposts and quotes -------------------------------------------------------------

    async def share_counts(self, post_ids: list[str]) -> dict[str, tuple[int, int, int]]:
        """Per post: (standing replies to it, standing reposts of it, standing quotes of it),
        by everyone, as they are now. Posts with none of the three are absent. A fixed number
        of queries for a page, whatever its length: SQLite keeps the counts in the posts,
        changed in the transaction that stores or deletes the reply, repost or quote; MongoDB,
        without multi-document transactions, counts on read through an index per kind, so that
        a crash between two writes cannot leave a count wrong."""


class CommunityStorage(Protocol):
    """Communities, their members and roles, join requests and bans.

    A community has one member of role "owner", its ``owner_id`` (ownership moves with
    :meth:`transfer_ownership`); ``member_count`` counts members now. Joining removes the
    user's join request, and a ban their membership and join request, atomically. Membership
    ids are issued when a user joins, so members page in joining order.

    Adapters: ``server/store/sqlite/communities.py``, ``server/store/mongo/communities.py``. Contract
    tests: ``tests/contract/test_storage_communities.py``.
    """

    async def create_community(
        self,
        *,
        owner_id: str,
        name: str,
        description: str,
        tags: list[str],
        approval_required: bool,
        now_ms: int,
    ) -> CommunityRecord:
        """Make a community with its owner as its first member (role "owner"), atomically."""

    async def get_community(self, community_id: str) -> CommunityRecord | None: ...

    async def get_communities(self, community_ids: list[str]) -> dict[str, CommunityRecord]: ...

    async def search_communities(
        self, *, query: str, tag: str | None, offset: int, limit: int
    ) -> list[CommunityRecord]:
        """Communities whose name contains ``query`` compared with ``str.casefold`` on both
        sides (every name matches ""), carrying ``tag`` if given; most members first, then by
        id; the page starting at ``offset``."""

    async def set_certified(self, community_id: str, certified: bool) -> bool:
        """False if there is no such community."""

    async def membership(self, community_id: str, user_id: str) -> MembershipRecord | None: ...

    async def memberships_of(self, user_id: str) -> list[MembershipRecord]:
        """The user's memberships, in the order they joined."""

    async def memberships_page(
        self, user_id: str, *, after: str | None, limit: int
    ) -> list[MembershipRecord]:
        """The user's memberships in the order they joined (by membership id > ``after``), at
        most ``limit``."""

    async def add_member(
        self, community_id: str, user_id: str, *, role: str, now_ms: int
    ) -> MembershipRecord | None:
        """Add a member, removing any join request of theirs, atomically; None (and no change)
        if they are already a member. NotFound if the community does not exist."""

    async def remove_member(self, community_id: str, user_id: str) -> bool:
        """False if they were not a member."""

    async def set_role(self, community_id: str, user_id: str, role: str) -> bool:
        """False if they are not a member."""

    async def transfer_ownership(self, community_id: str, from_id: str, to_id: str) -> bool:
        """Atomically: ``to_id`` (a member) becomes owner, ``from_id`` (the owner) a moderator,
        and the community's owner changes. False (and no change) unless ``from_id`` is the
        owner and ``to_id`` a member."""

    async def members(self, community_id: str, *, after: str | None, limit: int) -> list[MembershipRecord]:
        """Memberships in joining order (by membership id > ``after``)."""

    async def member_ids(self, community_id: str, *, roles: tuple[str, ...] | None = None) -> list[str]:
        """Every member's id (of those roles, if given)."""

    async def add_join_request(self, community_id: str, user_id: str, now_ms: int) -> bool:
        """False if one is already waiting."""

    async def remove_join_request(self, community_id: str, user_id: str) -> bool:
        """False if there was none."""

    async def join_requests(self, community_id: str, *, limit: int) -> list[JoinRequestRecord]:
        """Waiting requests, oldest first."""

    async def has_join_request(self, community_id: str, user_id: str) -> bool: ...

    async def ban(self, community_id: str, user_id: str, *, by: str, now_ms: int) -> bool:
        """Ban a user, removing their membership and join request, atomically; False if they
        were banned already (then nothing changes)."""

    async def unban(self, community_id: str, user_id: str) -> bool: ...

    async def is_banned(self, community_id: str, user_id: str) -> bool: ...


class ConversationStorage(Protocol):
    """Direct and group conversations, their members, messages and read markers.

    A conversation's messages are its history, membership changes included ("created",
    "added", "removed", "left" messages are written atomically with the change). There is one
    direct conversation per pair of users. A conversation's ``last_message_id`` and a member's
    ``last_read`` only move forward. The direct stream (:meth:`direct_stream_after`) reads the
    conversations a user is a member of now.

    Adapters: ``server/store/sqlite/conversations.py``, ``server/store/mongo/conversations.py``. Contract
    tests: ``tests/contract/test_storage_conversations.py``.
    """

    async def create_conversation(
        self,
        *,
        kind: str,
        owner_id: str,
        member_ids: list[str],
        title: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord | None]:
        """Make a conversation of ``member_ids`` (``owner_id`` among them) with a "created"
        message by ``owner_id``, atomically, and return both. For kind "direct" (two members),
        concurrent calls for the same pair make one conversation: if the pair has one already,
        return it and None. A direct conversation has no owner (``owner_id`` is its maker)."""

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def conversation_members(self, conversation_id: str) -> list[ConversationMemberRecord]:
        """Current members, in the order they joined."""

    async def conversation_member(
        self, conversation_id: str, user_id: str
    ) -> ConversationMemberRecord | None: ...

    async def conversations_of(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[ConversationRecord]:
        """The user's conversations, most recently active first (``last_message_id`` desc,
        < ``before``)."""

    async def add_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> MessageRecord:
        """Append a message and make it the conversation's last, atomically, with its pictures
        attached as "message:<conversation id>:<message id>" (see the module docstring). NotFound if
        the conversation does not exist. With ``nonce`` (a client's idempotency key) the
        message is appended only if the author has no message with that nonce in the
        conversation: otherwise NonceTaken and nothing is written; of concurrent calls with
        one conversation, author and nonce, exactly one appends (a unique index)."""

    async def message_by_nonce(
        self, conversation_id: str, author_id: str, nonce: str
    ) -> MessageRecord | None:
        """The author's message in the conversation stored with ``nonce``."""

    async def add_conversation_members(
        self, conversation_id: str, user_ids: list[str], *, by: str, now_ms: int
    ) -> list[MessageRecord]:
        """Add those not yet members, each with an "added" message by ``by``, atomically;
        returns the messages (none if all were members)."""

    async def remove_conversation_member(
        self,
        conversation_id: str,
        user_id: str,
        *,
        by: str,
        kind: str,
        now_ms: int,
        new_owner_id: str | None = None,
    ) -> MessageRecord | None:
        """Remove a member with a ``kind`` ("removed" or "left") message by ``by``, and with
        ``new_owner_id`` make that member the group's owner, atomically; None if they were
        not a member."""

    async def messages(self, conversation_id: str, *, before: str | None, limit: int) -> list[MessageRecord]:
        """Newest first, ids < ``before``."""

    async def direct_stream_after(self, user_id: str, *, after: str, limit: int) -> list[MessageRecord]:
        """Messages with id > ``after`` of the conversations the user is a member of now,
        oldest first, at most ``limit``."""

    async def set_last_read(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        """Move the member's read marker to ``message_id`` if that is later than it is; False
        if it did not move (or they are not a member)."""

    async def unread_counts(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        """Per conversation: its "text" messages by others after the user's read marker."""


class NotificationStorage(Protocol):
    """A user's notifications, their read state, and the notification stream.

    Notifications are stored in the order given with fresh ids, unread. A community's
    announcement is stored once for all its members (:meth:`PostStorage.create_announcement`)
    and each method here counts it among each member's notifications (on the terms
    ``create_announcement`` states), with a read state of their own.

    Adapters: ``server/store/sqlite/notifications.py``, ``server/store/mongo/notifications.py``. Contract
    tests: ``tests/contract/test_storage_notifications.py``.
    """

    async def add_notifications(self, new: list[NewNotification], now_ms: int) -> list[NotificationRecord]:
        """Store them (unread) with fresh ids in the order given and return them."""

    async def notifications(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[NotificationRecord]:
        """The user's own notifications and the announcements they are notified of (see
        ``create_post``), newest first, ids < ``before``."""

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        """The same, oldest first, ids > ``after`` (the notification stream)."""

    async def unread_notifications(self, user_id: str) -> int:
        """How many of them are unread."""

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        """Mark one read for this user; False if the user has no such unread notification."""

    async def mark_all_notifications_read(self, user_id: str) -> int:
        """Mark every one read for this user, announcements included; returns how many were
        unread. Announcements made later are unread again."""


class SafetyStorage(Protocol):
    """Disaster mode: users' safety statuses, the server's incidents, and the operator's pages
    (the "during a disaster" page).

    Statuses are appended, never changed; a user's status is their newest. At most one
    incident is active at a time: concurrent starts start one, and an ended incident is never
    active again.

    Adapters: ``server/store/sqlite/safety.py``, ``server/store/mongo/safety.py``. Contract
    tests: ``tests/contract/test_storage_safety.py``.
    """

    # --- safety statuses -------------------------------------------------------------------------

    async def add_safety_status(
        self, *, user_id: str, state: str, note: str, area: str | None, audience: str, now_ms: int
    ) -> SafetyRecord: ...

    async def latest_safety(self, user_ids: list[str]) -> dict[str, SafetyRecord]:
        """Per user with any: their newest safety status (of any audience)."""

    async def safety_history(
        self, user_id: str, *, audiences: tuple[str, ...], before: str | None, limit: int
    ) -> list[SafetyRecord]:
        """The user's statuses for one of ``audiences``, newest first, ids < ``before``."""

    # --- incidents -------------------------------------------------------------------------------

    async def start_incident(
        self, *, title: str, area: str | None, started_by: str | None, now_ms: int
    ) -> IncidentRecord | None:
        """Start an incident; None (and no change) if one is active. Concurrent calls start one."""

    async def end_incident(self, now_ms: int) -> IncidentRecord | None:
        """End the active incident and return it; None if there was none."""

    async def active_incident(self) -> IncidentRecord | None: ...

    async def get_incident(self, incident_id: str) -> IncidentRecord | None: ...

    # --- operator pages --------------------------------------------------------------------------

    async def get_page(self, name: str) -> PageRecord | None:
        """The operator's page of this name; None if they wrote none (or cleared it)."""

    async def set_page(self, name: str, markdown: str, now_ms: int) -> PageRecord:
        """Write (or replace) the page; the last write wins."""

    async def delete_page(self, name: str) -> bool:
        """Clear the page; False if there was none."""


class ModerationStorage(Protocol):
    """Reports of posts and users, read and resolved by operators.

    A report is resolved once; a resolved report stays readable (``open_only=False``).

    Adapters: ``server/store/sqlite/moderation.py``, ``server/store/mongo/moderation.py``. Contract
    tests: ``tests/contract/test_storage_moderation.py``.
    """

    async def create_report(
        self,
        *,
        reporter_id: str,
        post_id: str | None,
        user_id: str | None,
        reason: str,
        now_ms: int,
        category: str | None = None,
    ) -> ReportRecord:
        """Store a report; ``reason`` is the reporter's note ("" for none), ``category`` its
        kind (None for none)."""

    async def reports(self, *, open_only: bool, limit: int) -> list[ReportRecord]:
        """Newest first."""

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        """False if there is no such open report."""


class WebhookStorage(Protocol):
    """Bots' webhooks with their delivery cursors and leases, and the server's keys.

    At most one node holds a webhook's lease at a time; only the holder's progress is
    recorded, and cursors only move forward, so no event a bot acknowledged is delivered
    again by a node that takes over. A server key (``server_key``) is written once, by the
    first process to ask, and read back the same by every process.

    Adapters: ``server/store/sqlite/webhooks.py``, ``server/store/mongo/webhooks.py``. Contract
    tests: ``tests/contract/test_storage_webhooks.py``.
    """

    async def set_webhook(self, user_id: str, url: str, *, start: str, now_ms: int) -> WebhookRecord:
        """Register (or re-point) the user's webhook. A new registration starts every stream's
        cursor at ``start``; changing the URL of an existing one keeps its cursors, so nothing
        accepted for the old URL is skipped."""

    async def get_webhook(self, user_id: str) -> WebhookRecord | None: ...

    async def delete_webhook(self, user_id: str) -> bool:
        """False if the user had none."""

    async def claim_webhooks(self, owner: str, *, now_ms: int, lease_ms: int) -> list[WebhookRecord]:
        """Lease to ``owner`` every webhook whose lease is free, expired or already ``owner``'s,
        until ``now_ms + lease_ms``, and return those now held. Concurrent claims by different
        owners never both hold one webhook."""

    async def save_webhook_progress(
        self, user_id: str, owner: str, *, cursors: dict[str, str], failures: int, last_error: str | None
    ) -> bool:
        """Record delivery progress, only while ``owner`` holds the lease (False otherwise:
        someone else took it over, and their progress stands). Cursors only move forward."""

    async def server_key(self, name: str, candidate: bytes) -> bytes:
        """The value stored under ``name``; stores ``candidate`` first if there is none. Every
        process asking gets the same value (the first writer's)."""


class PushStorage(Protocol):
    """Web Push (``docs/topics/push.md``): the browsers' subscriptions, each person's
    preferences, and the queue of pushes to send, which one node at a time works through (the
    holder of the ``push`` lease).

    A subscription counts only while its session is live (not revoked, not expired) and its
    own ``expiration_ms``, if any, has not passed: ``push_subscriptions`` leaves the others
    out. Revoking a session (``revoke_session``, ``revoke_user_session``,
    ``revoke_user_sessions``) and ``delete_user`` delete the subscriptions it bound, in the
    same write where the adapter can. A queued push whose subscription is gone is read with
    ``subscription`` None, for the sender to drop."""

    async def save_push_subscription(
        self,
        *,
        user_id: str,
        session_id: str,
        endpoint: str,
        p256dh: str,
        auth: str,
        expiration_ms: int | None,
        now_ms: int,
        limit: int,
    ) -> PushSubscriptionRecord | None:
        """Store a subscription, idempotent per endpoint: the same user's endpoint again keeps
        its id and takes the new keys, session and expiry; another user's is replaced (new id:
        an endpoint belongs to one account at a time, and the old account's queued pushes are
        not sent to it). None, storing nothing, if the user holds ``limit`` subscriptions
        already (not counting this endpoint's)."""

    async def push_subscriptions(
        self, user_ids: list[str] | None, *, now_ms: int
    ) -> list[PushSubscriptionRecord]:
        """The subscriptions that count now (see above) of these users (None: of everyone),
        oldest first."""

    async def delete_push_subscription(self, subscription_id: str, *, user_id: str | None = None) -> bool:
        """Delete one (only if it is ``user_id``'s, when given). False: no such subscription."""

    async def push_preferences(self, user_ids: list[str]) -> dict[str, PushPreferences]:
        """Per user asked: their preferences (the defaults for a user who never changed them)."""

    async def set_push_preferences(
        self, user_id: str, *, on: dict[str, bool], previews: bool | None
    ) -> PushPreferences:
        """Switch the kinds in ``on`` on (True) or off; set ``previews`` unless None. Returns
        the preferences now."""

    async def enqueue_pushes(self, pushes: list[NewPush], *, now_ms: int) -> None:
        """Queue pushes, due at once (one write)."""

    async def claim_push_lease(self, owner: str, *, now_ms: int, lease_ms: int) -> bool:
        """Take or renew the cluster's one push lease for ``lease_ms``: True if ``owner`` holds
        it now (it was free, expired, or already theirs), False if another live node does."""

    async def due_pushes(self, *, now_ms: int, limit: int) -> list[PushJob]:
        """Up to ``limit`` queued pushes due at ``now_ms``, by priority (lower first) then id."""

    async def retry_push(self, push_id: str, *, due_ms: int, attempts: int) -> None:
        """Put a push back in the queue, due at ``due_ms``, with ``attempts`` so far."""

    async def finish_push(self, push_id: str) -> None:
        """Take a push out of the queue (sent, given up, or dropped)."""

    async def count_pushes(self) -> int:
        """How many pushes are queued."""


class SignalStorage(Protocol):
    """Bus messages relayed through storage, for nodes that share no bus (:mod:`server.relay`).

    Signals are kept ``SIGNAL_TTL_MS`` and read by time with a margin; they are not a queue
    (nothing is consumed) and carry no ordering across processes beyond their time.

    Adapters: ``server/store/sqlite/signals.py``, ``server/store/mongo/signals.py``. Contract
    tests: ``tests/contract/test_storage_signals.py``.
    """

    async def add_signals(self, messages: list[tuple[str, bytes]], now_ms: int) -> None:
        """Store bus messages, (channel, payload) each, in their order, for every node to pick
        up (:meth:`signals_since`); and delete those stored more than ``SIGNAL_TTL_MS`` before
        ``now_ms``, which every running node has long picked up."""

    async def signals_since(self, since_ms: int) -> list[SignalRecord]:
        """The signals stored at ``since_ms`` or later, oldest first (by time, then in the
        order each call stored them). Processes' clocks may differ a little, and ids are not in
        commit order across processes: a reader asks with a margin and remembers the ids it has
        seen."""


class MediaStorage(Protocol):
    """Uploaded pictures (:class:`MediaRecord`): what each is attached to, and when it goes.

    An upload waits for its owner to attach it until ``expires_ms``; the writes that attach are
    on the other areas (see "Attaching pictures" in the module docstring). A record's blobs are
    owned by "media:<id>" in the Blob port (:mod:`server.blobs`); the storage never touches
    them. A record is deleted only by :meth:`delete_media`, which the collector calls after it
    released the blobs of expired records, so a crash between the two leaves a record whose
    blobs may be gone, never blobs that nothing will release.

    Adapters: ``server/store/sqlite/media.py``, ``server/store/mongo/media.py``. Contract
    tests: ``tests/contract/test_storage_media.py``.
    """

    async def add_media(self, record: MediaRecord, *, pending_max: int) -> None:
        """Store an upload waiting to be attached (``subject`` None, ``expires_ms`` set).
        TooManyUploads, and nothing stored, if the owner already holds ``pending_max``
        waiting uploads unexpired at ``record.created_ms``. Exact in SQLite; an adapter
        without transactions may let concurrent calls pass the bound by their number."""

    async def get_media(self, media_id: str) -> MediaRecord | None: ...

    async def count_waiting_media(self, owner_id: str, *, now_ms: int) -> int:
        """How many uploads of ``owner_id`` wait to be attached, unexpired at ``now_ms``: the
        count ``add_media`` bounds, read before an upload is processed."""

    async def detach_media(self, subject: str, *, now_ms: int) -> list[MediaRecord]:
        """Detach every picture attached to ``subject`` (a deleted post): ``subject`` None,
        ``expires_ms`` ``now_ms``. Returns them as they were; idempotent."""

    async def expired_media(self, now_ms: int, *, limit: int) -> list[MediaRecord]:
        """Up to ``limit`` records not attached to anything whose ``expires_ms`` is at or
        before ``now_ms``, earliest first."""

    async def delete_media(self, media_ids: list[str]) -> None:
        """Delete these records if they are still not attached to anything (an id attached
        meanwhile stays); unknown ids are ignored."""


class SearchStorage(Protocol):
    """Finding people and posts by a substring of what they wrote, Japanese included.

    ``query`` is folded (:func:`server.search.fold`: NFKC, case folding, katakana as hiragana,
    white space collapsed), non-empty; what is compared is the folded handle, display name or
    post text, so a result is exactly something whose folded text holds ``query``. How each
    adapter finds candidates (n-gram indexes) is told in :mod:`server.search`. Searching
    writes nothing: who searched for what is never recorded.

    Adapters: ``server/store/sqlite/search.py``, ``server/store/mongo/search.py``. Contract
    tests: ``tests/contract/test_storage_search.py``.
    """

    async def search_users(
        self, query: str, *, hidden: Collection[str], offset: int, limit: int
    ) -> list[UserRecord]:
        """Users whose handle or display name holds ``query``, none of ``hidden``: the one whose
        handle is ``query`` (case-insensitively) first, then the others by id; ``offset`` of
        them skipped, at most ``limit``."""

    async def search_posts(
        self,
        query: str,
        *,
        viewer_id: str,
        hidden: Collection[str],
        before: str | None,
        limit: int,
        scan: int,
    ) -> PostSearchPage:
        """Standing posts whose text holds ``query`` that ``viewer_id`` may read: by no author
        of ``hidden``, outside communities or in one that is open or that the viewer is a
        member of. Newest first (by id), ids < ``before``, at most ``limit``. A post without
        text (a repost) is never found.

        The work is bounded: at most ``scan`` posts holding ``query`` are looked at, readable
        or not. ``resume`` is the id of the last post returned when ``limit`` were found (more
        may be left); else the id of the last post looked at when ``scan`` were looked at (so
        a page may be short, even empty, and still have a next); else None: every post holding
        ``query`` below ``before`` was looked at."""


class Storage(
    Lifecycle,
    AccountStorage,
    RelationStorage,
    PostStorage,
    CommunityStorage,
    ConversationStorage,
    NotificationStorage,
    SafetyStorage,
    ModerationStorage,
    WebhookStorage,
    SignalStorage,
    MediaStorage,
    SearchStorage,
    PushStorage,
    Protocol,
):
    """Durable state: every area of the port. All methods are coroutines safe to call concurrently
    from one event loop. What an adapter implements, and what the app wires; a service that needs
    a few areas only is typed against those (see the module docstring)."""
