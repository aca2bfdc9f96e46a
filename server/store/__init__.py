"""Storage adapters behind the port in :mod:`server.store.base`; chosen at start-up by config."""

from __future__ import annotations

from ..config import Settings
from .base import Storage


async def open_storage(settings: Settings) -> Storage:
    """The configured storage adapter: MongoDB when ``mongodb_url`` is set, else SQLite."""
    if settings.mongodb_url:
        from .mongo import MongoStorage

        return await MongoStorage.open(settings.mongodb_url, database=settings.mongodb_database)
    from .sqlite import SqliteStorage

    return await SqliteStorage.open(settings.database_path, synchronous=settings.sqlite_synchronous)
