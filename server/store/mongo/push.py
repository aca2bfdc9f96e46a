"""Web Push on MongoDB: :class:`PushStore`, one part of :class:`~server.store.mongo.MongoStorage`.

``push_subscriptions`` (unique ``endpoint``), ``push_preferences`` (``_id``: the user),
``push_queue`` and ``push_leases`` (``_id``: the lease's name). Without multi-document
transactions, revoking a session deletes its subscriptions in a second write (accounts.py); a
crash between the two leaves subscriptions of a revoked session, which
``push_subscriptions`` never returns (it reads the sessions too) and which the next sign-out
or account deletion removes.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..base import NewPush, PushJob, PushPreferences, PushSubscriptionRecord
from .database import Database
from .driver import NULL, Document, chunks, driver_errors

_LEASE = "push"


def _subscription(doc: Document) -> PushSubscriptionRecord:
    return PushSubscriptionRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        session_id=doc["session_id"],
        endpoint=doc["endpoint"],
        p256dh=doc["p256dh"],
        auth=doc["auth"],
        expiration_ms=doc.get("expiration_ms"),
        created_ms=doc["created_ms"],
    )


def _preferences(doc: Document) -> PushPreferences:
    return PushPreferences(off=frozenset(doc.get("kinds_off", {})), previews=bool(doc.get("previews", False)))


class PushStore(Database):
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
        fresh = {"session_id": session_id, "p256dh": p256dh, "auth": auth, "expiration_ms": expiration_ms}
        with driver_errors():
            doc = await self._push_subscriptions.find_one_and_update(
                {"endpoint": endpoint, "user_id": user_id},
                {"$set": fresh},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return _subscription(doc)
            # The bound is checked, then the insert made: two concurrent subscriptions of one
            # person may pass it together, by one (a person's own devices, not an attack).
            if await self._push_subscriptions.count_documents({"user_id": user_id}) >= limit:
                return None
            await self._push_subscriptions.delete_one({"endpoint": endpoint})  # another account's
            doc = {
                "_id": self._ids.new(now_ms),
                "user_id": user_id,
                "endpoint": endpoint,
                "created_ms": now_ms,
                **fresh,
            }
            try:
                await self._push_subscriptions.insert_one(doc)
            except DuplicateKeyError:  # the same endpoint saved at once: the other one stands
                found = await self._push_subscriptions.find_one({"endpoint": endpoint})
                return _subscription(found) if found and found["user_id"] == user_id else None
        return _subscription(doc)

    async def push_subscriptions(
        self, user_ids: list[str] | None, *, now_ms: int
    ) -> list[PushSubscriptionRecord]:
        live: Document = {"$or": [{"expiration_ms": NULL}, {"expiration_ms": {"$gt": now_ms}}]}
        found: list[Document] = []
        with driver_errors():
            if user_ids is None:
                found = [doc async for doc in self._push_subscriptions.find(live)]
            else:
                for part in chunks(user_ids):
                    query = {"$and": [{"user_id": {"$in": part}}, live]}
                    found += [doc async for doc in self._push_subscriptions.find(query)]
            sessions: set[str] = set()
            for part in chunks(sorted({doc["session_id"] for doc in found})):
                cursor = self._sessions.find(
                    {"_id": {"$in": part}, "revoked_ms": NULL, "expires_ms": {"$gt": now_ms}}, {"_id": True}
                )
                sessions |= {doc["_id"] async for doc in cursor}
        kept = [_subscription(doc) for doc in found if doc["session_id"] in sessions]
        return sorted(kept, key=lambda sub: sub.id)

    async def delete_push_subscription(self, subscription_id: str, *, user_id: str | None = None) -> bool:
        query: Document = {"_id": subscription_id}
        if user_id is not None:
            query["user_id"] = user_id
        with driver_errors():
            result = await self._push_subscriptions.delete_one(query)
        return result.deleted_count > 0

    async def push_preferences(self, user_ids: list[str]) -> dict[str, PushPreferences]:
        found: dict[str, PushPreferences] = {}
        with driver_errors():
            for part in chunks(user_ids):
                async for doc in self._push_preferences.find({"_id": {"$in": part}}):
                    found[doc["_id"]] = _preferences(doc)
        return {user_id: found.get(user_id, PushPreferences()) for user_id in user_ids}

    async def set_push_preferences(
        self, user_id: str, *, on: dict[str, bool], previews: bool | None
    ) -> PushPreferences:
        update: dict[str, Any] = {}
        switched_off = [kind for kind, value in on.items() if not value]
        switched_on = [kind for kind, value in on.items() if value]
        # One field per kind (off.<kind>: true) rather than an array: $set and $unset of
        # different fields in one update never conflict, and each kind's switch is atomic.
        if switched_off:
            update["$set"] = {f"kinds_off.{kind}": True for kind in switched_off}
        if switched_on:
            update["$unset"] = {f"kinds_off.{kind}": "" for kind in switched_on}
        if previews is not None:
            update.setdefault("$set", {})["previews"] = previews
        else:
            update["$setOnInsert"] = {"previews": False}
        with driver_errors():
            doc = await self._push_preferences.find_one_and_update(
                {"_id": user_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        return _preferences(doc or {})

    async def enqueue_pushes(self, pushes: list[NewPush], *, now_ms: int) -> None:
        if not pushes:
            return
        docs = [
            {
                "_id": self._ids.new(now_ms),
                "subscription_id": p.subscription_id,
                "kind": p.kind,
                "priority": p.priority,
                "urgency": p.urgency,
                "payload": p.payload,
                "due_ms": now_ms,
                "deadline_ms": p.deadline_ms,
                "attempts": 0,
            }
            for p in pushes
        ]
        with driver_errors():
            await self._push_queue.insert_many(docs, ordered=False)

    async def claim_push_lease(self, owner: str, *, now_ms: int, lease_ms: int) -> bool:
        claimable: Document = {"$or": [{"owner": owner}, {"until_ms": {"$lte": now_ms}}]}
        with driver_errors():
            # An explicit $and, as in webhooks.py: the nx-27017 stand-in's findAndModify drops a
            # condition written beside an $or.
            doc = await self._push_leases.find_one_and_update(
                {"$and": [{"_id": _LEASE}, claimable]},
                {"$set": {"owner": owner, "until_ms": now_ms + lease_ms}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return True
            try:  # never taken yet
                await self._push_leases.insert_one(
                    {"_id": _LEASE, "owner": owner, "until_ms": now_ms + lease_ms}
                )
            except DuplicateKeyError:  # another node holds it
                return False
        return True

    async def due_pushes(self, *, now_ms: int, limit: int) -> list[PushJob]:
        with driver_errors():
            cursor = (
                self._push_queue.find({"due_ms": {"$lte": now_ms}})
                .sort([("priority", ASCENDING), ("_id", ASCENDING)])
                .limit(limit)
            )
            queued = [doc async for doc in cursor]
            ids = sorted({doc["subscription_id"] for doc in queued})
            subs = {
                doc["_id"]: _subscription(doc)
                async for doc in self._push_subscriptions.find({"_id": {"$in": ids}})
            }
        return [
            PushJob(
                id=doc["_id"],
                kind=doc["kind"],
                priority=doc["priority"],
                urgency=doc["urgency"],
                payload=bytes(doc["payload"]),
                due_ms=doc["due_ms"],
                deadline_ms=doc["deadline_ms"],
                attempts=doc["attempts"],
                subscription=subs.get(doc["subscription_id"]),
            )
            for doc in queued
        ]

    async def retry_push(self, push_id: str, *, due_ms: int, attempts: int) -> None:
        with driver_errors():
            await self._push_queue.update_one(
                {"_id": push_id}, {"$set": {"due_ms": due_ms, "attempts": attempts}}
            )

    async def finish_push(self, push_id: str) -> None:
        with driver_errors():
            await self._push_queue.delete_one({"_id": push_id})

    async def count_pushes(self) -> int:
        with driver_errors():
            return await self._push_queue.count_documents({})
