"""Signals: bus messages an operator's command leaves for the nodes (see :mod:`server.relay`)."""

from __future__ import annotations

import sqlite3

from ...ids import floor_id
from ..base import SIGNAL_TTL_MS, SignalRecord
from .engine import Engine


class Signals(Engine):
    """One row per message. Ids carry the time they were stored at, so "since" and "older than"
    are both ranges of the primary key."""

    async def add_signals(self, messages: list[tuple[str, bytes]], now_ms: int) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM signals WHERE id < ?", (floor_id(max(0, now_ms - SIGNAL_TTL_MS)),))
            conn.executemany(
                "INSERT INTO signals (id, channel, payload, created_ms) VALUES (?, ?, ?, ?)",
                [(self._ids.new(now_ms), channel, payload, now_ms) for channel, payload in messages],
            )

        await self._write(write)

    async def signals_since(self, since_ms: int) -> list[SignalRecord]:
        rows = await self._all(
            "SELECT id, channel, payload, created_ms FROM signals WHERE id >= ? ORDER BY id",
            (floor_id(max(0, since_ms)),),
        )
        return [
            SignalRecord(
                id=row["id"],
                channel=row["channel"],
                payload=bytes(row["payload"]),
                created_ms=row["created_ms"],
            )
            for row in rows
        ]
