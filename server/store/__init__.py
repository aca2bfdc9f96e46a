"""Storage adapters behind the port in :mod:`server.store.base`; chosen at start-up by config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from .base import Storage

if TYPE_CHECKING:
    from ..metrics import Metrics


async def open_storage(settings: Settings, metrics: Metrics | None = None) -> Storage:
    """The configured storage adapter: MongoDB when ``mongodb_url`` is set, else SQLite. With
    ``metrics``, every call of the port is timed (see :mod:`server.store.timed`)."""
    store = await _open_adapter(settings)
    if metrics is None:
        return store
    from .timed import timed_storage

    return timed_storage(store, metrics.storage_latency)


async def _open_adapter(settings: Settings) -> Storage:
    if settings.mongodb_url:
        from .mongo import MongoStorage

        return await MongoStorage.open(settings.mongodb_url, database=settings.mongodb_database)
    from .sqlite import SqliteStorage

    return await SqliteStorage.open(settings.database_path, synchronous=settings.sqlite_synchronous)
