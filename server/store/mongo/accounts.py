"""Users, invites and sessions on MongoDB: :class:`AccountStore`, one part of
:class:`~server.store.mongo.MongoStorage`.

How ``create_user`` and ``create_invite`` decide between concurrent callers without
transactions, and what a process killed between their steps leaves, is told in
:mod:`server.store.mongo`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, PyMongoError

from ...search import fold
from ..base import (
    HandleChangedRecently,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    IssuedInvite,
    NewUser,
    NotFound,
    SessionRecord,
    UserRecord,
    new_invite_code,
    token_hash,
)
from ..records import INVITE_PREFIX_LENGTH
from .database import BOOTSTRAP_QUOTA, Database, invite_key
from .driver import CLAIM_ATTEMPTS, IN_CHUNK, NULL, Document, all_or_nothing, driver_errors
from .media import claim
from .records import invite_record, session_record, user_record

_log = logging.getLogger(__name__)


class AccountStore(Database):
    """Users and the invites that make them, and their sessions."""

    # --- users and invites -----------------------------------------------------------------

    async def count_users(self) -> int:
        with driver_errors():
            return await self._users.count_documents({})

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> IssuedInvite:
        code = new_invite_code()
        invite = IssuedInvite(
            code_hash=token_hash(code),
            code_prefix=code[:INVITE_PREFIX_LENGTH],
            inviter_id=inviter_id,
            created_ms=now_ms,
            expires_ms=now_ms + ttl_ms,
            used_by=None,
            used_ms=None,
            grants_operator=grants_operator,
            code=code,
        )
        key = invite_key(code)
        quota = inviter_id if inviter_id is not None else BOOTSTRAP_QUOTA
        slot = {"code": key, "expires_ms": invite.expires_ms}
        with driver_errors():
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
                        "_id": key,
                        "code_prefix": invite.code_prefix,
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
                    await self._quotas.update_one({"_id": quota}, {"$pull": {"open": {"code": key}}})
                raise
        return invite

    async def get_invite(self, code: str) -> InviteRecord | None:
        with driver_errors():
            doc = await self._invites.find_one({"_id": invite_key(code)})
        return invite_record(doc) if doc else None

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[InviteRecord]:
        if limit <= 0:
            return []
        with driver_errors():
            cursor = (
                self._invites.find({"inviter_id": inviter_id})
                .sort([("created_ms", DESCENDING), ("seq", DESCENDING)])
                .limit(limit)
            )
            return [invite_record(doc) async for doc in cursor]

    async def create_user(self, new: NewUser, *, invite_code: str, now_ms: int) -> UserRecord:
        user_id = self._ids.new(now_ms)
        key = invite_key(invite_code)
        with driver_errors():
            invite = await self._claim_invite(key, user_id, now_ms)
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
                bot=new.bot,
            )
            try:
                await self._users.insert_one(
                    {
                        "_id": user.id,
                        "handle": user.handle,
                        "handle_key": user.handle.lower(),
                        "display_name": user.display_name,
                        "name_key": fold(user.display_name),
                        "password_hash": user.password_hash,
                        "birth_date": user.birth_date,
                        "terms_accepted_ms": now_ms,
                        "created_ms": now_ms,
                        "invited_by": user.invited_by,
                        "operator": user.operator,
                        "verified": False,
                        "bot": user.bot,
                        "dm_policy": user.dm_policy,
                        "presence_visibility": user.presence_visibility,
                        "last_seen_ms": None,
                        "bio": user.bio,
                        "interests": list(user.interests),
                        "avatar_id": None,
                        "avatar_placeholder": None,
                    }
                )
            except DuplicateKeyError as exc:  # the only unique key but the fresh _id: handle_key
                await self._release_invite(key, user_id)
                raise HandleTaken from exc
            except BaseException:
                # Not known whether the user was written: take it back, then the claim.
                with suppress(PyMongoError):
                    await self._users.delete_one({"_id": user_id})
                    await self._release_invite(key, user_id)
                raise
            # A former handle of another account, checked after the insert (see change_handle).
            if await self._former_handles.find_one({"_id": user.handle.lower()}) is not None:
                with suppress(PyMongoError):
                    await self._users.delete_one({"_id": user_id})
                    await self._release_invite(key, user_id)
                raise HandleTaken
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
                        await self._release_invite(key, user_id)
                    raise
        # The user stands; a slot left held here only expires later (see the package docstring).
        quota = invite.inviter_id if invite.inviter_id is not None else BOOTSTRAP_QUOTA
        try:
            await self._quotas.update_one({"_id": quota}, {"$pull": {"open": {"code": key}}})
        except PyMongoError:  # named by its prefix: the code itself goes in no log
            _log.warning(
                "invite %s… used, but its quota slot stays held until it expires", invite.code_prefix
            )
        return user

    async def _claim_invite(self, key: str, user_id: str, now_ms: int) -> InviteRecord:
        """Mark the invite whose ``_id`` is ``key`` (:func:`invite_key`) used by ``user_id`` if
        it is unused and unexpired, atomically."""
        for _ in range(CLAIM_ATTEMPTS):
            claimed = await self._invites.find_one_and_update(
                {"_id": key, "used_by": NULL, "expires_ms": {"$gt": now_ms}},
                {"$set": {"used_by": user_id, "used_ms": now_ms}},
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None:
                return invite_record(claimed)
            doc = await self._invites.find_one({"_id": key})
            if doc is None:
                raise InviteNotFound
            if doc["used_by"] is not None:
                raise InviteUsed
            if doc["expires_ms"] <= now_ms:
                raise InviteExpired
            # Unused and unexpired now: a claim was released meanwhile (HandleTaken). Again.
        raise InviteUsed

    async def _release_invite(self, key: str, user_id: str) -> None:
        """Undo :meth:`_claim_invite`, if the claim is still ours."""
        await self._invites.update_one(
            {"_id": key, "used_by": user_id}, {"$set": {"used_by": None, "used_ms": None}}
        )

    async def get_user(self, user_id: str) -> UserRecord | None:
        with driver_errors():
            doc = await self._users.find_one({"_id": user_id})
        return user_record(doc) if doc else None

    async def get_user_by_handle(self, handle: str) -> UserRecord | None:
        key = handle.lower()
        with driver_errors():
            doc = await self._users.find_one({"handle_key": key})
            if doc is None:
                former = await self._former_handles.find_one({"_id": key})
                doc = await self._users.find_one({"_id": former["user_id"]}) if former else None
        return user_record(doc) if doc else None

    async def change_handle(
        self, user_id: str, handle: str, *, now_ms: int, changed_before_ms: int
    ) -> UserRecord:
        """Without transactions, in an order that keeps a handle one account's (see the package
        docstring, "Handles"): the old handle is recorded as a former one *before* the user's
        ``handle_key`` leaves it, and the new one is checked against former handles *after* the
        unique ``handle_key`` has taken it, as ``create_user`` checks after its insert. So of a
        sign-up (or change) to a handle and a change away from it, whichever writes second sees
        the other's write, and a loser takes its own write back."""
        key = handle.lower()
        not_recent = {
            "$or": [{"handle_changed_ms": NULL}, {"handle_changed_ms": {"$lte": changed_before_ms}}]
        }
        with driver_errors():
            doc = await self._users.find_one({"_id": user_id})
            if doc is None or doc.get("deleted"):
                raise NotFound
            old_key, old_handle = doc["handle_key"], doc["handle"]
            changed = doc.get("handle_changed_ms")
            if changed is not None and changed > changed_before_ms:
                raise HandleChangedRecently(changed)
            former = await self._former_handles.find_one({"_id": key})
            if former is not None and former["user_id"] != user_id:
                raise HandleTaken
            moving = key != old_key
            if moving:  # only this account can hold its current handle: no one else's to overwrite
                await self._former_handles.update_one(
                    {"_id": old_key},
                    {"$set": {"handle": old_handle, "user_id": user_id, "until_ms": now_ms}},
                    upsert=True,
                )
            # update_one, then a read: the stand-in's findAndModify ignores a duplicate key
            # silently, where update_one raises it as MongoDB does.
            updated: Document | None = None
            taken = False
            try:
                result = await self._users.update_one(
                    {"$and": [{"_id": user_id, "handle_key": old_key}, not_recent]},
                    {"$set": {"handle": handle, "handle_key": key, "handle_changed_ms": now_ms}},
                )
            except DuplicateKeyError:
                taken = True
            else:
                if result.matched_count == 1:
                    updated = await self._users.find_one({"_id": user_id})
            if updated is not None and moving:
                former = await self._former_handles.find_one({"_id": key})
                if former is not None and former["user_id"] != user_id:
                    await self._users.update_one(
                        {"_id": user_id, "handle_key": key},
                        {"$set": {"handle": old_handle, "handle_key": old_key, "handle_changed_ms": changed}},
                    )
                    updated, taken = None, True
                elif former is not None:  # one of its own former handles, taken back
                    await self._former_handles.delete_one({"_id": key, "user_id": user_id})
            if updated is None:
                if moving:
                    await self._former_handles.delete_one({"_id": old_key, "user_id": user_id})
                if taken:
                    raise HandleTaken
                # Changed meanwhile by a concurrent request of the same account.
                now = await self._users.find_one({"_id": user_id})
                raise HandleChangedRecently(int((now or {}).get("handle_changed_ms") or now_ms))
        return user_record(updated)

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]:
        wanted = list(dict.fromkeys(user_ids))
        found: dict[str, UserRecord] = {}
        with driver_errors():
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start : start + IN_CHUNK]
                async for doc in self._users.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = user_record(doc)
        return found

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with driver_errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def delete_user(self, user_id: str) -> bool:
        tombstone = {
            "deleted": True,
            "password_hash": "!",
            "display_name": "",
            "name_key": "",
            "bio": "",
            "interests": [],
            "dm_policy": "nobody",
            "presence_visibility": "nobody",
            "verified": False,
        }
        with driver_errors():
            # Marked unfinished in the same write, unless it was deleted before (then its mark,
            # or its finish, stands). Read first, not filtered by ``deleted``: the stand-in's
            # {$ne: true} does not match a missing field.
            doc = await self._users.find_one({"_id": user_id}, projection={"deleted": 1})
            if doc is None:
                return False
            mark = {} if doc.get("deleted") else {"deletion_lease_ms": 0}
            result = await self._users.update_one({"_id": user_id}, {"$set": {**tombstone, **mark}})
            await self._push_subscriptions.delete_many({"user_id": user_id})
            await self._push_preferences.delete_one({"_id": user_id})
        return result.matched_count == 1

    async def claim_deletion(self, *, now_ms: int, lease_ms: int, user_id: str | None = None) -> str | None:
        which: Document = {"deletion_lease_ms": {"$lte": now_ms}}
        if user_id is not None:
            which["_id"] = user_id
        with driver_errors():
            doc = await self._users.find_one_and_update(
                which, {"$set": {"deletion_lease_ms": now_ms + lease_ms}}, projection={"_id": 1}
            )
        return str(doc["_id"]) if doc else None

    async def renew_deletion(self, user_id: str, *, now_ms: int, lease_ms: int) -> None:
        with driver_errors():  # $gte 0: only a deletion that is still unfinished
            await self._users.update_one(
                {"_id": user_id, "deletion_lease_ms": {"$gte": 0}},
                {"$set": {"deletion_lease_ms": now_ms + lease_ms}},
            )

    async def finish_deletion(self, user_id: str) -> None:
        with driver_errors():
            await self._users.update_one({"_id": user_id}, {"$unset": {"deletion_lease_ms": ""}})

    async def set_verified(self, user_id: str, verified: bool) -> bool:
        with driver_errors():
            result = await self._users.update_one({"_id": user_id}, {"$set": {"verified": verified}})
        return result.matched_count == 1

    async def set_dm_policy(self, user_id: str, policy: str) -> None:
        with driver_errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"dm_policy": policy}})

    async def set_presence_visibility(self, user_id: str, visibility: str) -> None:
        with driver_errors():
            await self._users.update_one({"_id": user_id}, {"$set": {"presence_visibility": visibility}})

    async def update_profile(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        bio: str | None = None,
        interests: Sequence[str] | None = None,
    ) -> UserRecord | None:
        fields: Document = {}
        if display_name is not None:
            fields["display_name"] = display_name
            fields["name_key"] = fold(display_name)
        if bio is not None:
            fields["bio"] = bio
        if interests is not None:
            fields["interests"] = list(interests)
        with driver_errors():
            if not fields:
                doc = await self._users.find_one({"_id": user_id})
            else:
                doc = await self._users.find_one_and_update(
                    {"_id": user_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
                )
        return user_record(doc) if doc else None

    async def set_avatar(
        self, user_id: str, media_id: str | None, *, now_ms: int
    ) -> tuple[UserRecord, str | None]:
        # Claim the new picture (a refusal has written nothing), then swap the user's avatar
        # fields in one find_one_and_update, which tells the picture replaced, then detach
        # exactly that one. Of concurrent calls each replaces what the one before it set, so
        # every picture but the last set is detached. A failure part way gives the claim back
        # and the user's fields too; a process killed part way leaves a picture attached as
        # "avatar:<user id>" that no user shows, never a user showing a detached one.
        subject = f"avatar:{user_id}"
        with driver_errors():
            if await self._users.find_one({"_id": user_id}, {"_id": True}) is None:
                raise NotFound(f"no user {user_id}")
            async with all_or_nothing() as undo:
                placeholder = None
                if media_id is not None:
                    (new,) = await claim(
                        self._media,
                        user_id,
                        [(media_id, None)],
                        kind="avatar",
                        subject=subject,
                        now_ms=now_ms,
                        undo=undo,
                    )
                    placeholder = new.placeholder
                before = await self._users.find_one_and_update(
                    {"_id": user_id},
                    {"$set": {"avatar_id": media_id, "avatar_placeholder": placeholder}},
                    return_document=ReturnDocument.BEFORE,
                )
                if before is None:  # pragma: no cover - users are never deleted
                    raise NotFound(f"no user {user_id}")
                replaced = before.get("avatar_id")
                undo.add(
                    lambda: self._users.update_one(
                        {"_id": user_id, "avatar_id": NULL if media_id is None else media_id},
                        {
                            "$set": {
                                "avatar_id": replaced,
                                "avatar_placeholder": before.get("avatar_placeholder"),
                            }
                        },
                    )
                )
                if replaced is not None and replaced != media_id:
                    # As detach_media does, for this one picture.
                    await self._media.update_one(
                        {"_id": replaced, "subject": subject},
                        {"$set": {"subject": None, "expires_ms": now_ms}},
                    )
        user = user_record({**before, "avatar_id": media_id, "avatar_placeholder": placeholder})
        return user, replaced

    async def record_last_seen(self, seen: dict[str, int]) -> None:
        # $max only raises: it sets a missing field, replaces a null (null sorts below every
        # number in BSON order), and keeps a later time, whatever order concurrent writers
        # (several nodes) run in. One unordered bulk write: one round trip (the driver splits
        # it only past the server's batch limits), each update applied on its own. Unknown
        # users match nothing and are skipped.
        if not seen:
            return
        updates = [
            UpdateOne({"_id": user_id}, {"$max": {"last_seen_ms": seen_ms}})
            for user_id, seen_ms in seen.items()
        ]
        with driver_errors():
            await self._users.bulk_write(updates, ordered=False)

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int, device: str = ""
    ) -> SessionRecord:
        session = SessionRecord(self._ids.new(now_ms), user_id, now_ms, now_ms + ttl_ms, None, device=device)
        with driver_errors():
            await self._sessions.insert_one(
                {
                    "_id": session.id,
                    "token_hash": token_hash,
                    "user_id": user_id,
                    "created_ms": now_ms,
                    "expires_ms": session.expires_ms,
                    "revoked_ms": None,
                    "device": device,
                    "last_used_ms": None,
                }
            )
        return session

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        with driver_errors():
            doc = await self._sessions.find_one({"token_hash": token_hash})
        return session_record(doc) if doc else None

    async def get_session_user(self, token_hash: bytes) -> tuple[SessionRecord, UserRecord | None] | None:
        # Two indexed reads, as two round trips: a $lookup would make them one, at the price
        # of an aggregation's planning for what are two point reads.
        session = await self.get_session(token_hash)
        return None if session is None else (session, await self.get_user(session.user_id))

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        with driver_errors():
            doc = await self._sessions.find_one_and_update(
                {"token_hash": token_hash, "revoked_ms": NULL},
                {"$set": {"revoked_ms": now_ms}},
                return_document=ReturnDocument.AFTER,
            )
            if doc:  # its browser's push subscriptions end with it (a crash between: see push.py)
                await self._push_subscriptions.delete_many({"session_id": doc["_id"]})
        return session_record(doc) if doc else None

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        # update_many is atomic per document; tagging the documents it changed with a fresh id
        # tells exactly which ones this call revoked, whatever runs alongside.
        tag = self._ids.new(now_ms)
        with driver_errors():
            result = await self._sessions.update_many(
                {"user_id": user_id, "revoked_ms": NULL},
                {"$set": {"revoked_ms": now_ms, "revoked_by": tag}},
            )
            await self._push_subscriptions.delete_many({"user_id": user_id})
            if result.modified_count == 0:
                return []
            cursor = self._sessions.find({"user_id": user_id, "revoked_by": tag}, {"_id": True})
            return [doc["_id"] async for doc in cursor]

    async def list_sessions(self, user_id: str, now_ms: int, *, limit: int) -> list[SessionRecord]:
        with driver_errors():
            cursor = (
                self._sessions.find({"user_id": user_id, "revoked_ms": NULL, "expires_ms": {"$gt": now_ms}})
                .sort("_id", DESCENDING)
                .limit(limit)
            )
            return [session_record(doc) async for doc in cursor]

    async def revoke_user_session(self, user_id: str, session_id: str, now_ms: int) -> SessionRecord | None:
        with driver_errors():
            doc = await self._sessions.find_one_and_update(
                {"_id": session_id, "user_id": user_id, "revoked_ms": NULL, "expires_ms": {"$gt": now_ms}},
                {"$set": {"revoked_ms": now_ms}},
                return_document=ReturnDocument.AFTER,
            )
            if doc:
                await self._push_subscriptions.delete_many({"session_id": doc["_id"]})
        return session_record(doc) if doc else None

    async def touch_sessions(self, used: dict[str, int]) -> None:
        # As record_last_seen: $max only raises; one unordered bulk write.
        if not used:
            return
        updates = [UpdateOne({"_id": sid}, {"$max": {"last_used_ms": at}}) for sid, at in used.items()]
        with driver_errors():
            await self._sessions.bulk_write(updates, ordered=False)
