"""Databases as earlier versions of Tsudoi left them, for the tests of the migrations."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from server.store.sqlite.engine import _migrations, _split_sql


def sqlite_with_plain_invites(path: Path, codes: list[str], *, created_ms: int, expires_ms: int) -> None:
    """A SQLite database at schema 8 (before invite codes were hashed, 0009) holding ``codes`` as
    plain, unused invites without an inviter, each granting operator rights as a bootstrap
    invite does, as that version stored them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        for number, script in _migrations():
            if number <= 8:
                for statement in _split_sql(script):
                    db.execute(statement)
        db.execute("PRAGMA user_version=8")
        for n, code in enumerate(codes):
            db.execute(
                "INSERT INTO invites (code, inviter_id, created_ms, expires_ms, grants_operator) "
                "VALUES (?, NULL, ?, ?, 1)",
                (code, created_ms + n, expires_ms),
            )
