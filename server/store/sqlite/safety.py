"""Safety statuses and incidents: who said they are safe, to whom, and whether an incident is on;
and the operator's pages (the "during a disaster" page)."""

from __future__ import annotations

import sqlite3

from ..base import IncidentRecord, PageRecord, SafetyRecord
from .engine import Engine
from .rows import _ABOVE_EVERY_ID, _INCIDENT_COLUMNS, _SAFETY_COLUMNS, _json, _record


class Safety(Engine):
    """Each user's statuses with their history ("newest" is the greatest id: ids follow commit
    order, and history pages by them), and the incidents, at most one of them active."""

    # --- safety statuses ---------------------------------------------------------------------

    async def add_safety_status(
        self, *, user_id: str, state: str, note: str, area: str | None, audience: str, now_ms: int
    ) -> SafetyRecord:
        def write(conn: sqlite3.Connection) -> SafetyRecord:
            status = SafetyRecord(self._ids.new(now_ms), user_id, state, note, area, audience, now_ms)
            conn.execute(
                f"INSERT INTO safety_statuses ({_SAFETY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (status.id, user_id, state, note, area, audience, now_ms),
            )
            return status

        return await self._write(write)

    async def latest_safety(self, user_ids: list[str]) -> dict[str, SafetyRecord]:
        # Per user, one seek to the end of their range of the primary key (user_id, id).
        rows = await self._all(
            f"SELECT {_SAFETY_COLUMNS} FROM safety_statuses WHERE (user_id, id) IN ("
            "SELECT wanted.value, (SELECT newest.id FROM safety_statuses AS newest "
            "WHERE newest.user_id = wanted.value ORDER BY newest.id DESC LIMIT 1) "
            "FROM json_each(?) AS wanted)",
            (_json(dict.fromkeys(user_ids)),),
        )
        return {row["user_id"]: _record(SafetyRecord, row) for row in rows}

    async def safety_history(
        self, user_id: str, *, audiences: tuple[str, ...], before: str | None, limit: int
    ) -> list[SafetyRecord]:
        rows = await self._all(
            f"SELECT {_SAFETY_COLUMNS} FROM safety_statuses WHERE user_id = ? AND id < ? "
            "AND audience IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT ?",
            (user_id, before or _ABOVE_EVERY_ID, _json(audiences), limit),
        )
        return [_record(SafetyRecord, row) for row in rows]

    # --- incidents ---------------------------------------------------------------------------

    async def start_incident(
        self, *, title: str, area: str | None, started_by: str | None, now_ms: int
    ) -> IncidentRecord | None:
        def write(conn: sqlite3.Connection) -> IncidentRecord | None:
            incident = IncidentRecord(self._ids.new(now_ms), title, area, started_by, now_ms, None)
            # The unique index incidents_one_active refuses a second active row, from this process
            # or any other: DO NOTHING turns that refusal into "no row returned".
            row = conn.execute(
                f"INSERT INTO incidents ({_INCIDENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (incident.id, title, area, started_by, now_ms),
            ).fetchone()
            return incident if row else None

        return await self._write(write)

    async def end_incident(self, now_ms: int) -> IncidentRecord | None:
        def write(conn: sqlite3.Connection) -> IncidentRecord | None:
            row = conn.execute(
                f"UPDATE incidents SET ended_ms = ? WHERE ended_ms IS NULL RETURNING {_INCIDENT_COLUMNS}",
                (now_ms,),
            ).fetchone()
            return _record(IncidentRecord, row) if row else None

        return await self._write(write)

    async def active_incident(self) -> IncidentRecord | None:
        rows = await self._all(f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE ended_ms IS NULL")
        return _record(IncidentRecord, rows[0]) if rows else None

    async def get_incident(self, incident_id: str) -> IncidentRecord | None:
        rows = await self._all(f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
        return _record(IncidentRecord, rows[0]) if rows else None

    # --- operator pages ----------------------------------------------------------------------

    async def get_page(self, name: str) -> PageRecord | None:
        rows = await self._all("SELECT name, markdown, updated_ms FROM pages WHERE name = ?", (name,))
        return _record(PageRecord, rows[0]) if rows else None

    async def set_page(self, name: str, markdown: str, now_ms: int) -> PageRecord:
        def write(conn: sqlite3.Connection) -> PageRecord:
            conn.execute(
                "INSERT INTO pages (name, markdown, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET markdown = excluded.markdown, updated_ms = excluded.updated_ms",
                (name, markdown, now_ms),
            )
            return PageRecord(name, markdown, now_ms)

        return await self._write(write)

    async def delete_page(self, name: str) -> bool:
        return bool(await self._change("DELETE FROM pages WHERE name = ?", (name,)))
