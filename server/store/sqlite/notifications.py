"""Notifications: what happened that concerns a user, and whether they have read it.

A user's notifications are their own rows (``notifications``) and the announcements of the
communities they are in (``community_notifications``, one row an announcement, written with its
post: see 0007_announcements.sql), made after they joined and not by them. The two are merged
by id, which is each one's position in the user's notification stream. A user's read state of
an announcement is ``notification_marks`` (all up to a mark) and ``notification_reads`` (one by
one after it).
"""

from __future__ import annotations

import sqlite3

from ..base import NewNotification, NotificationRecord
from .engine import Engine
from .rows import _ABOVE_EVERY_ID, _NOTIFICATION_COLUMNS, _notification

#: The announcements a user (``:user``) is notified of: of the communities they are in now, made
#: after they joined (a membership's id is issued on joining), not by them. FROM and WHERE only:
#: callers add conditions with AND.
_ANNOUNCED_FROM = (
    "FROM memberships m JOIN community_notifications b "
    "ON b.community_id = m.community_id AND b.id > m.id "
    "WHERE m.user_id = :user AND b.actor_id IS NOT :user"
)
_MARK = "coalesce((SELECT read_through FROM notification_marks WHERE user_id = :user), '')"
#: What each column of a notification row is for an announcement.
_AS_NOTIFICATION = {
    "id": "b.id",
    "user_id": ":user",
    "kind": "b.kind",
    "actor_id": "b.actor_id",
    "post_id": "b.post_id",
    "community_id": "b.community_id",
    "emoji": "NULL",
    "created_ms": "b.created_ms",
    "read": f"b.id <= {_MARK} OR EXISTS (SELECT 1 FROM notification_reads "
    "WHERE user_id = :user AND notification_id = b.id)",
}
#: Those of them, as notification rows. A UNION matches its arms' columns by position, so they
#: are listed in the order of _NOTIFICATION_COLUMNS, each looked up by name.
_ANNOUNCED = (
    "SELECT "
    + ", ".join(f"{_AS_NOTIFICATION[column]} AS {column}" for column in _NOTIFICATION_COLUMNS.split(", "))
    + f" {_ANNOUNCED_FROM}"
)
#: Those of them the user has not read (FROM and WHERE).
_UNREAD_ANNOUNCED = (
    f"{_ANNOUNCED_FROM} AND b.id > {_MARK} AND NOT EXISTS (SELECT 1 FROM notification_reads "
    "WHERE user_id = :user AND notification_id = b.id)"
)


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
            f"SELECT * FROM (SELECT {_NOTIFICATION_COLUMNS} FROM notifications "
            "WHERE user_id = :user AND id < :before ORDER BY id DESC LIMIT :limit) "
            f"UNION ALL SELECT * FROM ({_ANNOUNCED} AND b.id < :before ORDER BY b.id DESC LIMIT :limit) "
            "ORDER BY 1 DESC LIMIT :limit",
            {"user": user_id, "before": before or _ABOVE_EVERY_ID, "limit": limit},
        )
        return [_notification(row) for row in rows]

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        # SQLite merges the two arms in order, reading each only as far as the LIMIT needs. The
        # user's own notifications come in their index's order, read directly (as a subquery with
        # an ORDER BY and LIMIT of its own they cost a sort more per handshake); the announcements,
        # a join, are sorted in a subquery whose LIMIT bounds what the sort holds.
        rows = await self._all(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = :user AND id > :after "
            f"UNION ALL SELECT * FROM ({_ANNOUNCED} AND b.id > :after ORDER BY b.id LIMIT :limit) "
            "ORDER BY 1 LIMIT :limit",
            {"user": user_id, "after": after, "limit": limit},
        )
        return [_notification(row) for row in rows]

    async def unread_notifications(self, user_id: str) -> int:
        rows = await self._all(
            "SELECT (SELECT count(*) FROM notifications WHERE user_id = :user AND read = 0) "
            f"+ (SELECT count(*) {_UNREAD_ANNOUNCED})",
            {"user": user_id},
        )
        return int(rows[0][0])

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            params = {"user": user_id, "id": notification_id}
            own = conn.execute(
                "UPDATE notifications SET read = 1 WHERE id = :id AND user_id = :user AND read = 0", params
            )
            if own.rowcount:
                return True
            announced = conn.execute(
                "INSERT OR IGNORE INTO notification_reads (user_id, notification_id) "
                f"SELECT :user, b.id {_UNREAD_ANNOUNCED} AND b.id = :id",
                params,
            )
            return bool(announced.rowcount)

        return await self._write(write)

    async def mark_all_notifications_read(self, user_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            params = {"user": user_id}
            (announced,) = conn.execute(f"SELECT count(*) {_UNREAD_ANNOUNCED}", params).fetchone()
            own = conn.execute(
                "UPDATE notifications SET read = 1 WHERE user_id = :user AND read = 0", params
            ).rowcount
            (newest,) = conn.execute("SELECT max(id) FROM community_notifications").fetchone()
            if newest is not None:
                # Everything announced so far is read: one mark, and the reads it covers go.
                conn.execute(
                    "INSERT INTO notification_marks (user_id, read_through) VALUES (:user, :newest) "
                    "ON CONFLICT (user_id) DO UPDATE SET "
                    "read_through = max(read_through, excluded.read_through)",
                    {"user": user_id, "newest": newest},
                )
                conn.execute(
                    "DELETE FROM notification_reads WHERE user_id = :user AND notification_id <= :newest",
                    {"user": user_id, "newest": newest},
                )
            return int(own) + int(announced)

        return await self._write(write)
