"""The MongoDB adapter's database: the client and its options, the collections, the indexes
and the schema version; applied by :meth:`Database.open`, read back by :func:`check` for
``tsudoi doctor``. Why the indexes and write options are what they are is told under
"Indexes" and "Durability" in :mod:`server.store.mongo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any, ClassVar, Final, Self
from urllib.parse import parse_qsl, urlsplit

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from protocol.text import hashtags

from ...config import Settings, redact_url
from ...health import Finding
from ...ids import IdGenerator
from ..base import StorageError, StorageUnavailable, token_hash
from ..records import INVITE_PREFIX_LENGTH
from .driver import Document, driver_errors

#: The version of the collections' layout and of :data:`INDEXES`; bump it with any change.
#: 1: users, invites, sessions, follows, posts. 2: communities, conversations, reactions,
#: notifications, blocks, mutes, reports, and the posts' community indexes. 3: safety statuses
#: and incidents (and the users' presence_visibility and last_seen_ms, which need no index).
#: 4: webhooks and server keys (read by _id, or the whole small webhooks collection: no index).
#: 5: the clients' nonces of posts and messages (idempotent post.create and dm.send), each a
#: unique index over the documents that have one. 6: announcements stored once for a community's
#: members (community_notifications), and each member's read state of them (notification_reads;
#: notification_marks, read by _id: no index). 7: invites keyed by the hash of their code
#: (:func:`invite_key`) with the code's first characters in ``code_prefix``; plain codes of
#: earlier versions are hashed when a node opens the database (:meth:`Database._hash_invite_codes`).
#: 8: uploaded pictures (``media``, three partial indexes), the users' bio, interests and
#: avatar, the posts' and messages' ``media`` arrays (documents of before read as without).
#: 9: the follows' newest-first indexes (followers_page, following_page), the posts' indexes of
#: standing reposts and quotes (share_counts), and reports' ``category`` (absent reads as none).
#: 10: the posts' ``tags`` (their normalised hashtags) with the multikey index ``by_tag``; posts
#: stored before are given theirs when a node of schema 10 first opens the database
#: (:meth:`Database._tag_posts`).
#: 11: search (:mod:`.search`): the posts' ``search_text`` and ``search_grams`` under the multikey
#: index ``search_grams``, the users' ``name_key``; older documents are given them at open.
#: 12: the sessions' ``device`` and ``last_used_ms`` (absent reads as "" and None) and the
#: ordering index ``by_user_newest`` of the signed-in sessions list.
#: 13: Web Push (:mod:`.push`): ``push_subscriptions`` (unique ``endpoint``, by user, by
#: session), ``push_preferences`` (by _id), ``push_queue`` (by priority then _id) and
#: ``push_leases`` (by _id).
#: 14: ``pages``, the operator's pages by name (the "during a disaster" page), read by ``_id``:
#: no index.
#: 15: handle changes: users' ``handle_changed_ms`` (absent: never changed) and the
#: ``former_handles`` collection (read by ``_id``, the lower-cased former handle); unfinished
#: account deletions, users' ``deletion_lease_ms`` under the partial index
#: ``unfinished_deletions``; tombstones of before are marked unfinished once, at the first open.
SCHEMA_VERSION: Final = 15


#: Posts given their hashtags per round trip when schema 10 first opens a database.
TAG_BATCH: Final = 1000

#: The quota document of invites made without an inviter (26-character ids never equal it).
BOOTSTRAP_QUOTA: Final = "(bootstrap)"


def invite_key(code: str) -> str:
    """An invite document's ``_id``: the hex SHA-256 of its code (:func:`token_hash`). Hex, not
    binary, so that the invite is found by ``_id`` equality on every server (the tests' stand-in
    finds nothing by a binary value); a plain code (22 characters) never looks like one."""
    return token_hash(code).hex()


def _unique(keys: list[tuple[str, int]], name: str) -> IndexModel:
    return IndexModel(keys, unique=True, name=name)


#: Every index, per collection: the one place they are declared.
INDEXES: Final[Mapping[str, list[IndexModel]]] = {
    "users": [
        IndexModel([("handle_key", ASCENDING)], unique=True, name="handle_key_unique"),
        # The invite tree, kept for moderation.
        IndexModel([("invited_by", ASCENDING)], name="by_inviter"),
        # claim_deletion: the few users whose deletion is unfinished, and only they.
        IndexModel(
            [("deletion_lease_ms", ASCENDING)],
            name="unfinished_deletions",
            partialFilterExpression={"deletion_lease_ms": {"$exists": True}},
        ),
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
        # revoke_user_sessions.
        IndexModel([("user_id", ASCENDING)], name="by_user"),
        # list_sessions: one user's sessions, newest first.
        IndexModel([("user_id", ASCENDING), ("_id", DESCENDING)], name="by_user_newest"),
    ],
    "follows": [
        # One per pair: follow's answer. Its prefix serves followee_ids; both steps of
        # friend_ids read it alone (covered): the user's followees, then which of them follow
        # back, as point lookups (follower_id $in [...], followee_id = user).
        IndexModel([("follower_id", ASCENDING), ("followee_id", ASCENDING)], unique=True, name="pair_unique"),
        # follower_ids, follow_counts.
        IndexModel([("followee_id", ASCENDING)], name="by_followee"),
        # followers_page and following_page: one user's edges, most recent follow first.
        IndexModel(
            [("followee_id", ASCENDING), ("created_ms", DESCENDING), ("follower_id", DESCENDING)],
            name="by_followee_newest",
        ),
        IndexModel(
            [("follower_id", ASCENDING), ("created_ms", DESCENDING), ("followee_id", DESCENDING)],
            name="by_follower_newest",
        ),
    ],
    "posts": [
        # Creations in the following stream and timeline: author_id $in [...], sorted by _id;
        # posts_by_author_after; user_timeline (one author, newest first).
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
        # share_counts: the standing replies, reposts and quotes of a page of posts.
        IndexModel([("reply_to", ASCENDING), ("deleted_pos", ASCENDING)], name="by_parent_standing"),
        IndexModel([("repost_of", ASCENDING), ("deleted_pos", ASCENDING)], name="by_original_standing"),
        IndexModel([("quote_of", ASCENDING), ("deleted_pos", ASCENDING)], name="by_quoted_standing"),
        # One post per (author, client nonce): create_post's answer to a retried post.create,
        # however many arrive at once; post_by_nonce. Posts without a nonce (null) are left out.
        IndexModel(
            [("author_id", ASCENDING), ("nonce", ASCENDING)],
            unique=True,
            partialFilterExpression={"nonce": {"$type": "string"}},
            name="nonce_unique",
        ),
        # tag_timeline: one hashtag's posts newest first (tags is an array: a multikey index).
        IndexModel([("tags", ASCENDING), ("_id", DESCENDING)], name="by_tag"),
        # discover_candidates walks the built-in _id index newest first (ids are time-ordered).
        # search_posts: the posts holding one gram (multikey), newest first (search.py).
        IndexModel([("search_grams", ASCENDING), ("_id", DESCENDING)], name="search_grams"),
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
        # memberships_of, memberships_page, and the communities of a user's circle.
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
        # revoke_user_sessions.
        IndexModel([("user_id", ASCENDING)], name="by_user"),
        # list_sessions: one user's sessions, newest first.
        IndexModel([("user_id", ASCENDING), ("_id", DESCENDING)], name="by_user_newest"),
    ],
    "messages": [
        # messages (newest first), direct_stream_after (conversation_id $in, by id),
        # unread_counts (by id after a read marker).
        IndexModel([("conversation_id", ASCENDING), ("_id", ASCENDING)], name="by_conversation"),
        # One message per (conversation, author, client nonce): add_message's answer to a
        # retried dm.send; message_by_nonce. Messages without a nonce (null) are left out.
        IndexModel(
            [("conversation_id", ASCENDING), ("author_id", ASCENDING), ("nonce", ASCENDING)],
            unique=True,
            partialFilterExpression={"nonce": {"$type": "string"}},
            name="nonce_unique",
        ),
    ],
    "notifications": [
        # notifications (newest first) and notifications_after (the notification stream).
        IndexModel([("user_id", ASCENDING), ("_id", ASCENDING)], name="by_user"),
        # unread_notifications, mark_all_notifications_read.
        IndexModel([("user_id", ASCENDING), ("read", ASCENDING)], name="by_user_read"),
    ],
    "community_notifications": [
        # The announcements a user is notified of (notifications, notifications_after,
        # unread_notifications, mark_notification_read, mark_all_notifications_read): an $or
        # with one branch per community of theirs, each one range of _id (after their
        # membership, their mark, a page's cursor) read in order, the branches merged by _id.
        # mark_all_notifications_read's newest announcement walks the built-in _id index.
        IndexModel([("community_id", ASCENDING), ("_id", ASCENDING)], name="by_community"),
    ],
    "notification_reads": [
        # One per (user, announcement): mark_notification_read's answer. Its prefix serves the
        # reads: a user's (unread_notifications), those of a page's announcements
        # (notification_id $in), those a new mark covers (deleted by mark_all_notifications_read).
        _unique([("user_id", ASCENDING), ("notification_id", ASCENDING)], "user_notification_unique"),
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
    "safety_statuses": [
        # latest_safety: user_id $in [...] sorted by (user_id, _id desc) and grouped by user
        # with $first, an index order MongoDB can read without sorting, and may answer with
        # one seek per user (its $sort + $group $first optimisation, a DISTINCT_SCAN).
        IndexModel([("user_id", ASCENDING), ("_id", DESCENDING)], name="by_user_newest"),
        # safety_history: one user's statuses for some audiences ($in), newest first; one
        # range per audience, merged in _id order.
        IndexModel(
            [("user_id", ASCENDING), ("audience", ASCENDING), ("_id", ASCENDING)], name="by_user_audience"
        ),
    ],
    "media": [
        # The first two leave out the attached pictures, most records for good: a record is
        # waiting or detached (subject null) exactly when its expires_ms is a number (see
        # MediaRecord). Said with $type, the form of the adapter's other partial indexes
        # (nonce_unique, pair_key_unique), which the queries restate (media.py waiting()).
        # add_media's bound: an owner's waiting uploads unexpired at a time.
        IndexModel(
            [("owner_id", ASCENDING), ("expires_ms", ASCENDING)],
            partialFilterExpression={"expires_ms": {"$type": "number"}},
            name="waiting_by_owner",
        ),
        # expired_media: the collector's walk, earliest first, ties by id; one index range
        # read in order up to the limit, however many a mass deletion left to collect.
        IndexModel(
            [("expires_ms", ASCENDING), ("_id", ASCENDING)],
            partialFilterExpression={"expires_ms": {"$type": "number"}},
            name="waiting_by_expiry",
        ),
        # detach_media (a deleted post's pictures); the attached ones only.
        IndexModel(
            [("subject", ASCENDING)],
            partialFilterExpression={"subject": {"$type": "string"}},
            name="by_subject",
        ),
    ],
    "push_subscriptions": [
        # One account per endpoint: save_push_subscription's answer.
        _unique([("endpoint", ASCENDING)], "endpoint_unique"),
        # push_subscriptions (a person's devices at fan-out), save_push_subscription's bound.
        IndexModel([("user_id", ASCENDING)], name="by_user"),
        # The session revocations' deletes.
        IndexModel([("session_id", ASCENDING)], name="by_session"),
    ],
    "push_queue": [
        # due_pushes: the sender's next page, most urgent first (due_ms filtered within).
        IndexModel([("priority", ASCENDING), ("_id", ASCENDING)], name="by_priority"),
    ],
    "incidents": [
        # At most one active incident: only the active one has the field (``active: true``),
        # so a second insert of ``active: true`` is a duplicate key. The partial filter leaves
        # the ended ones out (a plain unique index would count their missing field as one
        # null, and allow one ended incident). Also active_incident's read.
        IndexModel(
            [("active", ASCENDING)],
            unique=True,
            partialFilterExpression={"active": True},
            name="one_active",
        ),
    ],
}


def orders_only(model: IndexModel) -> bool:
    """Whether an index of :data:`INDEXES` only serves the order of reads: not unique, with
    ``_id`` among its keys (the ``(field, _id)`` indexes that make a page one index range).

    Such an index changes how fast a read is, never what it returns, nor what a write may do:
    unique indexes do (they decide concurrent writers, see "Single-document operations" in
    :mod:`server.store.mongo`) and are never counted here.
    """
    keys = model.document["key"]
    return not model.document.get("unique", False) and "_id" in keys


#: Options the adapter needs unless the URL sets them (a keyword would override the URL).
_CLIENT_DEFAULTS: Final[Mapping[str, Any]] = {
    "serverSelectionTimeoutMS": 5000,
    "w": "majority",
    "journal": True,
}


def _client_options(url: str) -> dict[str, Any]:
    """The defaults of :data:`_CLIENT_DEFAULTS` that the URL does not set itself."""
    given = {key.lower() for key, _ in parse_qsl(urlsplit(url).query)}
    if "j" in given:  # the URL's other spelling of "journal"
        given.add("journal")
    return {key: value for key, value in _CLIENT_DEFAULTS.items() if key.lower() not in given}


class Database:
    """One MongoDB database: its client, its collections, and the id generator every id of the
    adapter comes from. Each area of the port (:mod:`.accounts`, :mod:`.posts`...) extends it
    and :class:`~server.store.mongo.MongoStorage` combines them. Build with :meth:`open`."""

    #: The indexes :meth:`open` creates: every one of :data:`INDEXES`. A test-only seam: the
    #: tests' adapter on the nx-27017 stand-in (tests/support/mongo.py) leaves out the indexes
    #: that only order reads (:func:`orders_only`), because the stand-in cannot insert into a
    #: collection with a compound index that includes ``_id``. Those indexes change speed, never
    #: results, so the contract suite still judges every result; the unique indexes stay, as
    #: they carry meaning. No production code overrides this; ``tsudoi doctor`` checks the whole
    #: of :data:`INDEXES` whatever it says, and a strict-xfail test on the stand-in (which passes
    #: on a real server) checks that :meth:`open` creates every declared index.
    created_indexes: ClassVar[Mapping[str, list[IndexModel]]] = INDEXES

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
        self._community_notifications: AsyncCollection[Document] = db["community_notifications"]
        self._notification_reads: AsyncCollection[Document] = db["notification_reads"]
        self._notification_marks: AsyncCollection[Document] = db["notification_marks"]
        self._blocks: AsyncCollection[Document] = db["blocks"]
        self._mutes: AsyncCollection[Document] = db["mutes"]
        self._reports: AsyncCollection[Document] = db["reports"]
        self._safety: AsyncCollection[Document] = db["safety_statuses"]
        self._incidents: AsyncCollection[Document] = db["incidents"]
        self._webhooks: AsyncCollection[Document] = db["webhooks"]
        self._server_keys: AsyncCollection[Document] = db["server_keys"]
        self._pages: AsyncCollection[Document] = db["pages"]
        self._signals: AsyncCollection[Document] = db["signals"]
        self._media: AsyncCollection[Document] = db["media"]
        self._push_subscriptions: AsyncCollection[Document] = db["push_subscriptions"]
        self._push_preferences: AsyncCollection[Document] = db["push_preferences"]
        self._push_queue: AsyncCollection[Document] = db["push_queue"]
        self._push_leases: AsyncCollection[Document] = db["push_leases"]
        self._meta: AsyncCollection[Document] = db["meta"]
        self._former_handles: AsyncCollection[Document] = db["former_handles"]

    @classmethod
    async def open(cls, url: str, *, database: str) -> Self:
        """Connect, check the server answers, create the indexes and record the schema version.

        ``database`` is used when the URL names no database of its own.
        """
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
        except (PyMongoError, ValueError) as exc:  # a malformed URL or option
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
        with driver_errors():
            meta = await self._meta.find_one({"_id": "schema"})
            stored = int(meta["version"]) if meta else 0
            if stored > SCHEMA_VERSION:
                raise StorageError(
                    f"the database is at schema version {stored}; this server knows up to {SCHEMA_VERSION}"
                )
            for name, models in self.created_indexes.items():
                if models:
                    await self._db[name].create_indexes(models)
            await self._hash_invite_codes()
            if stored < 10:
                await self._tag_posts()
            if stored < 15:
                # Tombstones of before may have been left half-way: their steps run again.
                await self._users.update_many(
                    {"deleted": True, "deletion_lease_ms": {"$exists": False}},
                    {"$set": {"deletion_lease_ms": 0}},
                )
            # Imported here: search.py builds on this module.
            from .search import index_old_documents

            await index_old_documents(self._users, self._posts)
            await self._meta.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)

    async def _hash_invite_codes(self) -> None:
        """Replace every invite stored under its plain code (schema 6 and before) by the same
        invite under :func:`invite_key`, and its inviter's quota slot likewise, so that old
        codes keep working. Idempotent and safe to interrupt: hashed invites have a
        ``code_prefix`` and are left alone; the new document is written before the old one is
        deleted, and a second run finishes what a killed one began. Runs at every open (it
        reads only invites without ``code_prefix``), so a node of an older version that made
        plain invites meanwhile is caught up at the next start."""
        async for doc in self._invites.find({"code_prefix": {"$exists": False}}):
            code = doc["_id"]
            if not isinstance(code, str):
                continue
            key = invite_key(code)
            hashed = {**doc, "_id": key, "code_prefix": code[:INVITE_PREFIX_LENGTH]}
            with suppress(DuplicateKeyError):  # written by an interrupted run, or another node
                await self._invites.insert_one(hashed)
            # The slot the invite holds in its inviter's quota, if any, follows it: the new one
            # first, so that an interruption leaves the limit stricter for a while, never looser.
            quota = doc["inviter_id"] if doc["inviter_id"] is not None else BOOTSTRAP_QUOTA
            if await self._quotas.find_one({"_id": quota, "open.code": code}) is not None:
                await self._quotas.update_one(
                    {"_id": quota, "open.code": {"$ne": key}},
                    {"$push": {"open": {"code": key, "expires_ms": doc["expires_ms"]}}},
                )
                await self._quotas.update_one({"_id": quota}, {"$pull": {"open": {"code": code}}})
            await self._invites.delete_one({"_id": code})

    async def _tag_posts(self) -> None:
        """Give every post stored without ``tags`` (before schema 10) its hashtags, by the
        grammar new posts are tagged by (``protocol.text.hashtags``). Idempotent, and safe to
        interrupt: it reads only posts without the field, and the schema version is recorded
        after it. Only a text with a ``#`` or ``＃`` can hold a tag; the others get ``[]``
        in one update."""
        untagged = {"tags": {"$exists": False}}
        batch: list[UpdateOne] = []
        async for doc in self._posts.find({**untagged, "text": {"$regex": "[#＃]"}}, {"text": True}):
            batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"tags": hashtags(doc["text"])}}))
            if len(batch) == TAG_BATCH:  # one round trip per batch, not per post
                await self._posts.bulk_write(batch, ordered=False)
                batch = []
        if batch:
            await self._posts.bulk_write(batch, ordered=False)
        await self._posts.update_many(untagged, {"$set": {"tags": []}})

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        with driver_errors():
            await self._db.command("ping")


async def schema_version(settings: Settings) -> tuple[str, int | None]:
    """The configured database's name and the schema version recorded in it, None if it has
    none (no node ever started on it: a mistyped database name, say). Reads only;
    StorageUnavailable if the server does not answer."""
    url = settings.mongodb_url
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
    except (PyMongoError, ValueError) as exc:
        raise StorageUnavailable(f"mongodb: {exc}") from exc
    try:
        with driver_errors():
            db = client.get_default_database(default=settings.mongodb_database)
            meta = await db["meta"].find_one({"_id": "schema"})
    finally:
        await client.close()
    return db.name, int(meta["version"]) if meta else None


async def check(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: reachable, server version, schema version, every index present.
    Reads only: unlike :meth:`MongoStorage.open` it creates nothing."""
    url = settings.mongodb_url
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
    except (PyMongoError, ValueError) as exc:  # Settings.validate refuses most of these first
        return Finding("storage", False, f"TSUDOI_MONGODB_URL is malformed: {exc}")
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
                "storage",
                False,
                f"MongoDB at {redact_url(url)} does not answer ({exc}): is it running and reachable?",
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
            f"MongoDB {info.get('version', '?')} at {redact_url(url)}, database {db.name!r}, schema {version}, {count} indexes",
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
