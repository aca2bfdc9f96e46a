"""Storage adapters behind the port in :mod:`server.store.base`; chosen at start-up by config."""

from __future__ import annotations

from pathlib import Path

from .base import Storage


async def open_storage(data_dir: Path, *, sqlite_synchronous: str = "full") -> Storage:
    """The configured storage adapter (the embedded SQLite default for now)."""
    from .sqlite import SqliteStorage

    return await SqliteStorage.open(data_dir / "tsudoi.sqlite3", synchronous=sqlite_synchronous)
