"""The Bus contract (server/bus/base.py), written once and run against every adapter.

Tests about delivery *between* nodes take the ``nodes`` fixture, which the in-process adapter
cannot provide (it is one node by design): those skip for it, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from server.bus.base import Bus
from server.bus.local import LocalBus
from server.bus.redis import RedisBus
from tests.support.redis import RedisCluster as RedisClusterProcess
from tests.support.redis import RedisProcess

ADAPTERS = ["local", "redis"]
_channel_names = itertools.count()


class Node:
    """A bus with a recording handler: what one gateway node would see."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.received: list[tuple[str, bytes]] = []
        self.states: list[tuple[bool, int | None]] = []
        bus.set_handler(lambda channel, payload: self.received.append((channel, payload)))
        bus.set_state_handler(lambda healthy, since: self.states.append((healthy, since)))


async def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def channel() -> str:
    return f"test:{next(_channel_names)}"


@contextlib.asynccontextmanager
async def redis_nodes(
    url: str, count: int = 2, *, sharded: bool = False, cluster: bool = False
) -> AsyncIterator[list[Node]]:
    """``count`` nodes on Redis at ``url``, healthy, and closed whatever the test does (a bus
    left open would warn into whichever test runs next on this worker)."""
    made = [Node(await RedisBus.open(url, sharded=sharded, cluster=cluster)) for _ in range(count)]
    try:
        await eventually(lambda: all(node.bus.healthy for node in made))
        yield made
    finally:
        for node in made:
            await node.bus.close()


async def open_node(adapter: str, redis_url: str) -> Node:
    if adapter == "local":
        return Node(LocalBus())
    node = Node(await RedisBus.open(redis_url))
    await eventually(lambda: node.bus.healthy)
    return node


@pytest.fixture(params=ADAPTERS)
async def node(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Node]:
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    made = await open_node(request.param, redis.url if redis else "")
    yield made
    await made.bus.close()


@pytest.fixture(params=ADAPTERS)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Node, Node]]:
    if request.param == "local":
        pytest.skip("the in-process bus is a single node by design")
    redis: RedisProcess = request.getfixturevalue("redis_server")
    a, b = await open_node("redis", redis.url), await open_node("redis", redis.url)
    yield a, b
    await a.bus.close()
    await b.bus.close()


async def test_a_subscriber_gets_the_exact_bytes_in_publish_order(node: Node) -> None:
    name = channel()
    await node.bus.subscribe(name)
    payloads = [f"message {n}".encode() for n in range(50)]
    for payload in payloads:
        node.bus.publish(name, payload)
    # Local delivery is immediate, inside publish(), whatever the adapter.
    assert node.received == [(name, payload) for payload in payloads]


async def test_no_delivery_without_a_subscription(node: Node) -> None:
    name = channel()
    node.bus.publish(name, b"nobody listens")
    await node.bus.subscribe(name)
    await node.bus.unsubscribe(name)
    node.bus.publish(name, b"nobody listens any more")
    await asyncio.sleep(0.2)
    assert node.received == []


async def test_the_bus_is_healthy_when_up(node: Node) -> None:
    assert node.bus.healthy


async def test_a_publish_reaches_every_subscribed_node_once(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    name, other = channel(), channel()
    await a.bus.subscribe(name)
    await b.bus.subscribe(name)
    await b.bus.subscribe(other)
    for n in range(20):
        a.bus.publish(name, f"{n}".encode())
    a.bus.publish(other, b"only b")
    expected = [(name, f"{n}".encode()) for n in range(20)]
    await eventually(lambda: len(b.received) == 21)
    assert b.received[:20] == expected  # in publish order
    assert b.received[20] == (other, b"only b")
    await asyncio.sleep(0.2)
    assert a.received == expected  # once: locally, not again from Redis


async def test_unsubscribed_nodes_get_nothing(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    name = channel()
    await b.bus.subscribe(name)
    await b.bus.unsubscribe(name)
    a.bus.publish(name, b"gone")
    await asyncio.sleep(0.3)
    assert b.received == []


async def test_an_outage_degrades_to_local_delivery_and_recovers(own_redis: RedisProcess) -> None:
    async with redis_nodes(own_redis.url) as (a, b):
        name = channel()
        await a.bus.subscribe(name)
        await b.bus.subscribe(name)
        own_redis.stop()
        await eventually(lambda: not a.bus.healthy and not b.bus.healthy, timeout=5)
        assert a.states[-1][0] is False and b.states[-1][0] is False
        a.bus.publish(name, b"during the outage")
        assert a.received[-1] == (name, b"during the outage")  # local delivery goes on

        own_redis.start()  # same port: the nodes reconnect and restore their subscriptions
        await eventually(lambda: a.bus.healthy and b.bus.healthy, timeout=10)
        healthy, since = a.states[-1]
        assert healthy is True and since is not None  # told when the outage began, to fill the gap
        a.bus.publish(name, b"after")
        await eventually(lambda: (name, b"after") in b.received)
        assert (name, b"during the outage") not in b.received  # dropped: storage fills such gaps


async def test_sharded_pubsub_on_a_single_redis(redis_server: RedisProcess) -> None:
    """SSUBSCRIBE/SPUBLISH, which Redis Cluster routes by shard, also work on one Redis 7."""
    async with redis_nodes(redis_server.url, sharded=True) as (a, b):
        name = channel()
        await b.bus.subscribe(name)
        await asyncio.sleep(0.1)
        a.bus.publish(name, b"sharded")
        await eventually(lambda: b.received == [(name, b"sharded")])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcess]:
    made = RedisClusterProcess(tmp_path / "cluster").start()
    try:
        yield made
    finally:
        made.stop()


async def publish_and_receive(cluster: RedisClusterProcess, a: Node, b: Node, names: list[str]) -> None:
    """``a`` publishes once on each of ``names``, to which ``b`` is subscribed: ``b`` gets each once."""
    # A subscription is confirmed to the bus, not yet necessarily listed by every shard, when
    # subscribe returns; pub/sub keeps nothing for a channel nobody listens to yet.
    await eventually(lambda: set(names) <= cluster.shard_channels())
    b.received.clear()
    for name in names:
        a.bus.publish(name, name.encode())
    await eventually(lambda: len(b.received) == len(names))
    assert sorted(b.received) == sorted((name, name.encode()) for name in names)


async def test_a_redis_cluster_through_sharded_pubsub(cluster: RedisClusterProcess) -> None:
    """Channels spread over three shards; each node reads every shard it listens to at once."""
    async with redis_nodes(cluster.url, cluster=True) as (a, b):
        names = [channel() for _ in range(30)]  # hash slots all over the three shards
        for name in names:
            await b.bus.subscribe(name)
        await publish_and_receive(cluster, a, b, names)


async def test_a_cluster_node_subscribing_to_many_channels_at_once(cluster: RedisClusterProcess) -> None:
    """Concurrent subscriptions open shard connections while the reader is looking at them
    (redis-py lists a shard's connection before it is connected): every channel still works."""
    async with redis_nodes(cluster.url, cluster=True) as (a, b):
        names = [channel() for _ in range(30)]
        await asyncio.gather(*(b.bus.subscribe(name) for name in names))
        await publish_and_receive(cluster, a, b, names)
        assert b.bus.healthy and b.states == [(True, b.states[0][1])]  # never lost its link


async def test_a_cluster_node_notices_a_lost_shard_connection(cluster: RedisClusterProcess) -> None:
    """Every shard drops its pub/sub clients: the node sees its link lost, reconnects, restores
    every subscription and says so (a deaf node that still calls itself healthy would lose
    every message published meanwhile)."""
    async with redis_nodes(cluster.url, cluster=True) as (a, b):
        names = [channel() for _ in range(30)]
        for name in names:
            await b.bus.subscribe(name)
        await publish_and_receive(cluster, a, b, names)
        cluster.kill_pubsub_clients()
        await eventually(lambda: len(b.states) >= 3 and b.bus.healthy)  # healthy, lost, healthy again
        assert [healthy for healthy, _ in b.states[-2:]] == [False, True]
        await publish_and_receive(cluster, a, b, names)
