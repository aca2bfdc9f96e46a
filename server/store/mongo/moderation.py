"""Reports on MongoDB: :class:`ModerationStore`, one part of
:class:`~server.store.mongo.MongoStorage`."""

from __future__ import annotations

from pymongo import DESCENDING

from ..base import ReportRecord
from .database import Database
from .driver import NULL, Document, driver_errors
from .records import report_record


class ModerationStore(Database):
    """Reports and their resolution."""

    async def create_report(
        self,
        *,
        reporter_id: str,
        post_id: str | None,
        user_id: str | None,
        reason: str,
        now_ms: int,
        category: str | None = None,
    ) -> ReportRecord:
        report = ReportRecord(
            self._ids.new(now_ms), reporter_id, post_id, user_id, reason, now_ms, None, category
        )
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
                    "category": category,
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
