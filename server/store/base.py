"""The Storage port: what the domain needs from a database, and nothing about which one.

Storage is the source of truth. Every method that writes has returned only after the write is
durable (committed, and with the SQLite adapter's default ``synchronous=FULL``, fsynced), so a
caller may acknowledge and publish as soon as it returns. Failures to reach the database raise
:class:`StorageUnavailable` and nothing is half-written.

Ids: every persisted item gets a time-ordered unique string id (:mod:`server.ids`) from the
adapter, in the order the adapter commits them. The *following stream* of a user is the sequence
of post creations and deletions of the authors they follow (and their own), ordered by position:
a creation's position is the post id, a deletion's is a fresh id taken when it is deleted. A
client's cursor is the last position it has seen, and :meth:`Storage.following_stream_after`
returns exactly what came after it.

Atomic, for a method that writes several records (``create_user``, ``create_invite`` with
``max_unused``), promises two things: all or nothing (a refused or failed call leaves no lasting
write), and concurrent calls, from one process or several, decide as if one ran after the other
(one user per invite and per handle, never more than ``max_unused`` unused invites). It does not
promise isolation: an adapter without multi-document transactions (MongoDB) may let a reader
glimpse a state within the call, such as an invite claimed by a sign-up that then fails with
HandleTaken, or a new user just before their follow of the inviter.

Contract tests: ``tests/contract/test_storage.py`` runs the same tests against every adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "HandleTaken",
    "InviteExpired",
    "InviteLimitReached",
    "InviteNotFound",
    "InviteRecord",
    "InviteUsed",
    "NewUser",
    "PostRecord",
    "SessionRecord",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StreamItem",
    "UserRecord",
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


@dataclass(frozen=True, slots=True)
class NewUser:
    handle: str
    display_name: str
    password_hash: str
    birth_date: str


@dataclass(frozen=True, slots=True)
class InviteRecord:
    code: str
    inviter_id: str | None
    created_ms: int
    expires_ms: int
    used_by: str | None
    used_ms: int | None
    grants_operator: bool


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None


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


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One entry of a following stream: a post created at ``pos``, or deleted at ``pos``."""

    pos: str
    post: PostRecord
    deleted: bool


class StorageError(Exception):
    """Base of everything the storage port raises."""


class StorageUnavailable(StorageError):
    """The database could not be reached or failed; nothing was written."""


class HandleTaken(StorageError):
    pass


class InviteNotFound(StorageError):
    pass


class InviteUsed(StorageError):
    pass


class InviteExpired(StorageError):
    pass


class InviteLimitReached(StorageError):
    pass


class Storage(Protocol):
    """Durable state. All methods are coroutines safe to call concurrently from one event loop."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if the database answers a trivial query; raise StorageUnavailable if not."""

    # --- users and invites -----------------------------------------------------------------

    async def count_users(self) -> int: ...

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> InviteRecord:
        """Make an invite. With ``max_unused``, atomically refuse (InviteLimitReached) when the
        inviter already holds that many unused, unexpired invites."""

    async def get_invite(self, code: str) -> InviteRecord | None: ...

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
        """Case-insensitive lookup."""

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int
    ) -> SessionRecord: ...

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        """The session with that token hash, revoked or expired ones included."""

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        """Revoke one session; returns it, or None if there was no live one."""

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        """Revoke every session of a user not revoked yet (expired ones included, harmlessly);
        returns their ids."""

    # --- follows -----------------------------------------------------------------------------

    async def follow(self, follower_id: str, followee_id: str, now_ms: int) -> bool:
        """Returns False if the follow already existed."""

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        """Returns False if there was no such follow."""

    async def followee_ids(self, user_id: str) -> list[str]: ...

    async def follow_state(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        """(viewer follows user, user follows viewer)."""

    async def follow_counts(self, user_id: str) -> tuple[int, int]:
        """(followers, following)."""

    # --- posts -------------------------------------------------------------------------------

    async def create_post(
        self,
        *,
        author_id: str,
        text: str,
        emotext: str | None,
        reply_to: str | None,
        now_ms: int,
    ) -> PostRecord: ...

    async def get_post(self, post_id: str) -> PostRecord | None:
        """The post, deleted or not (see ``deleted_pos``)."""

    async def delete_post(self, post_id: str) -> PostRecord | None:
        """Mark the post deleted at a fresh stream position; returns the updated record, or None
        if it did not exist or was already deleted."""

    async def posts_by_author_after(self, author_id: str, *, after: str, limit: int) -> list[PostRecord]:
        """The author's standing posts with ids > ``after``, oldest first, at most ``limit``."""

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        """Standing posts by the user and those they follow, newest first, ids < ``before``."""

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        """Following-stream entries with position > ``after``, oldest first, at most ``limit``.
        A post created and deleted after ``after`` appears not at all; a post created at or
        before ``after`` and deleted after it appears as a deletion."""
