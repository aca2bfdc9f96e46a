"""Blocks, mutes and reports: whom a user keeps away, and what they report to the operators."""

from __future__ import annotations

import sqlite3

from ..base import BlockOutcome, ReportRecord
from .engine import Engine
from .rows import _REPORT_COLUMNS


class Moderation(Engine):
    """Blocks (which end follows both ways), mutes, and reports with their resolution."""

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        def write(conn: sqlite3.Connection) -> BlockOutcome:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, id, created_ms) VALUES (?, ?, ?, ?)",
                (blocker_id, blocked_id, self._ids.new(now_ms), now_ms),
            )
            if cursor.rowcount == 0:
                return BlockOutcome(created=False, unfollowed=[])
            ended = conn.execute(
                "DELETE FROM follows WHERE follower_id = :a AND followee_id = :b "
                "OR follower_id = :b AND followee_id = :a RETURNING follower_id, followee_id",
                {"a": blocker_id, "b": blocked_id},
            ).fetchall()
            # The blocker's own follow first (RETURNING has no order of its own).
            pairs = sorted(((a, b) for a, b in ended), key=lambda pair: pair[0] != blocker_id)
            return BlockOutcome(created=True, unfollowed=pairs)

        return await self._write(write)

    async def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", (blocker_id, blocked_id)
        )
        return removed == 1

    async def blocked_ids(self, user_id: str) -> list[str]:
        rows = await self._all(
            "SELECT blocked_id FROM blocks WHERE blocker_id = ? ORDER BY created_ms DESC, id DESC", (user_id,)
        )
        return [row[0] for row in rows]

    async def blocks_between(self, a: str, b: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM blocks WHERE blocker_id = :a AND blocked_id = :b "
            "OR blocker_id = :b AND blocked_id = :a",
            {"a": a, "b": b},
        )

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO mutes (user_id, target_id, id, created_ms) VALUES (?, ?, ?, ?)",
                (user_id, target_id, self._ids.new(now_ms), now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def unmute(self, user_id: str, target_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM mutes WHERE user_id = ? AND target_id = ?", (user_id, target_id)
        )
        return removed == 1

    async def muted_ids(self, user_id: str) -> list[str]:
        rows = await self._all(
            "SELECT target_id FROM mutes WHERE user_id = ? ORDER BY created_ms DESC, id DESC", (user_id,)
        )
        return [row[0] for row in rows]

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        rows = await self._all(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = :viewer AND blocked_id = :user), "
            "EXISTS (SELECT 1 FROM mutes WHERE user_id = :viewer AND target_id = :user)",
            {"viewer": viewer_id, "user": user_id},
        )
        return bool(rows[0][0]), bool(rows[0][1])

    async def hidden_ids(self, user_id: str) -> set[str]:
        rows = await self._all(
            "SELECT target_id FROM mutes WHERE user_id = :user "
            "UNION SELECT blocked_id FROM blocks WHERE blocker_id = :user "
            "UNION SELECT blocker_id FROM blocks WHERE blocked_id = :user",
            {"user": user_id},
        )
        return {row[0] for row in rows}

    async def create_report(
        self, *, reporter_id: str, post_id: str | None, user_id: str | None, reason: str, now_ms: int
    ) -> ReportRecord:
        def write(conn: sqlite3.Connection) -> ReportRecord:
            report = ReportRecord(self._ids.new(now_ms), reporter_id, post_id, user_id, reason, now_ms, None)
            conn.execute(
                f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (report.id, reporter_id, post_id, user_id, reason, now_ms),
            )
            return report

        return await self._write(write)

    async def reports(self, *, open_only: bool, limit: int) -> list[ReportRecord]:
        where = "WHERE resolved_ms IS NULL" if open_only else ""  # the first is served by reports_open
        rows = await self._all(
            f"SELECT {_REPORT_COLUMNS} FROM reports {where} ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [ReportRecord(*row) for row in rows]

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        changed = await self._change(
            "UPDATE reports SET resolved_ms = ? WHERE id = ? AND resolved_ms IS NULL", (now_ms, report_id)
        )
        return changed == 1
