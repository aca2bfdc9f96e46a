"""Storage: where Tsudoi keeps everything durable, in layers that point one way.

The port
    :mod:`server.store.base` says what the domain may ask of a database and nothing about which
    one. It is cut by area, one small ``typing.Protocol`` each with its contract in its
    docstring: :class:`~.base.AccountStorage` (users, invites, sessions),
    :class:`~.base.RelationStorage` (follows, blocks, mutes), :class:`~.base.PostStorage`
    (posts, timelines and streams, reactions), :class:`~.base.CommunityStorage`,
    :class:`~.base.ConversationStorage`, :class:`~.base.NotificationStorage`,
    :class:`~.base.SafetyStorage` (safety statuses, incidents), :class:`~.base.ModerationStorage`
    (reports), :class:`~.base.WebhookStorage` (and server keys), :class:`~.base.SignalStorage`,
    and :class:`~.base.Lifecycle` (close, ping). :class:`~.base.Storage` is their sum: what an
    adapter implements and what the app wires. Each domain service (:mod:`server.domain`) is
    typed against the few areas it uses, so its constructor says what it may touch. The records
    the port takes and returns, and the errors it raises, are in :mod:`.records`.

The adapters
    :mod:`.sqlite` (the default: one file, WAL, one writer thread) and :mod:`.mongo`. Each is
    one class summing one mixin per area over a shared core that holds the connections and the
    id generator (:mod:`.sqlite.engine`, :mod:`.mongo.database`), and each area is a module named
    as the area in both (``sqlite/posts.py`` and ``mongo/posts.py`` implement
    :class:`~.base.PostStorage`), so a change to an area is found in the same place twice. The
    domain never imports an adapter: :func:`open_storage` picks one from the settings, and
    :mod:`.timed` may wrap it to time every call, for any adapter alike.

Schema versions
    SQLite's schema is the numbered files of ``sqlite/migrations/``, applied in order at start-up,
    ``PRAGMA user_version`` recording the last. MongoDB needs no tables, only indexes: they are
    declared once in :data:`.mongo.database.INDEXES` and covered by ``SCHEMA_VERSION``, created
    at every start-up and recorded in the ``meta`` collection. A new stored field or query
    changes both adapters (a migration file, or an index and a version bump).

The contract suite
    ``tests/contract/test_storage_<area>.py``, one module per area, runs the same cases against
    every adapter (``storage`` in ``tests/contract/conftest.py``): SQLite, SQLite through the
    timing proxy, and MongoDB, by default the nx-27017 stand-in, or a real server named by
    ``TSUDOI_TEST_MONGODB_URL``. A case marked ``nx27017_diverges`` names a place where the
    stand-in differs from MongoDB (see ``tests/support/mongo.py``). A behaviour of the port is
    pinned there, once, rather than in either adapter's own tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..health import Finding
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


async def check_storage(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: the configured adapter's own check of its database (reachable,
    schema version, indexes), which reads and creates nothing. ``Lifecycle.ping`` is the check of
    an open adapter (``/healthz``)."""
    if settings.mongodb_url:
        from .mongo import check

        return await check(settings)
    from .sqlite.engine import check as check_sqlite

    return check_sqlite(settings)
