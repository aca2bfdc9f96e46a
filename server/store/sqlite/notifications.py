"""Notifications: what happened that concerns a user, and whether they have read it."""

from __future__ import annotations

import sqlite3

from ..base import NewNotification, NotificationRecord
from .engine import Engine
from .rows import _ABOVE_EVERY_ID, _NOTIFICATION_COLUMNS, _notification


class Notifications(Engine):
    """A user's notifications, newest first or as a stream, and their read state."""

    async def add_notifications(self, new: list[NewNotification], now_ms: int) -> list[NotificationRecord]:
        def write(conn: sqlite3.Connection) -> list[NotificationRecord]:
            records = [
                NotificationRecord(
                    self._ids.new(now_ms),
                    n.user_id,
                    n.kind,
                    n.actor_id,
                    n.post_id,
                    n.community_id,
                    n.emoji,
                    now_ms,
                    read=False,
                )
                for n in new
            ]
            conn.executemany(
                f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [
                    (r.id, r.user_id, r.kind, r.actor_id, r.post_id, r.community_id, r.emoji, now_ms)
                    for r in records
                ],
            )
            return records

        return await self._write(write)

    async def notifications(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[NotificationRecord]:
        rows = await self._all(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (user_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [_notification(row) for row in rows]

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        rows = await self._all(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (user_id, after, limit),
        )
        return [_notification(row) for row in rows]

    async def unread_notifications(self, user_id: str) -> int:
        rows = await self._all(
            "SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0", (user_id,)
        )
        return int(rows[0][0])

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        changed = await self._change(
            "UPDATE notifications SET read = 1 WHERE id = ? AND user_id = ? AND read = 0",
            (notification_id, user_id),
        )
        return changed == 1

    async def mark_all_notifications_read(self, user_id: str) -> int:
        return await self._change(
            "UPDATE notifications SET read = 1 WHERE user_id = ? AND read = 0", (user_id,)
        )
