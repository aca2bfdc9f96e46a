"""Signals on MongoDB: :class:`SignalStore`, one part of :class:`~server.store.mongo.MongoStorage`.

One document per message in ``signals``, ``_id`` its id. Ids carry the time they were made at,
so the recent ones and the old ones are both ranges of the ``_id`` index every collection has:
the collection needs no index of its own, and so no schema version.
"""

from __future__ import annotations

from pymongo import ASCENDING

from ...ids import floor_id
from ..base import SIGNAL_TTL_MS, SignalRecord
from .database import Database
from .driver import driver_errors


class SignalStore(Database):
    async def add_signals(self, messages: list[tuple[str, bytes]], now_ms: int) -> None:
        docs = [
            {"_id": self._ids.new(now_ms), "channel": channel, "payload": payload, "created_ms": now_ms}
            for channel, payload in messages
        ]
        with driver_errors():
            await self._signals.delete_many({"_id": {"$lt": floor_id(max(0, now_ms - SIGNAL_TTL_MS))}})
            if docs:
                await self._signals.insert_many(docs, ordered=True)

    async def signals_since(self, since_ms: int) -> list[SignalRecord]:
        with driver_errors():
            cursor = self._signals.find({"_id": {"$gte": floor_id(max(0, since_ms))}}).sort("_id", ASCENDING)
            docs = await cursor.to_list()
        return [SignalRecord(d["_id"], d["channel"], bytes(d["payload"]), d["created_ms"]) for d in docs]
