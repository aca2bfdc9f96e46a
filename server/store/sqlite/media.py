"""Uploaded pictures: waiting, attached, detached, collected (MediaStorage in server/store/base.py).

:func:`_claim` is the one place an upload is attached; the writes that attach (a post, an
announcement, a message, an avatar) call it inside their own transaction, so the picture and
what holds it are written together or not at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from ..base import MediaRecord, MediaUnavailable, TooManyUploads
from .engine import Engine
from .rows import _MEDIA_COLUMNS, _json, _media, _media_body_json

#: An owner's uploads waiting to be attached, unexpired at a time (media_waiting_by_owner).
_WAITING = "SELECT count(*) FROM media WHERE owner_id = ? AND subject IS NULL AND expires_ms > ?"


def _claim(
    conn: sqlite3.Connection,
    owner_id: str,
    media: Sequence[tuple[str, str | None]],
    *,
    kind: str,
    subject: str,
    now_ms: int,
) -> tuple[MediaRecord, ...]:
    """Attach the owner's waiting uploads ``media`` (id, alt) to ``subject``, in order; raise
    MediaUnavailable at the first that is not one (the caller's transaction rolls back)."""
    attached = []
    for media_id, alt in media:
        row = conn.execute(
            f"UPDATE media SET subject = ?, alt = ?, expires_ms = NULL WHERE id = ? AND owner_id = ? "
            f"AND kind = ? AND subject IS NULL AND expires_ms > ? RETURNING {_MEDIA_COLUMNS}",
            (subject, alt, media_id, owner_id, kind, now_ms),
        ).fetchone()
        if row is None:
            raise MediaUnavailable(media_id)
        attached.append(_media(row))
    return tuple(attached)


def _detach(conn: sqlite3.Connection, subject: str, now_ms: int) -> list[MediaRecord]:
    rows = conn.execute(
        f"UPDATE media SET subject = NULL, expires_ms = ? WHERE subject = ? RETURNING {_MEDIA_COLUMNS}",
        (now_ms, subject),
    ).fetchall()
    # RETURNING gives the rows as updated; the port answers them as they were.
    return sorted(
        (replace(_media(row), subject=subject, expires_ms=None) for row in rows), key=lambda r: r.id
    )


class Media(Engine):
    """The media table (0010_media.sql)."""

    async def add_media(self, record: MediaRecord, *, pending_max: int) -> None:
        def write(conn: sqlite3.Connection) -> None:
            (waiting,) = conn.execute(
                _WAITING,
                (record.owner_id, record.created_ms),
            ).fetchone()
            if waiting >= pending_max:
                raise TooManyUploads(f"{record.owner_id} holds {waiting} uploads")
            conn.execute(
                f"INSERT INTO media ({_MEDIA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.owner_id,
                    record.kind,
                    _media_body_json(record),
                    record.created_ms,
                    record.expires_ms,
                    record.subject,
                    record.alt,
                ),
            )

        await self._write(write)

    async def count_waiting_media(self, owner_id: str, *, now_ms: int) -> int:
        rows = await self._all(
            _WAITING,
            (owner_id, now_ms),
        )
        count: int = rows[0][0]
        return count

    async def get_media(self, media_id: str) -> MediaRecord | None:
        rows = await self._all(f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id = ?", (media_id,))
        return _media(rows[0]) if rows else None

    async def detach_media(self, subject: str, *, now_ms: int) -> list[MediaRecord]:
        return await self._write(_detach, subject, now_ms)

    async def expired_media(self, now_ms: int, *, limit: int) -> list[MediaRecord]:
        rows = await self._all(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE subject IS NULL AND expires_ms <= ? "
            "ORDER BY expires_ms, id LIMIT ?",
            (now_ms, limit),
        )
        return [_media(row) for row in rows]

    async def delete_media(self, media_ids: list[str]) -> None:
        await self._change(
            "DELETE FROM media WHERE subject IS NULL AND id IN (SELECT value FROM json_each(?))",
            (_json(media_ids),),
        )
