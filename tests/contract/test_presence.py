"""The Presence contract (server/presence/base.py), written once and run against every adapter.

"Nodes" are adapter instances over the same presence state: separate Redis clients for Redis (as
separate gateway nodes would be), the one instance for the in-process adapter, which is one node
by design. Each Redis test works under a key prefix of its own, so tests stay independent under
pytest-xdist; the Redis Cluster runs the same tests with its default 256 reap shards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from server.config import Settings
from server.presence import PresenceUnavailable, open_presence
from server.presence.base import PresenceInfo, PresenceStore
from server.presence.local import LocalPresence
from server.presence.redis import RETENTION_MS, RedisPresence
from tests.support.redis import RedisCluster as RedisClusterProcess
from tests.support.redis import RedisProcess

ADAPTERS = ["local", "redis", "redis-cluster"]

T0 = 1_700_000_000_000
TTL = 30_000


class Nodes:
    """Opens presence adapters onto one shared state, and closes them all at the end."""

    def __init__(self, make: Callable[[], PresenceStore]) -> None:
        self._make = make
        self._opened: list[PresenceStore] = []

    def open(self) -> PresenceStore:
        node = self._make()
        if node not in self._opened:
            self._opened.append(node)
        return node

    async def close(self) -> None:
        for node in self._opened:
            await node.close()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcess]:
    cluster = RedisClusterProcess(tmp_path_factory.mktemp("presence-cluster")).start()
    # start() waits for the first node only; the others may still think the cluster is down.
    deadline = time.monotonic() + 15
    for node in cluster.nodes:
        with redis.Redis(port=node.port) as client:
            while client.cluster("INFO")["cluster_state"] != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError("the Redis Cluster did not come up on every node")
                time.sleep(0.05)
    yield cluster
    cluster.stop()


@pytest.fixture(params=ADAPTERS)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    prefix = f"test:{uuid.uuid4().hex}"
    if request.param == "local":
        shared = LocalPresence()
        made = Nodes(lambda: shared)
    elif request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        made = Nodes(lambda: RedisPresence(url, prefix=prefix))
    else:
        url = request.getfixturevalue("redis_cluster").url
        made = Nodes(lambda: RedisPresence(url, cluster=True, prefix=prefix))
    yield made
    await made.close()


@pytest.fixture
def presence(nodes: Nodes) -> PresenceStore:
    return nodes.open()


async def one(presence: PresenceStore, user_id: str, now_ms: int) -> PresenceInfo:
    return (await presence.info([user_id], now_ms=now_ms))[user_id]


async def reap_all(presence: PresenceStore, now_ms: int, limit: int = 1000) -> list[tuple[str, str]]:
    reaped = []
    while batch := await presence.reap(now_ms=now_ms, limit=limit):
        reaped += batch
    return reaped


# --- connections -------------------------------------------------------------------------------


async def test_came_online_only_on_the_first_connection(presence: PresenceStore) -> None:
    assert await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL) is True
    assert await presence.connected("aya", "laptop", now_ms=T0 + 1, ttl_ms=TTL) is False
    assert await presence.connected("aya", "phone", now_ms=T0 + 2, ttl_ms=TTL) is False  # again
    assert await presence.connected("ben", "phone", now_ms=T0 + 3, ttl_ms=TTL) is True  # another user
    assert (await one(presence, "aya", T0 + 3)).connections == 2


async def test_every_device_counts_until_the_last_one_goes(presence: PresenceStore) -> None:
    for n, device in enumerate(["phone", "laptop", "tablet"]):
        await presence.connected("aya", device, now_ms=T0 + n, ttl_ms=TTL)
    assert await one(presence, "aya", T0 + 10) == PresenceInfo(3, T0 + 2, None)

    assert await presence.disconnected("aya", "laptop", now_ms=T0 + 20) is False
    assert await presence.disconnected("aya", "phone", now_ms=T0 + 30) is False
    assert await one(presence, "aya", T0 + 30) == PresenceInfo(1, T0 + 2, None)
    assert await presence.disconnected("aya", "tablet", now_ms=T0 + 40) is True
    assert await one(presence, "aya", T0 + 50) == PresenceInfo(0, T0 + 2, T0 + 40)


async def test_forgetting_twice_or_an_unknown_connection_is_harmless(presence: PresenceStore) -> None:
    assert await presence.disconnected("nobody", "nothing", now_ms=T0) is False
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    assert await presence.disconnected("aya", "laptop", now_ms=T0 + 5) is False  # never connected
    assert await presence.disconnected("aya", "phone", now_ms=T0 + 10) is True
    assert await presence.disconnected("aya", "phone", now_ms=T0 + 20) is False
    assert await one(presence, "aya", T0 + 30) == PresenceInfo(0, T0, T0 + 10)
    assert await one(presence, "nobody", T0 + 30) == PresenceInfo(0, None, None)


async def test_a_new_connection_after_the_last_one_went_comes_online_again(presence: PresenceStore) -> None:
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.disconnected("aya", "phone", now_ms=T0 + 10)
    assert await presence.connected("aya", "phone2", now_ms=T0 + 20, ttl_ms=TTL) is True
    assert await one(presence, "aya", T0 + 20) == PresenceInfo(1, T0 + 20, T0 + 10)


# --- expiry and refresh --------------------------------------------------------------------------


async def test_connections_not_refreshed_stop_counting_at_their_expiry(presence: PresenceStore) -> None:
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.connected("aya", "laptop", now_ms=T0 + 1000, ttl_ms=TTL)
    assert (await one(presence, "aya", T0 + TTL - 1)).connections == 2
    assert (await one(presence, "aya", T0 + TTL)).connections == 1  # due at T0 + TTL: expired
    # Both expired, none reaped yet: gone when the last one expired.
    assert await one(presence, "aya", T0 + TTL + 1000) == PresenceInfo(0, T0 + 1000, T0 + TTL + 1000)
    # Only live connections count for coming online.
    assert await presence.connected("aya", "tablet", now_ms=T0 + TTL + 2000, ttl_ms=TTL) is True


async def test_refresh_keeps_connections_alive(presence: PresenceStore) -> None:
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.connected("ben", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.refresh([("aya", "phone"), ("ben", "phone")], now_ms=T0 + TTL - 1, ttl_ms=TTL)
    later = T0 + 2 * TTL - 2
    assert await presence.reap(now_ms=later, limit=100) == []
    infos = await presence.info(["aya", "ben"], now_ms=later)
    assert infos["aya"].connections == infos["ben"].connections == 1
    assert infos["aya"].last_gone_ms is None
    assert await presence.reap(now_ms=later + 1, limit=100) != []  # due now


async def test_refresh_registers_again_what_was_reaped_meanwhile(presence: PresenceStore) -> None:
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    assert await presence.reap(now_ms=T0 + TTL, limit=10) == [("aya", "phone")]
    await presence.refresh([("aya", "phone")], now_ms=T0 + TTL + 10, ttl_ms=TTL)  # the node lives on
    assert (await one(presence, "aya", T0 + TTL + 20)).connections == 1
    assert await presence.reap(now_ms=T0 + 2 * TTL, limit=10) == []
    # Registered properly, for disconnecting and reaping alike.
    assert await presence.disconnected("aya", "phone", now_ms=T0 + 2 * TTL) is True
    assert await presence.reap(now_ms=T0 + 3 * TTL, limit=10) == []


async def test_refreshing_often_leaves_one_registration(presence: PresenceStore) -> None:
    """However many refreshes came before, one expiry is returned once (the in-process adapter
    pushes an expiry per refresh and must skip or compact the stale ones)."""
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.connected("ben", "phone", now_ms=T0, ttl_ms=TTL)  # never refreshed
    for n in range(1, 1200):
        await presence.refresh([("aya", "phone")], now_ms=T0 + n, ttl_ms=TTL)
    assert await presence.reap(now_ms=T0 + TTL + 1198, limit=10) == [("ben", "phone")]
    assert await presence.reap(now_ms=T0 + TTL + 1199, limit=10) == [("aya", "phone")]
    assert await presence.reap(now_ms=T0 + 10 * TTL, limit=10) == []


async def test_refresh_of_nothing_and_info_of_nobody(presence: PresenceStore) -> None:
    await presence.refresh([], now_ms=T0, ttl_ms=TTL)
    await presence.activity({})
    assert await presence.info([], now_ms=T0) == {}
    assert await presence.info(["ghost", "ghost", "shade"], now_ms=T0) == {
        "ghost": PresenceInfo(0, None, None),
        "shade": PresenceInfo(0, None, None),
    }


# --- reaping -------------------------------------------------------------------------------------


async def test_reap_returns_only_expired_connections_and_records_when_users_went(
    presence: PresenceStore,
) -> None:
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    await presence.connected("aya", "laptop", now_ms=T0 + 100, ttl_ms=TTL)
    await presence.connected("ben", "phone", now_ms=T0 + 50, ttl_ms=TTL)
    await presence.connected("ben", "laptop", now_ms=T0 + 5000, ttl_ms=TTL)  # still live below
    await presence.connected("cai", "phone", now_ms=T0 + 10_000, ttl_ms=TTL)

    now = T0 + TTL + 1000
    reaped = await reap_all(presence, now)
    assert sorted(reaped) == [("aya", "laptop"), ("aya", "phone"), ("ben", "phone")]
    assert await presence.reap(now_ms=now, limit=10) == []  # each once
    infos = await presence.info(["aya", "ben", "cai"], now_ms=now)
    assert infos["aya"] == PresenceInfo(0, T0 + 100, T0 + 100 + TTL)  # the last one's expiry
    assert infos["ben"] == PresenceInfo(1, T0 + 5000, None)  # ben's laptop is live: not gone
    assert infos["cai"] == PresenceInfo(1, T0 + 10_000, None)
    # What was reaped is forgotten.
    assert await presence.disconnected("aya", "phone", now_ms=now) is False


async def test_reap_takes_at_most_limit(presence: PresenceStore) -> None:
    expected = {(f"user{n}", f"conn{n}") for n in range(7)}
    for user, connection in expected:
        await presence.connected(user, connection, now_ms=T0, ttl_ms=TTL)
    batches = [await presence.reap(now_ms=T0 + TTL, limit=3) for _ in range(4)]
    assert [len(batch) for batch in batches] == [3, 3, 1, 0]
    assert {pair for batch in batches for pair in batch} == expected
    assert await presence.reap(now_ms=T0 + TTL, limit=0) == []


async def test_last_gone_is_never_moved_back_by_a_late_reap(presence: PresenceStore) -> None:
    await presence.connected("aya", "old", now_ms=T0, ttl_ms=TTL)  # its node dies
    back = T0 + TTL + 100
    assert await presence.connected("aya", "new", now_ms=back, ttl_ms=TTL) is True
    assert await presence.disconnected("aya", "new", now_ms=back + 100) is True
    assert await presence.reap(now_ms=back + 200, limit=10) == [("aya", "old")]
    assert (await one(presence, "aya", back + 300)).last_gone_ms == back + 100


async def test_disconnecting_an_expired_connection_before_the_reap_tells_it_went(
    presence: PresenceStore,
) -> None:
    """Nobody else would: what disconnected forgets, reap does not return."""
    await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
    assert await presence.disconnected("aya", "phone", now_ms=T0 + TTL + 500) is True
    assert await presence.reap(now_ms=T0 + TTL + 600, limit=10) == []
    assert (await one(presence, "aya", T0 + TTL + 700)).last_gone_ms == T0 + TTL + 500


async def test_concurrent_reapers_get_each_expired_connection_exactly_once(nodes: Nodes) -> None:
    first = nodes.open()
    expiries: dict[str, int] = {}
    expected = set()
    for n in range(150):
        user, connection = f"user{n % 40}", f"conn{n}"
        await first.connected(user, connection, now_ms=T0 + n, ttl_ms=TTL)
        expiries[user] = T0 + n + TTL
        expected.add((user, connection))
    await first.connected("live", "conn", now_ms=T0 + TTL, ttl_ms=TTL)
    reapers = [nodes.open() for _ in range(6)]

    async def drain(node: PresenceStore) -> list[tuple[str, str]]:
        got = []
        while batch := await node.reap(now_ms=T0 + 2 * TTL - 1, limit=7):
            got += batch
        return got

    results = await asyncio.gather(*(drain(node) for node in reapers))
    everything = [pair for got in results for pair in got]
    assert len(everything) == len(set(everything)) == len(expected)  # nobody got one twice
    assert set(everything) == expected
    assert await first.reap(now_ms=T0 + 2 * TTL - 1, limit=1000) == []
    infos = await first.info([*expiries, "live"], now_ms=T0 + 2 * TTL - 1)
    for user, expiry in expiries.items():
        assert infos[user].connections == 0
        assert infos[user].last_gone_ms == expiry
    assert infos["live"].connections == 1


# --- activity ------------------------------------------------------------------------------------


async def test_activity_only_ever_raises_last_active(presence: PresenceStore) -> None:
    await presence.activity({"aya": T0 + 100, "ben": T0})
    await presence.activity({"aya": T0 + 50})  # late report: ignored
    assert (await one(presence, "aya", T0 + 200)).last_active_ms == T0 + 100
    await presence.connected("aya", "phone", now_ms=T0 + 70, ttl_ms=TTL)  # activity too, but older
    assert (await one(presence, "aya", T0 + 200)).last_active_ms == T0 + 100
    await presence.activity({"aya": T0 + 300})
    infos = await presence.info(["aya", "ben"], now_ms=T0 + 400)
    assert infos["aya"] == PresenceInfo(1, T0 + 300, None)
    assert infos["ben"] == PresenceInfo(0, T0, None)


async def test_many_users_in_one_call(presence: PresenceStore) -> None:
    """Batches span shards and script chunks (600 users > 256 per script call)."""
    users = [f"user{n}" for n in range(600)]
    await presence.refresh([(user, "conn") for user in users], now_ms=T0, ttl_ms=TTL)
    await presence.activity({user: T0 + n for n, user in enumerate(users)})
    infos = await presence.info(users, now_ms=T0 + 1)
    assert infos == {user: PresenceInfo(1, T0 + n, None) for n, user in enumerate(users)}
    assert len(await reap_all(presence, T0 + TTL, limit=250)) == 600


# --- Redis only ----------------------------------------------------------------------------------


async def test_open_presence_follows_the_settings(redis_server: RedisProcess) -> None:
    local = await open_presence(Settings())
    assert isinstance(local, LocalPresence)
    await local.close()
    shared = await open_presence(Settings(redis_url=redis_server.url, redis_sharded=True))
    assert isinstance(shared, RedisPresence)
    await shared.close()


async def test_redis_keeps_nothing_forever(redis_server: RedisProcess) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    presence = RedisPresence(redis_server.url, prefix=prefix)
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL)
        await presence.connected("ben", "phone", now_ms=T0, ttl_ms=TTL)
        await presence.disconnected("aya", "phone", now_ms=T0 + 10)
        assert await presence.reap(now_ms=T0 + TTL, limit=10) == [("ben", "phone")]
        keys = sorted(await client.keys(f"{{{prefix}:*"))
        assert keys == [f"{{{prefix}:0}}:times:aya", f"{{{prefix}:0}}:times:ben"]
        for key in keys:
            assert 0 < await client.pttl(key) <= RETENTION_MS
    finally:
        await presence.close()
        await client.aclose()


async def test_an_unreachable_redis_raises_presence_unavailable_and_recovers(own_redis: RedisProcess) -> None:
    presence = RedisPresence(own_redis.url, timeout_s=1.0)
    try:
        assert await presence.connected("aya", "phone", now_ms=T0, ttl_ms=TTL) is True
        own_redis.stop()
        with pytest.raises(PresenceUnavailable):
            await presence.info(["aya"], now_ms=T0)
        with pytest.raises(PresenceUnavailable):
            await presence.reap(now_ms=T0, limit=10)
        own_redis.start()  # empty, and without the scripts: they are loaded again
        await presence.refresh([("aya", "phone")], now_ms=T0 + 10, ttl_ms=TTL)  # rebuilds
        assert (await one(presence, "aya", T0 + 20)).connections == 1
        assert await presence.disconnected("aya", "phone", now_ms=T0 + 30) is True
    finally:
        await presence.close()


def test_a_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisPresence("redis://127.0.0.1:1/0", prefix="a{b}")
