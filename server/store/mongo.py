"""Storage on MongoDB, through PyMongo's asyncio driver (:class:`pymongo.AsyncMongoClient`).

Same contract and same ids as the SQLite adapter (:mod:`server.store.base` is the contract):
every persisted item's id comes from :class:`server.ids.IdGenerator` and is the ``_id`` string
of its document (an invite's id is its code).

Collections
    ``users``, ``invites``, ``sessions``, ``follows``, ``posts``, ``meta`` (the schema version
    document ``{_id: "schema", version: N}``) and ``invite_quotas`` (one document per inviter
    listing the invites that still hold one of the inviter's slots, see below). Optional fields
    are stored explicitly as ``null`` and matched with ``{field: None}``, MongoDB's idiom for
    "null or missing"; booleans are BSON booleans, token hashes BSON binary.

Indexes
    Declared once, in :data:`INDEXES`, and covered by :data:`SCHEMA_VERSION`. :meth:`open`
    creates them every time it runs (``createIndexes`` is a no-op for an index that exists
    with the same definition, and this brings back one an operator dropped), then raises the
    version recorded in ``meta`` with ``$max``, so processes starting together agree. A
    database recorded at a newer version than this code knows is refused. Changing an index
    means changing :data:`INDEXES` *and* bumping :data:`SCHEMA_VERSION`.

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
    claimed only if ``used_by`` is null and it has not expired. Uniqueness (handles, case
    folded into ``handle_key``; follows; token hashes) is enforced by unique indexes, and a
    duplicate key is the answer (HandleTaken, "already following").

Multi-document operations, without transactions
    Multi-document transactions need a replica set and do not, on their own, stop two
    concurrent "count, then insert" transactions from both succeeding (snapshot isolation
    allows that write skew unless both write one common document). The two operations that
    span documents are therefore built from single-document atomic steps ordered so that a
    concurrent caller can never get past a check it should fail, and so that a failure part
    way is undone, or, where undoing is impossible (the database went away), leaves only a
    conservative remnant that expires on its own. This works the same on a standalone
    server, a replica set and a sharded cluster.

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

Ordering
    Ids are time-ordered and strictly increase within one process (one IdGenerator per
    storage). Several server processes on one database each have their own generator, so
    their ids interleave by time only; exactly as with several SQLite processes.
    ``list_invites`` sorts by ``created_ms`` then ``seq`` (an id taken when the invite is
    made), so invites of one millisecond come out last made first.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..config import Settings
from ..doctor import Finding
from ..ids import IdGenerator
from .base import (
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    NewUser,
    PostRecord,
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
SCHEMA_VERSION: Final = 1

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
        # Creations in the following stream and timeline: author_id $in [...], sorted by _id.
        IndexModel([("author_id", ASCENDING), ("_id", ASCENDING)], name="by_author"),
        # Deletions in the following stream: author_id $in [...], sorted by deleted_pos.
        IndexModel([("author_id", ASCENDING), ("deleted_pos", ASCENDING)], name="by_author_deletion"),
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
#: How often create_user re-claims an invite that was released while it looked at it.
_CLAIM_ATTEMPTS: Final = 5


@contextmanager
def _driver_errors() -> Iterator[None]:
    """Raise any driver error left unhandled inside as StorageUnavailable."""
    try:
        yield
    except PyMongoError as exc:
        raise StorageUnavailable(f"mongodb: {exc}") from exc


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
    ) -> PostRecord:
        post = PostRecord(self._ids.new(now_ms), author_id, text, emotext, reply_to, now_ms, None)
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
                }
            )
        return post

    async def get_post(self, post_id: str) -> PostRecord | None:
        with _driver_errors():
            doc = await self._posts.find_one({"_id": post_id})
        return _post(doc) if doc else None

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
        with _driver_errors():
            cursor = (
                self._posts.find({"author_id": author_id, "_id": {"$gt": after}, "deleted_pos": None})
                .sort("_id", ASCENDING)
                .limit(limit)
            )
            return [_post(doc) async for doc in cursor]

    async def _authors(self, user_id: str) -> list[str]:
        """The authors on a user's following stream: everyone they follow, and themselves."""
        return [*await self.followee_ids(user_id), user_id]

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        authors = await self._authors(user_id)
        query: Document = {"author_id": {"$in": authors}, "deleted_pos": None}
        if before is not None:
            query["_id"] = {"$lt": before}
        with _driver_errors():
            cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
            return [_post(doc) async for doc in cursor]

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        if limit <= 0:
            return []
        authors = await self._authors(user_id)
        # Creations after the cursor still standing, and deletions after the cursor of posts
        # made at or before it: each query sorted by its position and limited, so the first
        # ``limit`` of their merge are the first ``limit`` of the stream.
        created = (
            self._posts.find({"author_id": {"$in": authors}, "_id": {"$gt": after}, "deleted_pos": None})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        deleted = (
            self._posts.find(
                {"author_id": {"$in": authors}, "deleted_pos": {"$gt": after}, "_id": {"$lte": after}}
            )
            .sort("deleted_pos", ASCENDING)
            .limit(limit)
        )
        with _driver_errors():
            creations, deletions = await asyncio.gather(created.to_list(), deleted.to_list())
        items = [StreamItem(doc["_id"], _post(doc), False) for doc in creations]
        items += [StreamItem(doc["deleted_pos"], _post(doc), True) for doc in deletions]
        items.sort(key=lambda item: item.pos)
        return items[:limit]


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


def _shape(index: Mapping[str, Any]) -> tuple[tuple[tuple[str, Any], ...], bool]:
    """What makes two index definitions equivalent here: the keys in order, and uniqueness."""
    return tuple((str(field), direction) for field, direction in index["key"].items()), bool(
        index.get("unique")
    )
