"""Blocks, mutes and reports on MongoDB: :class:`SafetyStore`, one part of
:class:`~server.store.mongo.MongoStorage`."""

from __future__ import annotations

import asyncio
import functools
from typing import Final

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from ..base import BlockOutcome, ReportRecord
from .database import Database
from .driver import NULL, Document, all_or_nothing, driver_errors
from .records import report_record

#: "Most recent first" for the few blocks or mutes of one user: by time, then by id.
_MOST_RECENT: Final = [("created_ms", DESCENDING), ("_id", DESCENDING)]


class SafetyStore(Database):
    """What a user does to keep others away (blocks, ending follows both ways; mutes) and the
    reports they make to the operators."""

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        block_id = self._ids.new(now_ms)
        unfollowed: list[tuple[str, str]] = []
        with driver_errors():
            async with all_or_nothing() as undo:
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
        with driver_errors():
            result = await self._blocks.delete_one({"blocker_id": blocker_id, "blocked_id": blocked_id})
        return result.deleted_count == 1

    async def blocked_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._blocks.find({"blocker_id": user_id}, {"blocked_id": True}).sort(_MOST_RECENT)
            return [doc["blocked_id"] async for doc in cursor]

    async def blocks_between(self, a: str, b: str) -> bool:
        with driver_errors():
            doc = await self._blocks.find_one(
                {"$or": [{"blocker_id": a, "blocked_id": b}, {"blocker_id": b, "blocked_id": a}]},
                {"_id": True},
            )
        return doc is not None

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        with driver_errors():
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
        with driver_errors():
            result = await self._mutes.delete_one({"user_id": user_id, "target_id": target_id})
        return result.deleted_count == 1

    async def muted_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._mutes.find({"user_id": user_id}, {"target_id": True}).sort(_MOST_RECENT)
            return [doc["target_id"] async for doc in cursor]

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        with driver_errors():
            blocking, muting = await asyncio.gather(
                self._blocks.find_one({"blocker_id": viewer_id, "blocked_id": user_id}, {"_id": True}),
                self._mutes.find_one({"user_id": viewer_id, "target_id": user_id}, {"_id": True}),
            )
        return blocking is not None, muting is not None

    async def hidden_ids(self, user_id: str) -> set[str]:
        with driver_errors():
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
        with driver_errors():
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
        query: Document = {"resolved_ms": NULL} if open_only else {}
        with driver_errors():
            cursor = self._reports.find(query).sort("_id", DESCENDING).limit(limit)
            return [report_record(doc) async for doc in cursor]

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        with driver_errors():
            result = await self._reports.update_one(
                {"_id": report_id, "resolved_ms": NULL}, {"$set": {"resolved_ms": now_ms}}
            )
        return result.modified_count == 1
