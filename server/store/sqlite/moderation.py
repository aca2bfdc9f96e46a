"""Reports: what users report to the operators, and their resolution."""

from __future__ import annotations

import sqlite3

from ..base import ReportRecord
from .engine import Engine
from .rows import _REPORT_COLUMNS, _record


class Moderation(Engine):
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
        def write(conn: sqlite3.Connection) -> ReportRecord:
            report = ReportRecord(
                self._ids.new(now_ms), reporter_id, post_id, user_id, reason, now_ms, None, category
            )
            conn.execute(
                f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (report.id, reporter_id, post_id, user_id, reason, now_ms, category),
            )
            return report

        return await self._write(write)

    async def reports(self, *, open_only: bool, limit: int) -> list[ReportRecord]:
        where = "WHERE resolved_ms IS NULL" if open_only else ""  # the first is served by reports_open
        rows = await self._all(
            f"SELECT {_REPORT_COLUMNS} FROM reports {where} ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_record(ReportRecord, row) for row in rows]

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        changed = await self._change(
            "UPDATE reports SET resolved_ms = ? WHERE id = ? AND resolved_ms IS NULL", (now_ms, report_id)
        )
        return changed == 1
