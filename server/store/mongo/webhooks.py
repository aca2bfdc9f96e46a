"""Bots' webhooks and the server's keys on MongoDB: :class:`WebhookStore`, one part of
:class:`~server.store.mongo.MongoStorage`.

One document per webhook (``_id``: the bot's id) and per key (``_id``: its name); every write is
one conditional single-document update, so each is atomic on its own. A lease is taken only if
it is free, expired or already the claimer's (the filter of the update decides it), and
progress is saved only while the lease is held. Cursors are raised with ``$max``: positions are
ids, and ids compare as strings in their order.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..base import StorageUnavailable, WebhookRecord
from .database import Database
from .driver import NULL, Document, driver_errors

STREAMS = ("following", "direct", "notifications")


def _webhook(doc: Document) -> WebhookRecord:
    return WebhookRecord(
        user_id=doc["_id"],
        url=doc["url"],
        created_ms=doc["created_ms"],
        cursors={stream: doc["cursors"][stream] for stream in STREAMS},
        failures=doc["failures"],
        last_error=doc["last_error"],
        lease_owner=doc["lease_owner"],
        lease_until_ms=doc["lease_until_ms"],
    )


class WebhookStore(Database):
    async def set_webhook(self, user_id: str, url: str, *, start: str, now_ms: int) -> WebhookRecord:
        with driver_errors():
            doc = await self._webhooks.find_one_and_update(
                {"_id": user_id},
                {
                    "$set": {"url": url, "failures": 0, "last_error": None},
                    "$setOnInsert": {
                        "created_ms": now_ms,
                        "cursors": dict.fromkeys(STREAMS, start),
                        "lease_owner": None,
                        "lease_until_ms": 0,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        if doc is None:  # an upsert returning the document after it: MongoDB always has one
            raise StorageUnavailable("the webhook upsert returned no document")
        return _webhook(doc)

    async def get_webhook(self, user_id: str) -> WebhookRecord | None:
        with driver_errors():
            doc = await self._webhooks.find_one({"_id": user_id})
        return _webhook(doc) if doc is not None else None

    async def delete_webhook(self, user_id: str) -> bool:
        with driver_errors():
            result = await self._webhooks.delete_one({"_id": user_id})
        return result.deleted_count > 0

    async def claim_webhooks(self, owner: str, *, now_ms: int, lease_ms: int) -> list[WebhookRecord]:
        claimable: dict[str, Any] = {
            "$or": [{"lease_owner": NULL}, {"lease_owner": owner}, {"lease_until_ms": {"$lte": now_ms}}]
        }
        held = []
        with driver_errors():
            candidates = [doc["_id"] async for doc in self._webhooks.find(claimable, {"_id": 1})]
            for user_id in candidates:
                # Re-checked per document: another owner may have claimed it since the find.
                # An explicit $and, MongoDB's own reading of the implicit one, because the
                # nx-27017 stand-in's findAndModify drops a condition written beside an $or.
                doc = await self._webhooks.find_one_and_update(
                    {"$and": [{"_id": user_id}, claimable]},
                    {"$set": {"lease_owner": owner, "lease_until_ms": now_ms + lease_ms}},
                    return_document=ReturnDocument.AFTER,
                )
                if doc is not None:
                    held.append(_webhook(doc))
        return sorted(held, key=lambda hook: hook.user_id)

    async def save_webhook_progress(
        self, user_id: str, owner: str, *, cursors: dict[str, str], failures: int, last_error: str | None
    ) -> bool:
        update: dict[str, Any] = {"$set": {"failures": failures, "last_error": last_error}}
        raised = {f"cursors.{stream}": pos for stream, pos in cursors.items() if stream in STREAMS}
        if raised:
            update["$max"] = raised
        with driver_errors():
            result = await self._webhooks.update_one({"_id": user_id, "lease_owner": owner}, update)
        return result.matched_count > 0

    async def server_key(self, name: str, candidate: bytes) -> bytes:
        with driver_errors():
            with suppress(DuplicateKeyError):  # someone stored one first: theirs stands
                await self._server_keys.insert_one({"_id": name, "value": candidate})
            doc = await self._server_keys.find_one({"_id": name})
        if doc is None:  # only if deleted between the two calls: a broken deployment
            raise KeyError(name)
        return bytes(doc["value"])
