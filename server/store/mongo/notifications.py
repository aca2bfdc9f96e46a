"""Notifications on MongoDB: :class:`NotificationStore`, one part of
:class:`~server.store.mongo.MongoStorage`.

A user's notifications are their own documents (``notifications``) and the announcements of the
communities they are in now (``community_notifications``, one document an announcement, written
with its post by :meth:`~.posts.PostStore.create_announcement`), made after they joined (a
membership's ``_id`` is issued on joining, by the generator of every id) and not by them. Each
read queries both, sorted and limited alike, and merges them by id, each one's position in the
user's notification stream. A user's read state of an announcement is theirs: every one up to
the ``read_through`` of their ``notification_marks`` document (``_id``: the user's id; moved by
``mark_all_notifications_read``, only ever forward), and those after it in their
``notification_reads`` (one per announcement read one by one, with its community, so that the
count of unread ones leaves out of each community's branch only that community's reads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from ..base import NewNotification, NotificationRecord
from .database import Database
from .driver import Document, all_or_nothing, driver_errors
from .records import announcement_record, notification_record


@dataclass(frozen=True, slots=True)
class _Reader:
    """What decides which announcements a user is notified of, and which of those are read."""

    user_id: str
    #: Membership id per community the user is in now.
    joined: Mapping[str, str]
    #: Every announcement with an id up to this one is read ("" without a mark: none).
    read_through: str

    def announced(
        self, after: str, ids: Document | None = None, read: Mapping[str, list[str]] | None = None
    ) -> Document | None:
        """The filter for the announcements the user is notified of with an id above ``after``
        that also meets ``ids`` (more conditions on ``_id``), leaving out ``read`` (ids per
        community); None when the user is in no community.

        One ``$or`` branch per community, each holding all of its conditions, so that each is
        one range of the ``by_community`` index and nothing stands beside the ``$or``."""
        branches: list[Document] = []
        for community_id, membership_id in self.joined.items():
            bounds: Document = {"$gt": max(membership_id, after), **(ids or {})}
            if read and read.get(community_id):
                bounds["$nin"] = read[community_id]
            branches.append({"community_id": community_id, "_id": bounds, "actor_id": {"$ne": self.user_id}})
        return {"$or": branches} if branches else None


class NotificationStore(Database):
    """Each user's notifications, their own and their communities' announcements: pages, the
    notification stream, and read state."""

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
        return await self._merged(user_id, after="", before=before, limit=limit, newest_first=True)

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        return await self._merged(user_id, after=after, before=None, limit=limit, newest_first=False)

    async def unread_notifications(self, user_id: str) -> int:
        with driver_errors():
            own, announced = await asyncio.gather(
                self._notifications.count_documents({"user_id": user_id, "read": False}),
                self._unread_announced(user_id),
            )
        return own + announced

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        with driver_errors():
            own = await self._notifications.update_one(
                {"_id": notification_id, "user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
            if own.modified_count == 1:
                return True
            # An announcement the user is notified of, after their mark; the unique index
            # (INDEXES "user_notification_unique") says whether they had read it already.
            reader = await self._reader(user_id)
            query = reader.announced(reader.read_through, {"$eq": notification_id})
            found = None if query is None else await self._community_notifications.find_one(query)
            if found is None:
                return False
            try:
                await self._notification_reads.insert_one(
                    {
                        "_id": self._ids.new(),
                        "user_id": user_id,
                        "notification_id": notification_id,
                        "community_id": found["community_id"],
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def mark_all_notifications_read(self, user_id: str) -> int:
        with driver_errors():
            newest = await self._community_notifications.find_one(
                {}, {"_id": True}, sort=[("_id", DESCENDING)]
            )
            # The unread announcements the mark will cover, counted before it moves.
            announced = 0 if newest is None else await self._unread_announced(user_id, upto=newest["_id"])
            own = await self._notifications.update_many(
                {"user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
            if newest is not None:
                # Everything announced so far is read: one mark (never moved back, whatever
                # runs concurrently), and the reads it covers go.
                await self._notification_marks.update_one(
                    {"_id": user_id}, {"$max": {"read_through": newest["_id"]}}, upsert=True
                )
                await self._notification_reads.delete_many(
                    {"user_id": user_id, "notification_id": {"$lte": newest["_id"]}}
                )
        return own.modified_count + announced

    async def _reader(self, user_id: str) -> _Reader:
        """The user's memberships now and their mark."""
        memberships = self._memberships.find({"user_id": user_id}, {"community_id": True})
        with driver_errors():
            joined, mark = await asyncio.gather(
                memberships.to_list(), self._notification_marks.find_one({"_id": user_id})
            )
        return _Reader(
            user_id,
            {doc["community_id"]: doc["_id"] for doc in joined},
            mark["read_through"] if mark else "",
        )

    async def _merged(
        self, user_id: str, *, after: str, before: str | None, limit: int, newest_first: bool
    ) -> list[NotificationRecord]:
        """The first ``limit`` of the user's notifications with ``after`` < id < ``before``,
        newest or oldest first: their own and their announcements, each queried sorted and
        limited alike, then merged."""
        if limit <= 0:
            return []
        order = DESCENDING if newest_first else ASCENDING
        ids: Document = {} if before is None else {"$lt": before}
        own_cursor = (
            self._notifications.find({"user_id": user_id, "_id": {"$gt": after, **ids}})
            .sort("_id", order)
            .limit(limit)
        )
        with driver_errors():
            own, reader = await asyncio.gather(own_cursor.to_list(), self._reader(user_id))
            query = reader.announced(after, ids)
            docs = (
                []
                if query is None
                else await self._community_notifications.find(query).sort("_id", order).limit(limit).to_list()
            )
            # Those after the mark are read if the user read them one by one.
            maybe_read = [doc["_id"] for doc in docs if doc["_id"] > reader.read_through]
            read: set[str] = set()
            if maybe_read:
                cursor = self._notification_reads.find(
                    {"user_id": user_id, "notification_id": {"$in": maybe_read}}, {"notification_id": True}
                )
                read = {doc["notification_id"] async for doc in cursor}
        records = [notification_record(doc) for doc in own]
        records += [
            announcement_record(doc, user_id, read=doc["_id"] <= reader.read_through or doc["_id"] in read)
            for doc in docs
        ]
        records.sort(key=lambda record: record.id, reverse=newest_first)
        return records[:limit]

    async def _unread_announced(self, user_id: str, *, upto: str | None = None) -> int:
        """How many announcements the user is notified of and has not read (of those with an
        id up to ``upto``)."""
        # All the user's reads: those a mark covers are deleted when it moves.
        reads = self._notification_reads.find(
            {"user_id": user_id}, {"notification_id": True, "community_id": True}
        )
        with driver_errors():
            reader, docs = await asyncio.gather(self._reader(user_id), reads.to_list())
            read: dict[str, list[str]] = {}
            for doc in docs:
                if doc["notification_id"] > reader.read_through:
                    read.setdefault(doc["community_id"], []).append(doc["notification_id"])
            query = reader.announced(reader.read_through, {} if upto is None else {"$lte": upto}, read)
            return 0 if query is None else await self._community_notifications.count_documents(query)
