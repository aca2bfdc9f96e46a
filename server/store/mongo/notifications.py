"""Notifications on MongoDB: :class:`NotificationStore`, one part of
:class:`~server.store.mongo.MongoStorage`."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from ..base import NewNotification, NotificationRecord
from .database import Database
from .driver import all_or_nothing, before_filter, driver_errors
from .records import notification_record


class NotificationStore(Database):
    """Each user's notifications: pages, the notification stream, and read flags."""

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
        with driver_errors():
            async with all_or_nothing() as undo:
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
        query = {"user_id": user_id, **before_filter("_id", before)}
        with driver_errors():
            cursor = self._notifications.find(query).sort("_id", DESCENDING).limit(limit)
            return [notification_record(doc) async for doc in cursor]

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        if limit <= 0:
            return []
        query = {"user_id": user_id, "_id": {"$gt": after}}
        with driver_errors():
            cursor = self._notifications.find(query).sort("_id", ASCENDING).limit(limit)
            return [notification_record(doc) async for doc in cursor]

    async def unread_notifications(self, user_id: str) -> int:
        with driver_errors():
            return await self._notifications.count_documents({"user_id": user_id, "read": False})

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        with driver_errors():
            result = await self._notifications.update_one(
                {"_id": notification_id, "user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
        return result.modified_count == 1

    async def mark_all_notifications_read(self, user_id: str) -> int:
        with driver_errors():
            result = await self._notifications.update_many(
                {"user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
        return result.modified_count
