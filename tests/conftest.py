"""Fixtures: real servers in subprocesses, real WebSocket clients, temporary SQLite files."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.client import Client, Users
from tests.support.mongo import MARKER, MongoBackend, StandInProcess, configured_url
from tests.support.redis import RedisProcess
from tests.support.schema import VALIDATED
from tests.support.server import ServerProcess

# Property tests check behaviour, not speed: on a loaded two-core machine running the suite in
# parallel, Hypothesis's default 200 ms deadline per example fails tests that are correct.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module, shared by its tests (which use their own accounts)."""
    process = ServerProcess(tmp_path_factory.mktemp("data")).start()
    yield process
    process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a server of the test's own, with extra TSUDOI_* settings."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        process = ServerProcess(tmp_path / f"data{len(started)}", env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def users(server: ServerProcess) -> AsyncIterator[Users]:
    made = Users(server)
    yield made
    await made.close()


@pytest.fixture
async def users_of() -> AsyncIterator[Callable[[ServerProcess], Users]]:
    """Account helpers for servers a test starts itself, closed whatever the test's outcome."""
    made: list[Users] = []

    def make(server: ServerProcess) -> Users:
        made.append(Users(server))
        return made[-1]

    yield make
    for helper in made:
        await helper.close()


@pytest.fixture(autouse=True)
async def _check_frames() -> AsyncIterator[None]:
    """Close every client a test opened and fail on any frame that broke the schema."""
    Client.opened.clear()
    yield
    clients, Client.opened[:] = list(Client.opened), []
    for client in clients:
        await client.ws.close()
    for client in clients:
        client.check()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if VALIDATED:
        total = sum(VALIDATED.values())
        terminalreporter.write_line(
            f"server frames validated against protocol/asyncapi.json: {total} "
            f"({len(VALIDATED)} message kinds)"
        )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One private redis-server per test process; tests use distinct channels and databases."""
    process = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield process
    process.stop()


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Gateway processes sharing one data folder (SQLite) and whatever Redis the test names."""
    started: list[ServerProcess] = []

    def start(redis: RedisProcess, **env: str) -> ServerProcess:
        node = ServerProcess(tmp_path / "shared-data", {"TSUDOI_REDIS_URL": redis.url, **env}).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop(signal.SIGKILL)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, which the test may stop and restart."""
    process = RedisProcess(tmp_path / "redis").start()
    yield process
    process.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(reason): the test fails on the nx-27017 stand-in because of the named divergence "
        "from MongoDB; expected to fail (strictly) there, and to pass everywhere else",
    )


@pytest.fixture(scope="session")
def mongo_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoBackend]:
    """TSUDOI_TEST_MONGODB_URL if set; else one nx-27017 for the session, started on first use."""
    url = configured_url()
    if url is not None:
        yield MongoBackend(url, stand_in=False)
        return
    process = StandInProcess(tmp_path_factory.mktemp("nx-27017")).start()
    try:
        yield MongoBackend(process.url, stand_in=True)
    finally:
        process.stop()
