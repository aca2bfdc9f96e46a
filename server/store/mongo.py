"""Storage on MongoDB, through PyMongo's asyncio driver (:class:`pymongo.AsyncMongoClient`).

Same contract and same ids as the SQLite adapter (:mod:`server.store.base` is the contract):
every persisted item's id comes from :class:`server.ids.IdGenerator` and is the ``_id`` string
of its document (an invite's id is its code).

Collections
    ``users``, ``invites``, ``sessions``, ``follows``, ``posts``, ``meta`` (the schema version
    document ``{_id: "schema", version: N}``) and ``invite_quotas`` (one document per inviter
    listing the invites that still hold one of the inviter's slots, see below); since schema 2
    ``reactions``, ``communities``, ``memberships``, ``join_requests``, ``bans``,
    ``conversations``, ``conversation_members``, ``messages``, ``notifications``, ``blocks``,
    ``mutes`` and ``reports``. One document per record of the port, and one per relation
    (a membership, a reaction, a block) rather than an array inside a user or a community:
    no document grows with its community's or its post's success, and every relation is one
    entry of a unique index. Optional fields are stored explicitly as ``null`` and matched
    with ``{field: None}``, MongoDB's idiom for "null or missing"; booleans are BSON
    booleans, token hashes BSON binary. Documents written at schema 1 lack the fields added
    in 2 (``users.dm_policy``; ``posts.community_id``, ``repost_of``, ``quote_of``,
    ``announcement``): they read as the port's defaults and ``{field: None}`` matches them,
    so nothing is rewritten on upgrade.

Indexes
    Declared once, in :data:`INDEXES`, and covered by :data:`SCHEMA_VERSION`. :meth:`open`
    creates them every time it runs (``createIndexes`` is a no-op for an index that exists
    with the same definition, and this brings back one an operator dropped), then raises the
    version recorded in ``meta`` with ``$max``, so processes starting together agree. A
    database recorded at a newer version than this code knows is refused. Changing an index
    means changing :data:`INDEXES` *and* bumping :data:`SCHEMA_VERSION`. Each index says in
    :data:`INDEXES` which reads it serves; uniqueness is how concurrent writers are decided
    (below). Pages ordered by id use compound indexes ending in ``_id`` (``(community_id,
    _id)``...), so a page is one index range read in order, never a sort.

Durability
    Writes use ``w="majority", journal=True`` unless the URL says otherwise: on a replica set a
    write has reached the journal of a majority when the method returns, on a standalone the
    journal of the one server, which is what the SQLite adapter's ``synchronous=FULL`` gives.
    ``serverSelectionTimeoutMS=5000`` (unless the URL says otherwise) makes an outage fail in
    seconds. Every driver error (connection failure, server selection timeout, an operation
    the server refused) that is not a meaning of its own below (a duplicate key) is raised as
    :class:`StorageUnavailable`.

Single-document operations
    MongoDB updates one document atomically, so every "only if" of the contract that concerns
    one document is one conditional ``find_one_and_update``/``update_one``: a post is deleted
    only if ``deleted_pos`` is null, a session revoked only if ``revoked_ms`` is null, an invite
    claimed only if ``used_by`` is null and it has not expired, a report resolved only if
    ``resolved_ms`` is null, a notification read only if unread; markers that only move
    forward (a conversation's ``last_message_id``, a member's ``last_read``) move with
    ``$max``, so concurrent writers leave the greatest. Uniqueness (handles, case folded into
    ``handle_key``; follows; token hashes; reactions per (post, user, emoji); memberships, join
    requests and bans per (community, user); conversation members per (conversation, user);
    blocks and mutes per pair; one direct conversation per pair of users, through its
    ``pair_key``) is enforced by unique indexes, and a duplicate key is the answer
    (HandleTaken, "already following", "already a member", the pair's existing conversation).

Multi-document operations, without transactions
    Multi-document transactions need a replica set and do not, on their own, stop two
    concurrent "count, then insert" transactions from both succeeding (snapshot isolation
    allows that write skew unless both write one common document). The operations that span
    documents are therefore built from single-document atomic steps ordered so that a
    concurrent caller can never get past a check it should fail, and so that a failure part
    way is undone (:class:`_Undo`: each step that wrote registers its inverse, run newest
    first when a later step fails or refuses), or, where undoing is impossible (the database
    went away), leaves a remnant (below). The first write of each that can be refused is the
    one that decides between concurrent callers (an insert under a unique index, or a
    conditional update), so a caller that loses has written nothing. This works the same on a standalone
    server, a replica set and a sharded cluster. A process killed part way undoes nothing:
    besides the remnants named for ``create_user`` and ``create_invite`` below, it may leave
    a membership of a community never made, a ``member_count`` one off, a ban beside a
    membership not yet removed, a conversation without its members or its "created"
    message, a message that is not yet its conversation's last, a block beside follows not
    yet ended, or a transfer lease, which expires.

    ``create_user``
        1. *Claim* the invite: ``find_one_and_update({_id: code, used_by: None, expires_ms:
           {$gt: now}}, {$set: {used_by: <new id>, used_ms: now}})``. Exactly one of any
           number of concurrent sign-ups on one code gets it. When the claim matches nothing,
           the invite is read to tell InviteNotFound / InviteUsed / InviteExpired apart (and
           the claim is retried if it has been released meanwhile).
        2. Insert the user. The unique index on ``handle_key`` makes a taken handle a
           DuplicateKeyError: the claim is released (``used_by`` back to null, only if it is
           still ours) and HandleTaken raised.
        3. Insert the newcomer's follow of the inviter. Should that fail, the user is deleted
           and the claim released before the error is raised.
        4. Free the invite's slot in the inviter's quota document (below). If this last step
           fails the user stands and is returned: the slot stays held until the invite's
           expiry time, which only makes the inviter's limit stricter for a while.
        Between steps other readers may briefly see the claimed invite, or the user before
        their follow; they never see a user without a claimed invite.

    ``create_invite`` with ``max_unused``
        "Count the inviter's unused, unexpired invites, then insert one" races across
        processes, and a plain counter with a conditional ``$inc`` cannot forget invites as
        they expire. So each inviter has one ``invite_quotas`` document whose ``open`` array
        lists ``{code, expires_ms}`` for every invite of theirs not used yet: the array is the
        counter, and it knows expiry times. Making an invite is
        1. prune: ``$pull`` the entries that have expired by ``now`` (creating the document
           with an empty array the first time);
        2. take a slot: ``update_one({_id: inviter, "open.<max_unused - 1>": {$exists:
           False}}, {$push: {open: {code, expires_ms}}})`` which matches only while the array
           holds fewer than ``max_unused`` entries, atomically; no match is
           InviteLimitReached. Without ``max_unused`` the entry is pushed unconditionally,
           so that an inviter's uncapped invites count if a capped request comes later;
        3. insert the invite (on failure the slot is pulled back).
        ``create_user`` pulls the entry when the invite is used (step 4 above) and puts
        nothing back on HandleTaken because it pulls only after the user exists. A crash
        between steps leaves at most an entry for an invite that does not exist or is used,
        which holds a slot until its ``expires_ms`` and is then pruned: the limit may be
        stricter than it should for a while, never looser. Bootstrap invites (no inviter)
        share the quota document ``_id: "(bootstrap)"``, which no user id can equal.

    ``member_count``
        A community's ``member_count`` changes only by ``$inc``, and only after the membership
        document it counts was inserted (+1) or deleted (-1) by the same call: the unique
        ``(community_id, user_id)`` index decides between concurrent joins, and a delete that
        removed nothing (a concurrent leave, ban or removal got there first) changes no count.
        So once the calls in flight have finished, the count is the number of memberships,
        whatever ran concurrently; a reader may find it one off while a call is between its
        two steps.

    ``create_community``
        The owner's membership first, then the community with ``member_count: 1``. Until the
        community exists nobody knows its id; if inserting it fails the membership is deleted.

    ``add_member``
        Check the community exists (NotFound), insert the membership (a duplicate key: already
        a member, None, nothing written), ``$inc`` the count, delete the user's join request.

    ``ban``
        Insert the ban (a duplicate key: banned already, False, nothing written), then delete
        the membership (and ``$inc`` -1 if there was one), then the join request. A
        concurrent ``add_member`` ends either before (the ban removes the membership) or after
        (a member who is banned, which is what "add, then ban" and "ban, then add" leave).

    ``transfer_ownership``
        Check that ``from_id`` owns the community and ``to_id`` is a member, then move the
        owner and take a *lease* in one ``update_one({_id, owner_id: from_id, transfer: none
        live}, {$set: {owner_id: to_id, transfer: {token, until_ms}}})``: of concurrent
        transfers only one matches, and while the lease is live no other transfer does (one
        by the new owner, started before this one has finished, answers False, as if it had
        run first). Then ``to_id``'s role becomes "owner" (if their membership went
        meanwhile, the owner is moved back and the answer is False), then ``from_id``'s
        "moderator", then the lease is released. A call cut off half way leaves a lease that
        expires after :data:`_TRANSFER_LEASE_MS` (by this process's clock).

    ``create_conversation``
        A direct conversation's ``pair_key`` is its two member ids sorted and joined; a unique
        index (partial: groups have none) makes the conversation document the decision: the
        caller whose insert meets a duplicate key writes nothing and returns the pair's
        existing conversation. The conversation is inserted first, then its members, then
        its "created" message (its ``last_message_id``, whose id is taken before the
        conversation is inserted). Readers find messages through members, so nobody sees the
        message before the membership that makes it theirs.

    ``add_message``, ``add_conversation_members``, ``remove_conversation_member``
        The member change (an insert under the unique ``(conversation_id, user_id)`` index,
        or a ``find_one_and_delete``) decides; then the message(s), then ``$max`` on the
        conversation's ``last_message_id``, so concurrent appends leave the newest.

    ``block``
        Insert the block (a duplicate key: nothing changes), then delete the follows either
        way with ``find_one_and_delete``, which tells exactly which ones this call ended.

    ``add_notifications``
        One ordered ``insert_many``; if it fails, the ids it was given are deleted.

Ordering
    Ids are time-ordered and strictly increase within one process (one IdGenerator per
    storage). Several server processes on one database each have their own generator, so
    their ids interleave by time only; exactly as with several SQLite processes.
    ``list_invites`` sorts by ``created_ms`` then ``seq`` (an id taken when the invite is
    made), so invites of one millisecond come out last made first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..config import Settings
from ..doctor import Finding
from ..ids import IdGenerator, floor_id
from .base import (
    BlockOutcome,
    CommunityRecord,
    ConversationMemberRecord,
    ConversationRecord,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    JoinRequestRecord,
    MembershipRecord,
    MessageRecord,
    NewNotification,
    NewUser,
    NotFound,
    NotificationRecord,
    PostRecord,
    ReportRecord,
    SessionRecord,
    StorageError,
    StorageUnavailable,
    StreamItem,
    UserRecord,
)

__all__ = ["INDEXES", "SCHEMA_VERSION", "MongoStorage"]

_log = logging.getLogger(__name__)

Document = dict[str, Any]

#: The version of the collections' layout and of :data:`INDEXES`; bump it with any change.
#: 1: users, invites, sessions, follows, posts. 2: communities, conversations, reactions,
#: notifications, blocks, mutes, reports, and the posts' community indexes.
SCHEMA_VERSION: Final = 2


def _unique(keys: list[tuple[str, int]], name: str) -> IndexModel:
    return IndexModel(keys, unique=True, name=name)


#: Every index, per collection: the one place they are declared.
INDEXES: Final[Mapping[str, list[IndexModel]]] = {
    "users": [
        IndexModel([("handle_key", ASCENDING)], unique=True, name="handle_key_unique"),
        # The invite tree, kept for moderation.
        IndexModel([("invited_by", ASCENDING)], name="by_inviter"),
    ],
    "invites": [
        # list_invites: one inviter's, newest first, ties last made first.
        IndexModel(
            [("inviter_id", ASCENDING), ("created_ms", DESCENDING), ("seq", DESCENDING)],
            name="by_inviter_newest",
        ),
    ],
    "sessions": [
        IndexModel([("token_hash", ASCENDING)], unique=True, name="token_hash_unique"),
        IndexModel([("user_id", ASCENDING)], name="by_user"),
    ],
    "follows": [
        IndexModel([("follower_id", ASCENDING), ("followee_id", ASCENDING)], unique=True, name="pair_unique"),
        IndexModel([("followee_id", ASCENDING)], name="by_followee"),
    ],
    "posts": [
        # Creations in the following stream and timeline: author_id $in [...], sorted by _id;
        # posts_by_author_after.
        IndexModel([("author_id", ASCENDING), ("_id", ASCENDING)], name="by_author"),
        # Deletions in the following stream: author_id $in [...], sorted by deleted_pos.
        IndexModel([("author_id", ASCENDING), ("deleted_pos", ASCENDING)], name="by_author_deletion"),
        # The same two for the posts of the user's communities (community_id $in [...]), and
        # community_timeline / community_posts_after.
        IndexModel([("community_id", ASCENDING), ("_id", ASCENDING)], name="by_community"),
        IndexModel([("community_id", ASCENDING), ("deleted_pos", ASCENDING)], name="by_community_deletion"),
        # replies: one post's direct replies, oldest first.
        IndexModel([("reply_to", ASCENDING), ("_id", ASCENDING)], name="by_parent"),
        # find_repost: a user's reposts of one post.
        IndexModel([("repost_of", ASCENDING), ("author_id", ASCENDING)], name="by_original"),
        # discover_candidates walks the built-in _id index newest first (ids are time-ordered).
    ],
    "reactions": [
        # One per (post, user, emoji): add_reaction's answer. Its prefixes serve the reads:
        # post_id $in for reaction_counts, (post_id $in, user_id) for my_reactions and
        # reaction_counts_by.
        _unique([("post_id", ASCENDING), ("user_id", ASCENDING), ("emoji", ASCENDING)], "one_per_emoji"),
    ],
    "communities": [
        # search_communities: most members first, then by id, with or without a tag.
        IndexModel([("member_count", DESCENDING), ("_id", ASCENDING)], name="by_members"),
        IndexModel(
            [("tags", ASCENDING), ("member_count", DESCENDING), ("_id", ASCENDING)], name="by_tag_members"
        ),
    ],
    "memberships": [
        # One per (community, user): add_member's answer; membership().
        _unique([("community_id", ASCENDING), ("user_id", ASCENDING)], "community_user_unique"),
        # members: joining order (membership ids); member_ids.
        IndexModel([("community_id", ASCENDING), ("_id", ASCENDING)], name="by_community_joined"),
        # member_ids with roles: the staff of a big community without reading every member.
        IndexModel([("community_id", ASCENDING), ("role", ASCENDING)], name="by_community_role"),
        # memberships_of, and the communities of a user's circle.
        IndexModel([("user_id", ASCENDING), ("_id", ASCENDING)], name="by_user_joined"),
    ],
    "join_requests": [
        _unique([("community_id", ASCENDING), ("user_id", ASCENDING)], "community_user_unique"),
        # join_requests: oldest first (by created_ms, then id).
        IndexModel(
            [("community_id", ASCENDING), ("created_ms", ASCENDING), ("_id", ASCENDING)],
            name="by_community_oldest",
        ),
    ],
    "bans": [
        _unique([("community_id", ASCENDING), ("user_id", ASCENDING)], "community_user_unique"),
    ],
    "conversations": [
        # One direct conversation per pair of users; groups have no pair_key (null), which
        # the partial filter leaves out of the index (a plain unique index allows one null).
        IndexModel(
            [("pair_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"pair_key": {"$type": "string"}},
            name="pair_key_unique",
        ),
        # conversations_of reads the user's conversations by _id ($in) and sorts those few.
    ],
    "conversation_members": [
        # One per (conversation, user); conversation_members, conversation_member.
        _unique([("conversation_id", ASCENDING), ("user_id", ASCENDING)], "conversation_user_unique"),
        # The user's conversations: conversations_of, direct_stream_after, unread_counts.
        IndexModel([("user_id", ASCENDING)], name="by_user"),
    ],
    "messages": [
        # messages (newest first), direct_stream_after (conversation_id $in, by id),
        # unread_counts (by id after a read marker).
        IndexModel([("conversation_id", ASCENDING), ("_id", ASCENDING)], name="by_conversation"),
    ],
    "notifications": [
        # notifications (newest first) and notifications_after (the notification stream).
        IndexModel([("user_id", ASCENDING), ("_id", ASCENDING)], name="by_user"),
        # unread_notifications, mark_all_notifications_read.
        IndexModel([("user_id", ASCENDING), ("read", ASCENDING)], name="by_user_read"),
    ],
    "blocks": [
        _unique([("blocker_id", ASCENDING), ("blocked_id", ASCENDING)], "pair_unique"),
        # hidden_ids: who blocks the user.
        IndexModel([("blocked_id", ASCENDING)], name="by_blocked"),
    ],
    "mutes": [
        _unique([("user_id", ASCENDING), ("target_id", ASCENDING)], "pair_unique"),
    ],
    "reports": [
        # reports(open_only=True): the open ones newest first, however many were resolved.
        IndexModel([("resolved_ms", ASCENDING), ("_id", ASCENDING)], name="open_newest"),
    ],
}

#: Options the adapter needs unless the URL sets them (a keyword would override the URL).
_CLIENT_DEFAULTS: Final[Mapping[str, Any]] = {
    "serverSelectionTimeoutMS": 5000,
    "w": "majority",
    "journal": True,
}
#: The quota document of invites made without an inviter (26-character ids never equal it).
_BOOTSTRAP_QUOTA: Final = "(bootstrap)"
#: Ids per ``$in`` query in get_users: well within a 16 MiB command however many are asked for.
_IN_CHUNK: Final = 1000
#: How long a community's ownership transfer holds off others (see transfer_ownership): far
#: longer than its three writes take, short enough that one cut off half way blocks little.
_TRANSFER_LEASE_MS: Final = 60_000
#: "Most recent first" for the few blocks or mutes of one user: by time, then by id.
_MOST_RECENT: Final = [("created_ms", DESCENDING), ("_id", DESCENDING)]
#: How often create_user re-claims an invite that was released while it looked at it, and
#: create_conversation looks again for a pair's conversation whose maker undid it meanwhile.
_CLAIM_ATTEMPTS: Final = 5


@contextmanager
def _driver_errors() -> Iterator[None]:
    """Raise any driver error left unhandled inside as StorageUnavailable."""
    try:
        yield
    except PyMongoError as exc:
        raise StorageUnavailable(f"mongodb: {exc}") from exc


class _Undo:
    """The inverses of the steps a multi-document write has taken, newest last.

    Each step that wrote registers how to take it back; if a later step fails or refuses,
    :func:`_all_or_nothing` runs them newest first, each at most once, ignoring failures (the
    database may be gone: what cannot be undone stays, see the module docstring).
    """

    def __init__(self) -> None:
        self._steps: list[Callable[[], Awaitable[object]]] = []

    def add(self, step: Callable[[], Awaitable[object]]) -> None:
        self._steps.append(step)

    async def run(self) -> None:
        while self._steps:
            step = self._steps.pop()
            with suppress(PyMongoError):
                await step()


@asynccontextmanager
async def _all_or_nothing() -> AsyncIterator[_Undo]:
    """Undo the registered steps if the block raises anything (a refusal, a driver error, a
    cancellation), then let it through."""
    undo = _Undo()
    try:
        yield undo
    except BaseException:
        await undo.run()
        raise


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    """The distinct ids, in ``$in`` lists of at most :data:`_IN_CHUNK`."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        yield wanted[start : start + _IN_CHUNK]


def _before(field: str, before: str | None) -> Document:
    return {} if before is None else {field: {"$lt": before}}


def _after(field: str, after: str | None) -> Document:
    return {} if after is None else {field: {"$gt": after}}


def _pair_key(member_ids: list[str]) -> str:
    """A direct conversation's key: the same for both orders of its two members."""
    return ":".join(sorted(member_ids))


def _user(doc: Document) -> UserRecord:
    return UserRecord(
        id=doc["_id"],
        handle=doc["handle"],
        display_name=doc["display_name"],
        password_hash=doc["password_hash"],
        birth_date=doc["birth_date"],
        created_ms=doc["created_ms"],
        invited_by=doc["invited_by"],
        operator=doc["operator"],
        verified=doc["verified"],
        bot=doc["bot"],
        dm_policy=doc.get("dm_policy", "everyone"),  # absent from users made at schema 1
    )


def _invite(doc: Document) -> InviteRecord:
    return InviteRecord(
        code=doc["_id"],
        inviter_id=doc["inviter_id"],
        created_ms=doc["created_ms"],
        expires_ms=doc["expires_ms"],
        used_by=doc["used_by"],
        used_ms=doc["used_ms"],
        grants_operator=doc["grants_operator"],
    )


def _session(doc: Document) -> SessionRecord:
    return SessionRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        created_ms=doc["created_ms"],
        expires_ms=doc["expires_ms"],
        revoked_ms=doc["revoked_ms"],
    )


def _post(doc: Document) -> PostRecord:
    return PostRecord(
        id=doc["_id"],
        author_id=doc["author_id"],
        text=doc["text"],
        emotext=doc["emotext"],
        reply_to=doc["reply_to"],
        created_ms=doc["created_ms"],
        deleted_pos=doc["deleted_pos"],
        # Absent from posts made at schema 1.
        community_id=doc.get("community_id"),
        repost_of=doc.get("repost_of"),
        quote_of=doc.get("quote_of"),
        announcement=doc.get("announcement", False),
    )


def _community(doc: Document) -> CommunityRecord:
    return CommunityRecord(
        id=doc["_id"],
        name=doc["name"],
        description=doc["description"],
        tags=tuple(doc["tags"]),
        approval_required=doc["approval_required"],
        certified=doc["certified"],
        owner_id=doc["owner_id"],
        created_ms=doc["created_ms"],
        member_count=doc["member_count"],
    )


def _membership(doc: Document) -> MembershipRecord:
    return MembershipRecord(
        id=doc["_id"],
        community_id=doc["community_id"],
        user_id=doc["user_id"],
        role=doc["role"],
        joined_ms=doc["joined_ms"],
    )


def _conversation(doc: Document) -> ConversationRecord:
    return ConversationRecord(
        id=doc["_id"],
        kind=doc["kind"],
        title=doc["title"],
        owner_id=doc["owner_id"],
        created_ms=doc["created_ms"],
        last_message_id=doc["last_message_id"],
    )


def _conversation_member(doc: Document) -> ConversationMemberRecord:
    return ConversationMemberRecord(
        conversation_id=doc["conversation_id"],
        user_id=doc["user_id"],
        joined_ms=doc["joined_ms"],
        last_read=doc["last_read"],
    )


def _message(doc: Document) -> MessageRecord:
    return MessageRecord(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        author_id=doc["author_id"],
        kind=doc["kind"],
        text=doc["text"],
        subject_id=doc["subject_id"],
        created_ms=doc["created_ms"],
    )


def _notification(doc: Document) -> NotificationRecord:
    return NotificationRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        kind=doc["kind"],
        actor_id=doc["actor_id"],
        post_id=doc["post_id"],
        community_id=doc["community_id"],
        emoji=doc["emoji"],
        created_ms=doc["created_ms"],
        read=doc["read"],
    )


def _report(doc: Document) -> ReportRecord:
    return ReportRecord(
        id=doc["_id"],
        reporter_id=doc["reporter_id"],
        post_id=doc["post_id"],
        user_id=doc["user_id"],
        reason=doc["reason"],
        created_ms=doc["created_ms"],
        resolved_ms=doc["resolved_ms"],
    )


def _client_options(url: str) -> dict[str, Any]:
    """The defaults of :data:`_CLIENT_DEFAULTS` that the URL does not set itself."""
    given = {key.lower() for key, _ in parse_qsl(urlsplit(url).query)}
    if "j" in given:  # the URL's other spelling of "journal"
        given.add("journal")
    return {key: value for key, value in _CLIENT_DEFAULTS.items() if key.lower() not in given}


class MongoStorage:
    """Storage on one MongoDB database. Build with :meth:`open`."""

    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._db = db
        self._ids = IdGenerator()
        self._users: AsyncCollection[Document] = db["users"]
        self._invites: AsyncCollection[Document] = db["invites"]
        self._quotas: AsyncCollection[Document] = db["invite_quotas"]
        self._sessions: AsyncCollection[Document] = db["sessions"]
        self._follows: AsyncCollection[Document] = db["follows"]
        self._posts: AsyncCollection[Document] = db["posts"]
        self._reactions: AsyncCollection[Document] = db["reactions"]
        self._communities: AsyncCollection[Document] = db["communities"]
        self._memberships: AsyncCollection[Document] = db["memberships"]
        self._join_requests: AsyncCollection[Document] = db["join_requests"]
        self._bans: AsyncCollection[Document] = db["bans"]
        self._conversations: AsyncCollection[Document] = db["conversations"]
        self._members: AsyncCollection[Document] = db["conversation_members"]
        self._messages: AsyncCollection[Document] = db["messages"]
        self._notifications: AsyncCollection[Document] = db["notifications"]
        self._blocks: AsyncCollection[Document] = db["blocks"]
        self._mutes: AsyncCollection[Document] = db["mutes"]
        self._reports: AsyncCollection[Document] = db["reports"]
        self._meta: AsyncCollection[Document] = db["meta"]

    @classmethod
    async def open(cls, url: str, *, database: str) -> MongoStorage:
        """Connect, check the server answers, create the indexes and record the schema version.

        ``database`` is used when the URL names no database of its own.
        """
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
        except PyMongoError as exc:  # a malformed URL or option
            raise StorageUnavailable(f"mongodb: {exc}") from exc
        store = cls(client, client.get_default_database(default=database))
        try:
            await store.ping()
            await store._migrate()
        except BaseException:
            await client.close()
            raise
        return store

    async def _migrate(self) -> None:
        with _driver_errors():
            meta = await self._meta.find_one({"_id": "schema"})
            stored = int(meta["version"]) if meta else 0
            if stored > SCHEMA_VERSION:
                raise StorageError(
                    f"the database is at schema version {stored}; this server knows up to {SCHEMA_VERSION}"
                )
            for name, models in INDEXES.items():
                await self._db[name].create_indexes(models)
            await self._meta.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        with _driver_errors():
            await self._db.command("ping")

    # --- users and invites -----------------------------------------------------------------

    async def count_users(self) -> int:
        with _driver_errors():
            return await self._users.count_documents({})

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> InviteRecord:
        invite = InviteRecord(
            code=secrets.token_urlsafe(16),
            inviter_id=inviter_id,
            created_ms=now_ms,
            expires_ms=now_ms + ttl_ms,
            used_by=None,
            used_ms=None,
            grants_operator=grants_operator,
        )
        quota = inviter_id if inviter_id is not None else _BOOTSTRAP_QUOTA
        slot = {"code": invite.code, "expires_ms": invite.expires_ms}
        with _driver_errors():
            if max_unused is not None and max_unused <= 0:
                raise InviteLimitReached
            # 1. Prune the slots of invites that have expired (the document, the first time).
            pruned = await self._quotas.update_one(
                {"_id": quota}, {"$pull": {"open": {"expires_ms": {"$lte": now_ms}}}}
            )
            if pruned.matched_count == 0:
                with suppress(DuplicateKeyError):  # made by a concurrent call meanwhile
                    await self._quotas.insert_one({"_id": quota, "open": []})
            # 2. Take a slot: only while fewer than max_unused are held, atomically.
            held: Document = {"_id": quota}
            if max_unused is not None:
                held[f"open.{max_unused - 1}"] = {"$exists": False}
            taken = await self._quotas.update_one(held, {"$push": {"open": slot}})
            if taken.matched_count == 0:
                raise InviteLimitReached
            # 3. The invite itself.
            try:
                await self._invites.insert_one(
                    {
                        "_id": invite.code,
                        "inviter_id": inviter_id,
                        "created_ms": now_ms,
                        "expires_ms": invite.expires_ms,
                        "used_by": None,
                        "used_ms": None,
                        "grants_operator": grants_operator,
                        "seq": self._ids.new(now_ms),
                    }
                )
            except BaseException:
                with suppress(PyMongoError):  # best effort: else it is pruned when it expires
                    await self._quotas.update_one({"_id": quota}, {"$pull": {"open": {"code": invite.code}}})
                raise
        return invite

    async def get_invite(self, code: str) -> InviteRecord | None:
        with _driver_errors():
            doc = await self._invites.find_one({"_id": code})
        return _invite(doc) if doc else None

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[InviteRecord]:
        if limit <= 0:
            return []
        with _driver_errors():
            cursor = (
                self._invites.find({"inviter_id": inviter_id})
                .sort([("created_ms", DESCENDING), ("seq", DESCENDING)])
                .limit(limit)
            )
            return [_invite(doc) async for doc in cursor]

    async def create_user(self, new: NewUser, *, invite_code: str, now_ms: int) -> UserRecord:
        user_id = self._ids.new(now_ms)
        with _driver_errors():
            invite = await self._claim_invite(invite_code, user_id, now_ms)
            user = UserRecord(
                id=user_id,
                handle=new.handle,
                display_name=new.display_name,
                password_hash=new.password_hash,
                birth_date=new.birth_date,
                created_ms=now_ms,
                invited_by=invite.inviter_id,
                operator=invite.grants_operator,
                verified=False,
                bot=False,
            )
            try:
                await self._users.insert_one(
                    {
                        "_id": user.id,
                        "handle": user.handle,
                        "handle_key": user.handle.lower(),
                        "display_name": user.display_name,
                        "password_hash": user.password_hash,
                        "birth_date": user.birth_date,
                        "terms_accepted_ms": now_ms,
                        "created_ms": now_ms,
                        "invited_by": user.invited_by,
                        "operator": user.operator,
                        "verified": False,
                        "bot": False,
                        "dm_policy": user.dm_policy,
                    }
                )
            except DuplicateKeyError as exc:  # the only unique key but the fresh _id: handle_key
                await self._release_invite(invite_code, user_id)
                raise HandleTaken from exc
            except BaseException:
                # Not known whether the user was written: take it back, then the claim.
                with suppress(PyMongoError):
                    await self._users.delete_one({"_id": user_id})
                    await self._release_invite(invite_code, user_id)
                raise
            if invite.inviter_id is not None:
                try:
                    await self._follows.insert_one(
                        {
                            "_id": self._ids.new(now_ms),
                            "follower_id": user.id,
                            "followee_id": invite.inviter_id,
                            "created_ms": now_ms,
                        }
                    )
                except BaseException:
                    with suppress(PyMongoError):
                        await self._follows.delete_one({"follower_id": user.id})
                        await self._users.delete_one({"_id": user_id})
                        await self._release_invite(invite_code, user_id)
                    raise
        # The user stands; a slot left held here only expires later (see the module docstring).
        quota = invite.inviter_id if invite.inviter_id is not None else _BOOTSTRAP_QUOTA
        try:
            await self._quotas.update_one({"_id": quota}, {"$pull": {"open": {"code": invite_code}}})
        except PyMongoError:
            _log.warning("invite %s used, but its quota slot stays held until it expires", invite_code)
        return user

    async def _claim_invite(self, code: str, user_id: str, now_ms: int) -> InviteRecord:
        """Mark the invite used by ``user_id`` if it is unused and unexpired, atomically."""
        for _ in range(_CLAIM_ATTEMPTS):
            claimed = await self._invites.find_one_and_update(
                {"_id": code, "used_by": None, "expires_ms": {"$gt": now_ms}},
                {"$set": {"used_by": user_id, "used_ms": now_ms}},
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None:
                return _invite(claimed)
            doc = await self._invites.find_one({"_id": code})
            if doc is None:
                raise InviteNotFound
            if doc["used_by"] is not None:
                raise InviteUsed
            if doc["expires_ms"] <= now_ms:
                raise InviteExpired
            # Unused and unexpired now: a claim was released meanwhile (HandleTaken). Again.
        raise InviteUsed

    async def _release_invite(self, code: str, user_id: str) -> None:
        """Undo :meth:`_claim_invite`, if the claim is still ours."""
        await self._invites.update_one(
            {"_id": code, "used_by": user_id}, {"$set": {"used_by": None, "used_ms": None}}
        )

    async def get_user(self, user_id: str) -> UserRecord | None:
        with _driver_errors():
            doc = await self._users.find_one({"_id": user_id})
        return _user(doc) if doc else None

    async def get_user_by_handle(self, handle: str) -> UserRecord | None:
        with _driver_errors():
            doc = await self._users.find_one({"handle_key": handle.lower()})
        return _user(doc) if doc else None

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]:
        wanted = list(dict.fromkeys(user_ids))
        found: dict[str, UserRecord] = {}
        with _driver_errors():
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                async for doc in self._users.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = _user(doc)
        return found

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with _driver_errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def set_verified(self, user_id: str, verified: bool) -> bool:
        with _driver_errors():
            result = await self._users.update_one({"_id": user_id}, {"$set": {"verified": verified}})
        return result.matched_count == 1

    async def set_dm_policy(self, user_id: str, policy: str) -> None:
        with _driver_errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"dm_policy": policy}})

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int
    ) -> SessionRecord:
        session = SessionRecord(self._ids.new(now_ms), user_id, now_ms, now_ms + ttl_ms, None)
        with _driver_errors():
            await self._sessions.insert_one(
                {
                    "_id": session.id,
                    "token_hash": token_hash,
                    "user_id": user_id,
                    "created_ms": now_ms,
                    "expires_ms": session.expires_ms,
                    "revoked_ms": None,
                }
            )
        return session

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        with _driver_errors():
            doc = await self._sessions.find_one({"token_hash": token_hash})
        return _session(doc) if doc else None

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        with _driver_errors():
            doc = await self._sessions.find_one_and_update(
                {"token_hash": token_hash, "revoked_ms": None},
                {"$set": {"revoked_ms": now_ms}},
                return_document=ReturnDocument.AFTER,
            )
        return _session(doc) if doc else None

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        # update_many is atomic per document; tagging the documents it changed with a fresh id
        # tells exactly which ones this call revoked, whatever runs alongside.
        tag = self._ids.new(now_ms)
        with _driver_errors():
            result = await self._sessions.update_many(
                {"user_id": user_id, "revoked_ms": None},
                {"$set": {"revoked_ms": now_ms, "revoked_by": tag}},
            )
            if result.modified_count == 0:
                return []
            cursor = self._sessions.find({"user_id": user_id, "revoked_by": tag}, {"_id": True})
            return [doc["_id"] async for doc in cursor]

    # --- follows -----------------------------------------------------------------------------

    async def follow(self, follower_id: str, followee_id: str, now_ms: int) -> bool:
        with _driver_errors():
            try:
                await self._follows.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "follower_id": follower_id,
                        "followee_id": followee_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        with _driver_errors():
            result = await self._follows.delete_one({"follower_id": follower_id, "followee_id": followee_id})
        return result.deleted_count == 1

    async def followee_ids(self, user_id: str) -> list[str]:
        with _driver_errors():
            cursor = self._follows.find({"follower_id": user_id}, {"followee_id": True, "_id": False}).sort(
                "followee_id", ASCENDING
            )
            return [doc["followee_id"] async for doc in cursor]

    async def follow_state(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        with _driver_errors():
            following = await self._follows.find_one(
                {"follower_id": viewer_id, "followee_id": user_id}, {"_id": True}
            )
            followed_by = await self._follows.find_one(
                {"follower_id": user_id, "followee_id": viewer_id}, {"_id": True}
            )
        return following is not None, followed_by is not None

    async def follow_counts(self, user_id: str) -> tuple[int, int]:
        with _driver_errors():
            followers = await self._follows.count_documents({"followee_id": user_id})
            following = await self._follows.count_documents({"follower_id": user_id})
        return followers, following

    # --- posts -------------------------------------------------------------------------------

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
        announcement: bool = False,
    ) -> PostRecord:
        post = PostRecord(
            id=self._ids.new(now_ms),
            author_id=author_id,
            text=text,
            emotext=emotext,
            reply_to=reply_to,
            created_ms=now_ms,
            deleted_pos=None,
            community_id=community_id,
            repost_of=repost_of,
            quote_of=quote_of,
            announcement=announcement,
        )
        with _driver_errors():
            await self._posts.insert_one(
                {
                    "_id": post.id,
                    "author_id": author_id,
                    "text": text,
                    "emotext": emotext,
                    "reply_to": reply_to,
                    "created_ms": now_ms,
                    "deleted_pos": None,
                    "community_id": community_id,
                    "repost_of": repost_of,
                    "quote_of": quote_of,
                    "announcement": announcement,
                }
            )
        return post

    async def get_post(self, post_id: str) -> PostRecord | None:
        with _driver_errors():
            doc = await self._posts.find_one({"_id": post_id})
        return _post(doc) if doc else None

    async def get_posts(self, post_ids: list[str]) -> dict[str, PostRecord]:
        found: dict[str, PostRecord] = {}
        with _driver_errors():
            for chunk in _chunks(post_ids):
                async for doc in self._posts.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = _post(doc)
        return found

    async def delete_post(self, post_id: str) -> PostRecord | None:
        with _driver_errors():
            doc = await self._posts.find_one_and_update(
                {"_id": post_id, "deleted_pos": None},
                {"$set": {"deleted_pos": self._ids.new()}},
                return_document=ReturnDocument.AFTER,
            )
        return _post(doc) if doc else None

    async def posts_by_author_after(self, author_id: str, *, after: str, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"author_id": author_id, "community_id": None, "_id": {"$gt": after}, "deleted_pos": None}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def _authors(self, user_id: str) -> list[str]:
        """The authors of a user's circle outside communities: everyone they follow, and
        themselves."""
        return [*await self.followee_ids(user_id), user_id]

    async def _community_ids(self, user_id: str) -> list[str]:
        """The communities the user is a member of now."""
        with _driver_errors():
            cursor = self._memberships.find({"user_id": user_id}, {"community_id": True, "_id": False})
            return [doc["community_id"] async for doc in cursor]

    async def _circle(self, user_id: str) -> Document:
        """The filter for the posts in a user's circle (see :mod:`server.store.base`): made
        outside communities by the user or those they follow, or in the user's communities.
        Each branch of the ``$or`` has its index (by author, by community)."""
        authors, communities = await asyncio.gather(self._authors(user_id), self._community_ids(user_id))
        outside: Document = {"author_id": {"$in": authors}, "community_id": None}
        if not communities:
            return outside
        return {"$or": [outside, {"community_id": {"$in": communities}}]}

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {**await self._circle(user_id), "deleted_pos": None, **_before("_id", before)}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        if limit <= 0:
            return []
        circle = await self._circle(user_id)
        # Creations after the cursor still standing, and deletions after the cursor of posts
        # made at or before it: each query sorted by its position and limited, so the first
        # ``limit`` of their merge are the first ``limit`` of the stream.
        created = (
            self._posts.find({**circle, "_id": {"$gt": after}, "deleted_pos": None})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        deleted = (
            self._posts.find({**circle, "deleted_pos": {"$gt": after}, "_id": {"$lte": after}})
            .sort("deleted_pos", ASCENDING)
            .limit(limit)
        )
        with _driver_errors():
            creations, deletions = await asyncio.gather(created.to_list(), deleted.to_list())
        items = [StreamItem(doc["_id"], _post(doc), False) for doc in creations]
        items += [StreamItem(doc["deleted_pos"], _post(doc), True) for doc in deletions]
        items.sort(key=lambda item: item.pos)
        return items[:limit]

    async def find_repost(self, user_id: str, post_id: str) -> PostRecord | None:
        with _driver_errors():
            doc = await self._posts.find_one(
                {"repost_of": post_id, "author_id": user_id, "deleted_pos": None}, sort=[("_id", DESCENDING)]
            )
        return _post(doc) if doc else None

    async def replies(self, post_id: str, *, after: str | None, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"reply_to": post_id, "deleted_pos": None, **_after("_id", after)}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def community_timeline(
        self, community_id: str, *, before: str | None, limit: int
    ) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, "deleted_pos": None, **_before("_id", before)}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def community_posts_after(self, community_id: str, *, after: str, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, "deleted_pos": None, "_id": {"$gt": after}}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def discover_candidates(self, user_id: str, *, since_ms: int, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        authors, communities = await asyncio.gather(self._authors(user_id), self._community_ids(user_id))
        pipeline: list[Document] = [
            {
                "$match": {
                    # A post's id is never older than its created_ms (ids only move forward),
                    # so the id range holds every post made since since_ms and lets the scan
                    # walk the _id index newest first; created_ms then makes the bound exact.
                    "_id": {"$gte": floor_id(since_ms)},
                    "created_ms": {"$gte": since_ms},
                    "deleted_pos": None,
                    "reply_to": None,
                    "repost_of": None,
                    "$or": [
                        {"community_id": None, "author_id": {"$nin": authors}},
                        {"community_id": {"$nin": [*communities, None]}},
                    ],
                }
            },
            {"$sort": {"_id": -1}},
            # Whether a community is open is the community's: look it up for community posts
            # (a post outside communities finds none: no community has a null _id).
            {
                "$lookup": {
                    "from": self._communities.name,
                    "localField": "community_id",
                    "foreignField": "_id",
                    "as": "community",
                }
            },
            {"$match": {"$or": [{"community_id": None}, {"community.approval_required": False}]}},
            {"$limit": limit},
            {"$project": {"community": False}},
        ]
        with _driver_errors():
            cursor = await self._posts.aggregate(pipeline)
            return [_post(doc) async for doc in cursor]

    # --- reactions ---------------------------------------------------------------------------

    async def add_reaction(self, post_id: str, user_id: str, emoji: str, now_ms: int) -> bool:
        with _driver_errors():
            try:
                await self._reactions.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "post_id": post_id,
                        "user_id": user_id,
                        "emoji": emoji,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def remove_reaction(self, post_id: str, user_id: str, emoji: str) -> bool:
        with _driver_errors():
            result = await self._reactions.delete_one(
                {"post_id": post_id, "user_id": user_id, "emoji": emoji}
            )
        return result.deleted_count == 1

    async def reaction_counts(self, post_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        groups: list[Document] = []
        with _driver_errors():
            for chunk in _chunks(post_ids):
                cursor = await self._reactions.aggregate(
                    [
                        {"$match": {"post_id": {"$in": chunk}}},
                        {
                            "$group": {
                                "_id": {"post_id": "$post_id", "emoji": "$emoji"},
                                "users": {"$sum": 1},
                                "first_ms": {"$min": "$created_ms"},
                            }
                        },
                    ]
                )
                groups += await cursor.to_list()
        # In the order each emoji was first used on the post; ties by emoji.
        groups.sort(key=lambda g: (g["first_ms"], g["_id"]["emoji"]))
        counts: dict[str, list[tuple[str, int]]] = {}
        for group in groups:
            counts.setdefault(group["_id"]["post_id"], []).append((group["_id"]["emoji"], group["users"]))
        return counts

    async def my_reactions(self, user_id: str, post_ids: list[str]) -> dict[str, list[str]]:
        mine: dict[str, list[str]] = {}
        with _driver_errors():
            for chunk in _chunks(post_ids):
                cursor = self._reactions.find(
                    {"post_id": {"$in": chunk}, "user_id": user_id}, {"post_id": True, "emoji": True}
                ).sort("_id", ASCENDING)
                async for doc in cursor:
                    mine.setdefault(doc["post_id"], []).append(doc["emoji"])
        return mine

    async def reaction_counts_by(self, user_ids: list[str], post_ids: list[str]) -> dict[str, int]:
        if not user_ids:
            return {}
        users = list(dict.fromkeys(user_ids))
        counts: dict[str, int] = {}
        with _driver_errors():
            for chunk in _chunks(post_ids):
                cursor = await self._reactions.aggregate(
                    [
                        {"$match": {"post_id": {"$in": chunk}, "user_id": {"$in": users}}},
                        # Each user once, however many emoji they used.
                        {"$group": {"_id": {"post_id": "$post_id", "user_id": "$user_id"}}},
                        {"$group": {"_id": "$_id.post_id", "users": {"$sum": 1}}},
                    ]
                )
                async for group in cursor:
                    counts[group["_id"]] = group["users"]
        return counts

    # --- communities -------------------------------------------------------------------------

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
        community = CommunityRecord(
            id=self._ids.new(now_ms),
            name=name,
            description=description,
            tags=tuple(tags),
            approval_required=approval_required,
            certified=False,
            owner_id=owner_id,
            created_ms=now_ms,
            member_count=1,
        )
        membership_id = self._ids.new(now_ms)
        with _driver_errors():
            async with _all_or_nothing() as undo:
                # The owner's membership first: until the community exists nobody knows its id.
                await self._memberships.insert_one(
                    {
                        "_id": membership_id,
                        "community_id": community.id,
                        "user_id": owner_id,
                        "role": "owner",
                        "joined_ms": now_ms,
                    }
                )
                undo.add(lambda: self._memberships.delete_one({"_id": membership_id}))
                await self._communities.insert_one(
                    {
                        "_id": community.id,
                        "name": name,
                        "name_key": name.casefold(),
                        "description": description,
                        "tags": list(tags),
                        "approval_required": approval_required,
                        "certified": False,
                        "owner_id": owner_id,
                        "created_ms": now_ms,
                        "member_count": 1,
                        "transfer": None,
                    }
                )
        return community

    async def get_community(self, community_id: str) -> CommunityRecord | None:
        with _driver_errors():
            doc = await self._communities.find_one({"_id": community_id})
        return _community(doc) if doc else None

    async def get_communities(self, community_ids: list[str]) -> dict[str, CommunityRecord]:
        found: dict[str, CommunityRecord] = {}
        with _driver_errors():
            for chunk in _chunks(community_ids):
                async for doc in self._communities.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = _community(doc)
        return found

    async def search_communities(
        self, *, query: str, tag: str | None, offset: int, limit: int
    ) -> list[CommunityRecord]:
        if limit <= 0:
            return []
        wanted: Document = {}
        if key := query.casefold():
            # name_key is the name casefolded when stored; the query, escaped, matches
            # anywhere in it (a backslash before a non-alphanumeric is a literal in PCRE too).
            wanted["name_key"] = {"$regex": re.escape(key)}
        if tag is not None:
            wanted["tags"] = tag
        with _driver_errors():
            cursor = (
                self._communities.find(wanted)
                .sort([("member_count", DESCENDING), ("_id", ASCENDING)])
                .skip(max(offset, 0))
                .limit(limit)
            )
            return [_community(doc) async for doc in cursor]

    async def set_certified(self, community_id: str, certified: bool) -> bool:
        with _driver_errors():
            result = await self._communities.update_one(
                {"_id": community_id}, {"$set": {"certified": certified}}
            )
        return result.matched_count == 1

    async def membership(self, community_id: str, user_id: str) -> MembershipRecord | None:
        with _driver_errors():
            doc = await self._memberships.find_one({"community_id": community_id, "user_id": user_id})
        return _membership(doc) if doc else None

    async def memberships_of(self, user_id: str) -> list[MembershipRecord]:
        with _driver_errors():
            cursor = self._memberships.find({"user_id": user_id}).sort("_id", ASCENDING)
            return [_membership(doc) async for doc in cursor]

    async def add_member(
        self, community_id: str, user_id: str, *, role: str, now_ms: int
    ) -> MembershipRecord | None:
        membership = MembershipRecord(self._ids.new(now_ms), community_id, user_id, role, now_ms)
        with _driver_errors():
            if await self._communities.find_one({"_id": community_id}, {"_id": True}) is None:
                raise NotFound(f"no community {community_id}")
            async with _all_or_nothing() as undo:
                try:
                    await self._memberships.insert_one(
                        {
                            "_id": membership.id,
                            "community_id": community_id,
                            "user_id": user_id,
                            "role": role,
                            "joined_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return None
                undo.add(lambda: self._memberships.delete_one({"_id": membership.id}))
                await self._count_members(community_id, +1, undo)
                request = await self._join_requests.find_one_and_delete(
                    {"community_id": community_id, "user_id": user_id}
                )
                if request is not None:
                    undo.add(lambda: self._join_requests.insert_one(request))
        return membership

    async def _count_members(self, community_id: str, delta: int, undo: _Undo) -> None:
        """``$inc`` the member count by ``delta`` for a membership just inserted or deleted."""
        counted = await self._communities.update_one({"_id": community_id}, {"$inc": {"member_count": delta}})
        if counted.matched_count == 0:
            raise NotFound(f"no community {community_id}")
        undo.add(
            lambda: self._communities.update_one({"_id": community_id}, {"$inc": {"member_count": -delta}})
        )

    async def _remove_membership(self, community_id: str, user_id: str, undo: _Undo) -> bool:
        """Delete the membership and count it, registering how to put both back."""
        doc = await self._memberships.find_one_and_delete({"community_id": community_id, "user_id": user_id})
        if doc is None:
            return False
        undo.add(lambda: self._memberships.insert_one(doc))
        await self._count_members(community_id, -1, undo)
        return True

    async def remove_member(self, community_id: str, user_id: str) -> bool:
        with _driver_errors():
            async with _all_or_nothing() as undo:
                return await self._remove_membership(community_id, user_id, undo)

    async def set_role(self, community_id: str, user_id: str, role: str) -> bool:
        with _driver_errors():
            result = await self._memberships.update_one(
                {"community_id": community_id, "user_id": user_id}, {"$set": {"role": role}}
            )
        return result.matched_count == 1

    async def transfer_ownership(self, community_id: str, from_id: str, to_id: str) -> bool:
        with _driver_errors():
            community = await self._communities.find_one({"_id": community_id}, {"owner_id": True})
            if community is None or community["owner_id"] != from_id:
                return False
            if await self.membership(community_id, to_id) is None:
                return False
            if to_id == from_id:  # the owner stays the owner: nothing to change
                return True
            now_ms = int(time.time() * 1000)
            token = self._ids.new(now_ms)
            async with _all_or_nothing() as undo:
                # The decision: of concurrent transfers of this community one matches, and none
                # while another one's lease is live, so that a transfer by the new owner cannot
                # run between this one's steps.
                moved = await self._communities.update_one(
                    {
                        "_id": community_id,
                        "owner_id": from_id,
                        "$or": [{"transfer": None}, {"transfer.until_ms": {"$lt": now_ms}}],
                    },
                    {
                        "$set": {
                            "owner_id": to_id,
                            "transfer": {"token": token, "until_ms": now_ms + _TRANSFER_LEASE_MS},
                        }
                    },
                )
                if moved.matched_count == 0:
                    return False
                undo.add(
                    lambda: self._communities.update_one(
                        {"_id": community_id, "transfer.token": token},
                        {"$set": {"owner_id": from_id, "transfer": None}},
                    )
                )
                heir = await self._memberships.find_one_and_update(
                    {"community_id": community_id, "user_id": to_id}, {"$set": {"role": "owner"}}
                )
                if heir is None:  # they left or were removed since the check
                    await undo.run()
                    return False
                undo.add(
                    lambda: self._memberships.update_one(
                        {"community_id": community_id, "user_id": to_id, "role": "owner"},
                        {"$set": {"role": heir["role"]}},
                    )
                )
                await self._memberships.update_one(
                    {"community_id": community_id, "user_id": from_id}, {"$set": {"role": "moderator"}}
                )
        # Done: release the lease. Should that fail, it expires and only delays the next transfer.
        try:
            await self._communities.update_one(
                {"_id": community_id, "transfer.token": token}, {"$set": {"transfer": None}}
            )
        except PyMongoError:
            _log.warning(
                "community %s transferred, but its transfer lease stays until it expires", community_id
            )
        return True

    async def members(self, community_id: str, *, after: str | None, limit: int) -> list[MembershipRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, **_after("_id", after)}
        with _driver_errors():
            cursor = self._memberships.find(query).sort("_id", ASCENDING).limit(limit)
            return [_membership(doc) async for doc in cursor]

    async def member_ids(self, community_id: str, *, roles: tuple[str, ...] | None = None) -> list[str]:
        query: Document = {"community_id": community_id}
        if roles is not None:
            query["role"] = {"$in": list(roles)}
        with _driver_errors():
            cursor = self._memberships.find(query, {"user_id": True}).sort("_id", ASCENDING)
            return [doc["user_id"] async for doc in cursor]

    async def add_join_request(self, community_id: str, user_id: str, now_ms: int) -> bool:
        with _driver_errors():
            try:
                await self._join_requests.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "community_id": community_id,
                        "user_id": user_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def remove_join_request(self, community_id: str, user_id: str) -> bool:
        with _driver_errors():
            result = await self._join_requests.delete_one({"community_id": community_id, "user_id": user_id})
        return result.deleted_count == 1

    async def join_requests(self, community_id: str, *, limit: int) -> list[JoinRequestRecord]:
        if limit <= 0:
            return []
        with _driver_errors():
            cursor = (
                self._join_requests.find({"community_id": community_id})
                .sort([("created_ms", ASCENDING), ("_id", ASCENDING)])
                .limit(limit)
            )
            return [
                JoinRequestRecord(doc["community_id"], doc["user_id"], doc["created_ms"])
                async for doc in cursor
            ]

    async def has_join_request(self, community_id: str, user_id: str) -> bool:
        with _driver_errors():
            doc = await self._join_requests.find_one(
                {"community_id": community_id, "user_id": user_id}, {"_id": True}
            )
        return doc is not None

    async def ban(self, community_id: str, user_id: str, *, by: str, now_ms: int) -> bool:
        ban_id = self._ids.new(now_ms)
        with _driver_errors():
            async with _all_or_nothing() as undo:
                try:
                    await self._bans.insert_one(
                        {
                            "_id": ban_id,
                            "community_id": community_id,
                            "user_id": user_id,
                            "by": by,
                            "created_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return False
                undo.add(lambda: self._bans.delete_one({"_id": ban_id}))
                await self._remove_membership(community_id, user_id, undo)
                request = await self._join_requests.find_one_and_delete(
                    {"community_id": community_id, "user_id": user_id}
                )
                if request is not None:
                    undo.add(lambda: self._join_requests.insert_one(request))
        return True

    async def unban(self, community_id: str, user_id: str) -> bool:
        with _driver_errors():
            result = await self._bans.delete_one({"community_id": community_id, "user_id": user_id})
        return result.deleted_count == 1

    async def is_banned(self, community_id: str, user_id: str) -> bool:
        with _driver_errors():
            doc = await self._bans.find_one({"community_id": community_id, "user_id": user_id}, {"_id": True})
        return doc is not None

    # --- conversations -----------------------------------------------------------------------

    async def create_conversation(
        self,
        *,
        kind: str,
        owner_id: str,
        member_ids: list[str],
        title: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord | None]:
        members = list(dict.fromkeys(member_ids))
        if kind != "direct":
            with _driver_errors():
                made = await self._insert_conversation(kind, owner_id, members, title, None, now_ms)
            if made is None:  # pragma: no cover - only a pair_key can be a duplicate
                raise StorageUnavailable("mongodb: a group conversation's key was taken")
            return made
        pair_key = _pair_key(members)
        with _driver_errors():
            for _ in range(_CLAIM_ATTEMPTS):
                # The partial index holds string keys only: the filter says so, as a query must
                # imply a partial index's filter for the planner to use it.
                existing = await self._conversations.find_one(
                    {"pair_key": {"$eq": pair_key, "$type": "string"}}
                )
                if existing is not None:
                    return _conversation(existing), None
                made = await self._insert_conversation(kind, owner_id, members, title, pair_key, now_ms)
                if made is not None:
                    return made
                # Another call made the pair's conversation between the look and the insert:
                # look again (again, should its maker have undone it meanwhile).
        raise StorageUnavailable("mongodb: the pair's conversation kept appearing and vanishing")

    async def _insert_conversation(
        self,
        kind: str,
        owner_id: str,
        members: list[str],
        title: str | None,
        pair_key: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord] | None:
        """Insert the conversation, its members and its "created" message, in that order; None
        (nothing written) if the pair has a conversation already."""
        conversation_id = self._ids.new(now_ms)
        member_docs = [
            {
                "_id": self._ids.new(now_ms),
                "conversation_id": conversation_id,
                "user_id": user_id,
                "joined_ms": now_ms,
                "last_read": None,
            }
            for user_id in members
        ]
        message = MessageRecord(self._ids.new(now_ms), conversation_id, owner_id, "created", "", None, now_ms)
        conversation = ConversationRecord(
            id=conversation_id,
            kind=kind,
            title=title,
            owner_id=owner_id if kind == "group" else None,
            created_ms=now_ms,
            last_message_id=message.id,
        )
        async with _all_or_nothing() as undo:
            try:
                await self._conversations.insert_one(
                    {
                        "_id": conversation.id,
                        "kind": kind,
                        "title": title,
                        "owner_id": conversation.owner_id,
                        "created_ms": now_ms,
                        "last_message_id": message.id,
                        "pair_key": pair_key,
                    }
                )
            except DuplicateKeyError:  # the only unique key but the fresh _id: pair_key
                return None
            undo.add(lambda: self._conversations.delete_one({"_id": conversation_id}))
            undo.add(lambda: self._members.delete_many({"conversation_id": conversation_id}))
            await self._members.insert_many(member_docs)
            await self._insert_message(message, undo)
        return conversation, message

    async def _insert_message(self, message: MessageRecord, undo: _Undo) -> None:
        await self._messages.insert_one(
            {
                "_id": message.id,
                "conversation_id": message.conversation_id,
                "author_id": message.author_id,
                "kind": message.kind,
                "text": message.text,
                "subject_id": message.subject_id,
                "created_ms": message.created_ms,
            }
        )
        undo.add(lambda: self._messages.delete_one({"_id": message.id}))

    async def _make_last(self, conversation_id: str, message_id: str) -> None:
        """Make the message the conversation's last unless a later one is already (``$max``:
        concurrent appends leave the newest). NotFound if there is no such conversation."""
        result = await self._conversations.update_one(
            {"_id": conversation_id}, {"$max": {"last_message_id": message_id}}
        )
        if result.matched_count == 0:
            raise NotFound(f"no conversation {conversation_id}")

    async def _require_conversation(self, conversation_id: str) -> None:
        if await self._conversations.find_one({"_id": conversation_id}, {"_id": True}) is None:
            raise NotFound(f"no conversation {conversation_id}")

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        with _driver_errors():
            doc = await self._conversations.find_one({"_id": conversation_id})
        return _conversation(doc) if doc else None

    async def conversation_members(self, conversation_id: str) -> list[ConversationMemberRecord]:
        with _driver_errors():
            cursor = self._members.find({"conversation_id": conversation_id}).sort("_id", ASCENDING)
            return [_conversation_member(doc) async for doc in cursor]

    async def conversation_member(
        self, conversation_id: str, user_id: str
    ) -> ConversationMemberRecord | None:
        with _driver_errors():
            doc = await self._members.find_one({"conversation_id": conversation_id, "user_id": user_id})
        return _conversation_member(doc) if doc else None

    async def _conversation_ids(self, user_id: str) -> list[str]:
        """The conversations the user is a member of now."""
        cursor = self._members.find({"user_id": user_id}, {"conversation_id": True, "_id": False})
        return [doc["conversation_id"] async for doc in cursor]

    async def conversations_of(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[ConversationRecord]:
        if limit <= 0:
            return []
        with _driver_errors():
            ids = await self._conversation_ids(user_id)
            if not ids:
                return []
            query = {"_id": {"$in": ids}, **_before("last_message_id", before)}
            # Most recently active first; last_message_ids are message ids, unique.
            cursor = self._conversations.find(query).sort("last_message_id", DESCENDING).limit(limit)
            return [_conversation(doc) async for doc in cursor]

    async def add_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
    ) -> MessageRecord:
        with _driver_errors():
            await self._require_conversation(conversation_id)
            message = MessageRecord(
                self._ids.new(now_ms), conversation_id, author_id, kind, text, subject_id, now_ms
            )
            async with _all_or_nothing() as undo:
                await self._insert_message(message, undo)
                await self._make_last(conversation_id, message.id)
        return message

    async def add_conversation_members(
        self, conversation_id: str, user_ids: list[str], *, by: str, now_ms: int
    ) -> list[MessageRecord]:
        added: list[MessageRecord] = []
        with _driver_errors():
            await self._require_conversation(conversation_id)
            async with _all_or_nothing() as undo:
                for user_id in dict.fromkeys(user_ids):
                    member_id = self._ids.new(now_ms)
                    try:
                        await self._members.insert_one(
                            {
                                "_id": member_id,
                                "conversation_id": conversation_id,
                                "user_id": user_id,
                                "joined_ms": now_ms,
                                "last_read": None,
                            }
                        )
                    except DuplicateKeyError:  # a member already
                        continue
                    undo.add(functools.partial(self._members.delete_one, {"_id": member_id}))
                    message = MessageRecord(
                        self._ids.new(now_ms), conversation_id, by, "added", "", user_id, now_ms
                    )
                    await self._insert_message(message, undo)
                    added.append(message)
                if added:
                    await self._make_last(conversation_id, added[-1].id)
        return added

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
        with _driver_errors():
            async with _all_or_nothing() as undo:
                gone = await self._members.find_one_and_delete(
                    {"conversation_id": conversation_id, "user_id": user_id}
                )
                if gone is None:
                    return None
                undo.add(lambda: self._members.insert_one(gone))
                if new_owner_id is not None:
                    before = await self._conversations.find_one_and_update(
                        {"_id": conversation_id}, {"$set": {"owner_id": new_owner_id}}
                    )
                    if before is not None:
                        undo.add(
                            lambda: self._conversations.update_one(
                                {"_id": conversation_id, "owner_id": new_owner_id},
                                {"$set": {"owner_id": before["owner_id"]}},
                            )
                        )
                message = MessageRecord(self._ids.new(now_ms), conversation_id, by, kind, "", user_id, now_ms)
                await self._insert_message(message, undo)
                await self._make_last(conversation_id, message.id)
        return message

    async def messages(self, conversation_id: str, *, before: str | None, limit: int) -> list[MessageRecord]:
        if limit <= 0:
            return []
        query = {"conversation_id": conversation_id, **_before("_id", before)}
        with _driver_errors():
            cursor = self._messages.find(query).sort("_id", DESCENDING).limit(limit)
            return [_message(doc) async for doc in cursor]

    async def direct_stream_after(self, user_id: str, *, after: str, limit: int) -> list[MessageRecord]:
        if limit <= 0:
            return []
        with _driver_errors():
            ids = await self._conversation_ids(user_id)
            if not ids:
                return []
            query = {"conversation_id": {"$in": ids}, "_id": {"$gt": after}}
            cursor = self._messages.find(query).sort("_id", ASCENDING).limit(limit)
            return [_message(doc) async for doc in cursor]

    async def set_last_read(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        with _driver_errors():
            # $max: only forward (null, no marker yet, sorts before every string).
            result = await self._members.update_one(
                {"conversation_id": conversation_id, "user_id": user_id}, {"$max": {"last_read": message_id}}
            )
        return result.modified_count == 1

    async def unread_counts(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        with _driver_errors():
            cursor = self._members.find(
                {"user_id": user_id, "conversation_id": {"$in": list(dict.fromkeys(conversation_ids))}},
                {"conversation_id": True, "last_read": True},
            )
            markers = {doc["conversation_id"]: doc["last_read"] async for doc in cursor}
            if not markers:
                return {}
            unread = dict.fromkeys(markers, 0)
            after_marker = [
                {"conversation_id": conversation_id, **_after("_id", last_read)}
                for conversation_id, last_read in markers.items()
            ]
            groups = await self._messages.aggregate(
                [
                    {"$match": {"$or": after_marker, "kind": "text", "author_id": {"$ne": user_id}}},
                    {"$group": {"_id": "$conversation_id", "unread": {"$sum": 1}}},
                ]
            )
            async for group in groups:
                unread[group["_id"]] = group["unread"]
        return unread

    # --- notifications -----------------------------------------------------------------------

    async def add_notifications(self, new: list[NewNotification], now_ms: int) -> list[NotificationRecord]:
        records = [
            NotificationRecord(
                id=self._ids.new(now_ms),
                user_id=n.user_id,
                kind=n.kind,
                actor_id=n.actor_id,
                post_id=n.post_id,
                community_id=n.community_id,
                emoji=n.emoji,
                created_ms=now_ms,
                read=False,
            )
            for n in new
        ]
        if not records:
            return []
        ids = [r.id for r in records]
        with _driver_errors():
            async with _all_or_nothing() as undo:
                undo.add(lambda: self._notifications.delete_many({"_id": {"$in": ids}}))
                await self._notifications.insert_many(
                    [
                        {
                            "_id": r.id,
                            "user_id": r.user_id,
                            "kind": r.kind,
                            "actor_id": r.actor_id,
                            "post_id": r.post_id,
                            "community_id": r.community_id,
                            "emoji": r.emoji,
                            "created_ms": r.created_ms,
                            "read": False,
                        }
                        for r in records
                    ],
                    ordered=True,
                )
        return records

    async def notifications(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[NotificationRecord]:
        if limit <= 0:
            return []
        query = {"user_id": user_id, **_before("_id", before)}
        with _driver_errors():
            cursor = self._notifications.find(query).sort("_id", DESCENDING).limit(limit)
            return [_notification(doc) async for doc in cursor]

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        if limit <= 0:
            return []
        query = {"user_id": user_id, "_id": {"$gt": after}}
        with _driver_errors():
            cursor = self._notifications.find(query).sort("_id", ASCENDING).limit(limit)
            return [_notification(doc) async for doc in cursor]

    async def unread_notifications(self, user_id: str) -> int:
        with _driver_errors():
            return await self._notifications.count_documents({"user_id": user_id, "read": False})

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        with _driver_errors():
            result = await self._notifications.update_one(
                {"_id": notification_id, "user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
        return result.modified_count == 1

    async def mark_all_notifications_read(self, user_id: str) -> int:
        with _driver_errors():
            result = await self._notifications.update_many(
                {"user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
        return result.modified_count

    # --- blocks, mutes, reports --------------------------------------------------------------

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        block_id = self._ids.new(now_ms)
        unfollowed: list[tuple[str, str]] = []
        with _driver_errors():
            async with _all_or_nothing() as undo:
                try:
                    await self._blocks.insert_one(
                        {
                            "_id": block_id,
                            "blocker_id": blocker_id,
                            "blocked_id": blocked_id,
                            "created_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return BlockOutcome(created=False, unfollowed=[])
                undo.add(lambda: self._blocks.delete_one({"_id": block_id}))
                for follower, followee in ((blocker_id, blocked_id), (blocked_id, blocker_id)):
                    ended = await self._follows.find_one_and_delete(
                        {"follower_id": follower, "followee_id": followee}
                    )
                    if ended is not None:
                        undo.add(functools.partial(self._follows.insert_one, ended))
                        unfollowed.append((follower, followee))
        return BlockOutcome(created=True, unfollowed=unfollowed)

    async def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        with _driver_errors():
            result = await self._blocks.delete_one({"blocker_id": blocker_id, "blocked_id": blocked_id})
        return result.deleted_count == 1

    async def blocked_ids(self, user_id: str) -> list[str]:
        with _driver_errors():
            cursor = self._blocks.find({"blocker_id": user_id}, {"blocked_id": True}).sort(_MOST_RECENT)
            return [doc["blocked_id"] async for doc in cursor]

    async def blocks_between(self, a: str, b: str) -> bool:
        with _driver_errors():
            doc = await self._blocks.find_one(
                {"$or": [{"blocker_id": a, "blocked_id": b}, {"blocker_id": b, "blocked_id": a}]},
                {"_id": True},
            )
        return doc is not None

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        with _driver_errors():
            try:
                await self._mutes.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "user_id": user_id,
                        "target_id": target_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def unmute(self, user_id: str, target_id: str) -> bool:
        with _driver_errors():
            result = await self._mutes.delete_one({"user_id": user_id, "target_id": target_id})
        return result.deleted_count == 1

    async def muted_ids(self, user_id: str) -> list[str]:
        with _driver_errors():
            cursor = self._mutes.find({"user_id": user_id}, {"target_id": True}).sort(_MOST_RECENT)
            return [doc["target_id"] async for doc in cursor]

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        with _driver_errors():
            blocking, muting = await asyncio.gather(
                self._blocks.find_one({"blocker_id": viewer_id, "blocked_id": user_id}, {"_id": True}),
                self._mutes.find_one({"user_id": viewer_id, "target_id": user_id}, {"_id": True}),
            )
        return blocking is not None, muting is not None

    async def hidden_ids(self, user_id: str) -> set[str]:
        with _driver_errors():
            muted, blocked, blockers = await asyncio.gather(
                self._mutes.find({"user_id": user_id}, {"target_id": True}).to_list(),
                self._blocks.find({"blocker_id": user_id}, {"blocked_id": True}).to_list(),
                self._blocks.find({"blocked_id": user_id}, {"blocker_id": True}).to_list(),
            )
        return (
            {doc["target_id"] for doc in muted}
            | {doc["blocked_id"] for doc in blocked}
            | {doc["blocker_id"] for doc in blockers}
        )

    async def create_report(
        self, *, reporter_id: str, post_id: str | None, user_id: str | None, reason: str, now_ms: int
    ) -> ReportRecord:
        report = ReportRecord(self._ids.new(now_ms), reporter_id, post_id, user_id, reason, now_ms, None)
        with _driver_errors():
            await self._reports.insert_one(
                {
                    "_id": report.id,
                    "reporter_id": reporter_id,
                    "post_id": post_id,
                    "user_id": user_id,
                    "reason": reason,
                    "created_ms": now_ms,
                    "resolved_ms": None,
                }
            )
        return report

    async def reports(self, *, open_only: bool, limit: int) -> list[ReportRecord]:
        if limit <= 0:
            return []
        query: Document = {"resolved_ms": None} if open_only else {}
        with _driver_errors():
            cursor = self._reports.find(query).sort("_id", DESCENDING).limit(limit)
            return [_report(doc) async for doc in cursor]

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        with _driver_errors():
            result = await self._reports.update_one(
                {"_id": report_id, "resolved_ms": None}, {"$set": {"resolved_ms": now_ms}}
            )
        return result.modified_count == 1


async def check(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: reachable, server version, schema version, every index present.
    Reads only: unlike :meth:`MongoStorage.open` it creates nothing."""
    url = settings.mongodb_url
    client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
    try:
        db = client.get_default_database(default=settings.mongodb_database)
        try:
            info = await client.server_info()
            meta = await db["meta"].find_one({"_id": "schema"})
            present = {
                name: {_shape(index) async for index in await db[name].list_indexes()} for name in INDEXES
            }
        except PyMongoError as exc:
            return Finding(
                "storage", False, f"MongoDB at {url} does not answer ({exc}): is it running and reachable?"
            )
        version = meta.get("version") if meta else None
        if version is None:
            return Finding(
                "storage", False, f"database {db.name!r} has no schema yet: start `tsudoi serve` once"
            )
        if version != SCHEMA_VERSION:
            return Finding(
                "storage",
                False,
                f"database {db.name!r} is at schema {version}, this Tsudoi expects {SCHEMA_VERSION}",
            )
        # Compared by key pattern and uniqueness, not by name: an equivalent index an operator
        # made under another name serves as well.
        missing = [
            f"{name}.{model.document['name']}"
            for name, models in INDEXES.items()
            for model in models
            if _shape(model.document) not in present[name]
        ]
        if missing:
            return Finding(
                "storage", False, f"indexes missing: {', '.join(missing)}: restart a node to create them"
            )
        count = sum(len(models) for models in INDEXES.values())
        return Finding(
            "storage",
            True,
            f"MongoDB {info.get('version', '?')} at {url}, database {db.name!r}, schema {version}, {count} indexes",
        )
    finally:
        await client.close()


def _shape(index: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two index definitions equivalent here: the keys in order, uniqueness, and
    the partial filter (a unique index without it would refuse a second group conversation)."""
    keys = tuple((str(field), direction) for field, direction in index["key"].items())
    return keys, bool(index.get("unique")), _frozen(index.get("partialFilterExpression"))


def _frozen(value: Any) -> Any:
    """A hashable copy of a (nested) filter document, for comparing index definitions."""
    if isinstance(value, Mapping):
        return tuple((str(key), _frozen(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value
