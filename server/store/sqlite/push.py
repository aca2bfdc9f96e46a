"""Web Push: subscriptions, preferences, the queue of pushes and the cluster's push lease
(0015_push.sql). A subscription counts while the session it is bound to is live, read by a join
with ``sessions``; revoking sessions deletes theirs in the same transaction (accounts.py)."""

from __future__ import annotations

import json
import sqlite3

from ..base import NewPush, PushJob, PushPreferences, PushSubscriptionRecord
from .engine import Engine

_SUB_COLUMNS = "s.id, s.user_id, s.session_id, s.endpoint, s.p256dh, s.auth, s.expiration_ms, s.created_ms"
#: The subscriptions that count at ``:now``: a live session, not past the browser's expiry.
_LIVE = (
    "JOIN sessions x ON x.id = s.session_id AND x.revoked_ms IS NULL AND x.expires_ms > :now "
    "WHERE (s.expiration_ms IS NULL OR s.expiration_ms > :now)"
)
_LEASE = "push"


def _subscription(row: sqlite3.Row) -> PushSubscriptionRecord:
    return PushSubscriptionRecord(
        id=row["id"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        endpoint=row["endpoint"],
        p256dh=row["p256dh"],
        auth=row["auth"],
        expiration_ms=row["expiration_ms"],
        created_ms=row["created_ms"],
    )


class Push(Engine):
    async def save_push_subscription(
        self,
        *,
        user_id: str,
        session_id: str,
        endpoint: str,
        p256dh: str,
        auth: str,
        expiration_ms: int | None,
        now_ms: int,
        limit: int,
    ) -> PushSubscriptionRecord | None:
        def write(conn: sqlite3.Connection) -> PushSubscriptionRecord | None:
            row = conn.execute(
                "SELECT id, user_id FROM push_subscriptions WHERE endpoint = ?", (endpoint,)
            ).fetchone()
            if row is not None and row["user_id"] == user_id:
                conn.execute(
                    "UPDATE push_subscriptions SET session_id = ?, p256dh = ?, auth = ?, expiration_ms = ? "
                    "WHERE id = ?",
                    (session_id, p256dh, auth, expiration_ms, row["id"]),
                )
                sub_id = row["id"]
            else:
                (held,) = conn.execute(
                    "SELECT count(*) FROM push_subscriptions WHERE user_id = ?", (user_id,)
                ).fetchone()
                if held >= limit:
                    return None
                if row is not None:  # another account's endpoint: it moves, under a new id
                    conn.execute("DELETE FROM push_subscriptions WHERE id = ?", (row["id"],))
                sub_id = self._ids.new(now_ms)
                conn.execute(
                    "INSERT INTO push_subscriptions (id, user_id, session_id, endpoint, p256dh, auth, "
                    "expiration_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sub_id, user_id, session_id, endpoint, p256dh, auth, expiration_ms, now_ms),
                )
            found = conn.execute(
                f"SELECT {_SUB_COLUMNS} FROM push_subscriptions s WHERE s.id = ?", (sub_id,)
            ).fetchone()
            return _subscription(found)

        return await self._write(write)

    async def push_subscriptions(
        self, user_ids: list[str] | None, *, now_ms: int
    ) -> list[PushSubscriptionRecord]:
        if user_ids is None:
            rows = await self._all(
                f"SELECT {_SUB_COLUMNS} FROM push_subscriptions s {_LIVE} ORDER BY s.id", {"now": now_ms}
            )
        else:
            rows = await self._all(
                f"SELECT {_SUB_COLUMNS} FROM push_subscriptions s {_LIVE} "
                "AND s.user_id IN (SELECT value FROM json_each(:users)) ORDER BY s.id",
                {"now": now_ms, "users": json.dumps(user_ids)},
            )
        return [_subscription(row) for row in rows]

    async def delete_push_subscription(self, subscription_id: str, *, user_id: str | None = None) -> bool:
        if user_id is None:
            return await self._change("DELETE FROM push_subscriptions WHERE id = ?", (subscription_id,)) > 0
        changed = await self._change(
            "DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?", (subscription_id, user_id)
        )
        return changed > 0

    async def push_preferences(self, user_ids: list[str]) -> dict[str, PushPreferences]:
        rows = await self._all(
            "SELECT user_id, off, previews FROM push_preferences "
            "WHERE user_id IN (SELECT value FROM json_each(?))",
            (json.dumps(user_ids),),
        )
        found = {
            row["user_id"]: PushPreferences(
                off=frozenset(json.loads(row["off"])), previews=bool(row["previews"])
            )
            for row in rows
        }
        return {user_id: found.get(user_id, PushPreferences()) for user_id in user_ids}

    async def set_push_preferences(
        self, user_id: str, *, on: dict[str, bool], previews: bool | None
    ) -> PushPreferences:
        def write(conn: sqlite3.Connection) -> PushPreferences:
            row = conn.execute(
                "SELECT off, previews FROM push_preferences WHERE user_id = ?", (user_id,)
            ).fetchone()
            off = set(json.loads(row["off"])) if row else set()
            keep = bool(row["previews"]) if row else False
            off |= {kind for kind, value in on.items() if not value}
            off -= {kind for kind, value in on.items() if value}
            now = PushPreferences(off=frozenset(off), previews=keep if previews is None else previews)
            conn.execute(
                "INSERT INTO push_preferences (user_id, off, previews) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET off = excluded.off, previews = excluded.previews",
                (user_id, json.dumps(sorted(now.off)), int(now.previews)),
            )
            return now

        return await self._write(write)

    async def enqueue_pushes(self, pushes: list[NewPush], *, now_ms: int) -> None:
        if not pushes:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO push_queue (id, subscription_id, kind, priority, urgency, payload, due_ms, "
                "deadline_ms, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [
                    (
                        self._ids.new(now_ms),
                        p.subscription_id,
                        p.kind,
                        p.priority,
                        p.urgency,
                        p.payload,
                        now_ms,
                        p.deadline_ms,
                    )
                    for p in pushes
                ],
            )

        await self._write(write)

    async def claim_push_lease(self, owner: str, *, now_ms: int, lease_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "INSERT INTO push_leases (name, owner, until_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms "
                "WHERE push_leases.owner = excluded.owner OR push_leases.until_ms <= ? RETURNING owner",
                (_LEASE, owner, now_ms + lease_ms, now_ms),
            ).fetchone()
            return row is not None

        return await self._write(write)

    async def due_pushes(self, *, now_ms: int, limit: int) -> list[PushJob]:
        rows = await self._all(
            "SELECT q.id AS push_id, q.kind, q.priority, q.urgency, q.payload, q.due_ms, q.deadline_ms, "
            f"q.attempts, s.id IS NOT NULL AS found, {_SUB_COLUMNS} FROM push_queue q "
            "LEFT JOIN push_subscriptions s ON s.id = q.subscription_id "
            "WHERE q.due_ms <= ? ORDER BY q.priority, q.id LIMIT ?",
            (now_ms, limit),
        )
        return [
            PushJob(
                id=row["push_id"],
                kind=row["kind"],
                priority=row["priority"],
                urgency=row["urgency"],
                payload=bytes(row["payload"]),
                due_ms=row["due_ms"],
                deadline_ms=row["deadline_ms"],
                attempts=row["attempts"],
                subscription=_subscription(row) if row["found"] else None,
            )
            for row in rows
        ]

    async def retry_push(self, push_id: str, *, due_ms: int, attempts: int) -> None:
        await self._change(
            "UPDATE push_queue SET due_ms = ?, attempts = ? WHERE id = ?", (due_ms, attempts, push_id)
        )

    async def finish_push(self, push_id: str) -> None:
        await self._change("DELETE FROM push_queue WHERE id = ?", (push_id,))

    async def count_pushes(self) -> int:
        rows = await self._all("SELECT count(*) FROM push_queue")
        return int(rows[0][0])
