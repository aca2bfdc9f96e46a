"""The adapters every Storage contract module runs against.

``storage`` opens each adapter on a fresh database: SQLite; MongoDB (the nx-27017 stand-in, or
the real server named by ``TSUDOI_TEST_MONGODB_URL``, see tests/support/mongo.py); and SQLite
through the timing proxy the server puts around its adapter. ``second_storage`` is another
process's adapter on the same database. The cases are in one module per area of the port
(server/store/base.py), ``test_storage_<area>.py``; what they share is in storage_helpers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from server.metrics import Metrics
from server.store.base import Storage
from server.store.sqlite import SqliteStorage
from server.store.timed import timed_storage
from tests.support.mongo import MongoBackend, expect_stand_in_divergence, storage_class

#: How the ``storage`` fixture opens one more adapter on the same database (another process).
REOPEN = pytest.StashKey[Callable[[], Awaitable[Storage]]]()


@pytest.fixture(params=["sqlite", "mongo", "sqlite-timed"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    reopen: Callable[[], Awaitable[Storage]]
    backend: MongoBackend | None = None
    database = ""
    if request.param == "sqlite":
        path = tmp_path / "db.sqlite3"

        def reopen() -> Awaitable[Storage]:
            return SqliteStorage.open(path)

    elif request.param == "sqlite-timed":  # the metrics proxy the server puts around its adapter
        path = tmp_path / "db.sqlite3"

        async def reopen() -> Storage:
            return timed_storage(await SqliteStorage.open(path), Metrics().storage_latency)

    elif request.param == "mongo":
        backend = request.getfixturevalue("mongo_backend")
        expect_stand_in_divergence(request, backend)
        url, database = backend.url, backend.new_database()  # a fresh database per test
        adapter = storage_class(backend)  # without the ordering indexes on the stand-in

        def reopen() -> Awaitable[Storage]:
            return adapter.open(url, database=database)

    else:  # pragma: no cover - every param is opened above
        raise AssertionError(f"no adapter {request.param!r}")
    request.node.stash[REOPEN] = reopen
    store = await reopen()
    try:
        yield store
    finally:
        await store.close()
        if backend is not None:
            await backend.drop_database(database)


@pytest.fixture
async def second_storage(storage: Storage, request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """Another adapter on the storage fixture's database, as another server process has."""
    other = await request.node.stash[REOPEN]()
    try:
        yield other
    finally:
        await other.close()


@pytest.fixture
async def mongo_database(request: pytest.FixtureRequest, mongo_backend: MongoBackend) -> AsyncIterator[str]:
    """A fresh database's name on the tests' MongoDB, dropped afterwards: for the cases that
    open the MongoDB adapter themselves (migrations, indexes); applies the stand-in's marks."""
    expect_stand_in_divergence(request, mongo_backend)
    name = mongo_backend.new_database()
    try:
        yield name
    finally:
        await mongo_backend.drop_database(name)
