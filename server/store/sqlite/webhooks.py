"""Bots' webhooks (where to deliver, how far delivery has got, which node delivers) and the
server's keys."""

from __future__ import annotations

import sqlite3

from ..base import WebhookRecord
from .engine import Engine

_COLUMNS = (
    "user_id, url, created_ms, cursor_following, cursor_direct, cursor_notifications, "
    "failures, last_error, lease_owner, lease_until_ms"
)


def _webhook(row: sqlite3.Row) -> WebhookRecord:
    return WebhookRecord(
        user_id=row["user_id"],
        url=row["url"],
        created_ms=row["created_ms"],
        cursors={
            "following": row["cursor_following"],
            "direct": row["cursor_direct"],
            "notifications": row["cursor_notifications"],
        },
        failures=row["failures"],
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until_ms=row["lease_until_ms"],
    )


class Webhooks(Engine):
    async def set_webhook(self, user_id: str, url: str, *, start: str, now_ms: int) -> WebhookRecord:
        def write(conn: sqlite3.Connection) -> WebhookRecord:
            row = conn.execute(
                f"INSERT INTO webhooks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, NULL, 0) "
                "ON CONFLICT (user_id) DO UPDATE SET url = excluded.url, failures = 0, last_error = NULL "
                f"RETURNING {_COLUMNS}",
                (user_id, url, now_ms, start, start, start),
            ).fetchone()
            return _webhook(row)

        return await self._write(write)

    async def get_webhook(self, user_id: str) -> WebhookRecord | None:
        rows = await self._all(f"SELECT {_COLUMNS} FROM webhooks WHERE user_id = ?", (user_id,))
        return _webhook(rows[0]) if rows else None

    async def delete_webhook(self, user_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM webhooks WHERE user_id = ?", (user_id,)).rowcount > 0

        return await self._write(write)

    async def claim_webhooks(self, owner: str, *, now_ms: int, lease_ms: int) -> list[WebhookRecord]:
        def write(conn: sqlite3.Connection) -> list[WebhookRecord]:
            rows = conn.execute(
                "UPDATE webhooks SET lease_owner = ?, lease_until_ms = ? "
                f"WHERE lease_owner IS NULL OR lease_owner = ? OR lease_until_ms <= ? RETURNING {_COLUMNS}",
                (owner, now_ms + lease_ms, owner, now_ms),
            ).fetchall()
            return sorted((_webhook(row) for row in rows), key=lambda hook: hook.user_id)

        return await self._write(write)

    async def save_webhook_progress(
        self, user_id: str, owner: str, *, cursors: dict[str, str], failures: int, last_error: str | None
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            # max() over NULL is NULL: coalesce keeps the stored cursor for a stream not given.
            return (
                conn.execute(
                    "UPDATE webhooks SET "
                    "cursor_following = max(cursor_following, coalesce(?, '')), "
                    "cursor_direct = max(cursor_direct, coalesce(?, '')), "
                    "cursor_notifications = max(cursor_notifications, coalesce(?, '')), "
                    "failures = ?, last_error = ? WHERE user_id = ? AND lease_owner = ?",
                    (
                        cursors.get("following"),
                        cursors.get("direct"),
                        cursors.get("notifications"),
                        failures,
                        last_error,
                        user_id,
                        owner,
                    ),
                ).rowcount
                > 0
            )

        return await self._write(write)

    async def server_key(self, name: str, candidate: bytes) -> bytes:
        def write(conn: sqlite3.Connection) -> bytes:
            conn.execute(
                "INSERT INTO server_keys (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, candidate),
            )
            (value,) = conn.execute("SELECT value FROM server_keys WHERE name = ?", (name,)).fetchone()
            return bytes(value)

        return await self._write(write)
