"""The Redis bus: pub/sub between gateway nodes, with local delivery that never waits for Redis.

Each node

- delivers its own publishes to its own subscribers at once, inside :meth:`RedisBus.publish`,
  exactly like the in-process bus, so local delivery keeps working through a Redis outage;
- sends every publish to Redis behind its node id, and ignores its own messages when they come
  back (they were delivered locally already);
- holds two Redis connections: one for publishing, drained by a single task from an ordered
  outbox in pipelined batches (publish order is preserved), and one for its subscriptions, one
  SUBSCRIBE per channel per node (the hub counts local demand).

With ``sharded=True`` it uses sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7+), which Redis
Cluster routes to the shard owning the channel; ``cluster=True`` also talks to a cluster with
redis-py's cluster client. redis-py's asyncio PubSub hands sharded messages out through
``get_message()`` with type ``smessage`` (``get_sharded_message()`` on a cluster).

Outages: the subscription connection (on a cluster, any shard's) notices a broken link at once
(EOF) and a hung Redis within ``health_interval`` (a PING on the publishing connection); every
command and every close has a time bound, and the supervisor outlives any error a link raises.
The bus then reports itself unhealthy (``/healthz`` turns 503 naming the bus), drops what it
cannot publish — storage has it, the bus is only a doorbell — and reconnects with back-off.
Once every subscription is restored it reports healthy again and calls the state handler with
the outage window, so the gateway can fill the gap from storage (see
``Gateway.bus_state_changed``).

``tsudoi doctor`` asks :func:`check` (a fresh connection: reachable, and recent enough for the
configured mode); ``/healthz`` asks a running bus its :attr:`RedisBus.healthy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import Settings, redact_url
from ..health import Finding
from ..logs import OutageLog
from .base import Handler, StateHandler

log = logging.getLogger(__name__)

_NODE_ID_BYTES = 16
_BATCH = 512
_BACKOFF_MAX_S = 2.0
#: Sharded pub/sub (SSUBSCRIBE/SPUBLISH) arrived in Redis 7.0.
SHARDED_PUBSUB_SINCE = (7, 0)


def _drop(channel: str, payload: bytes) -> None:
    return None


def _ignore_state(healthy: bool, down_since_ms: int | None) -> None:
    return None


def _ignore_duration(seconds: float) -> None:
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


async def check(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: Redis at ``redis_url`` answers, and has sharded pub/sub if the
    settings ask for it. Opens one short-lived connection of its own, not a bus."""
    try:
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:  # Settings.validate refuses these first; kept for Settings built in code
        return Finding("bus", False, f"TSUDOI_REDIS_URL is malformed: {exc}")
    try:
        await client.ping()
        info = await client.info("server")
    except (RedisError, OSError) as exc:
        return Finding(
            "bus",
            False,
            f"Redis at {redact_url(settings.redis_url)} does not answer ({exc}): is it running and reachable?",
        )
    finally:
        await client.aclose()
    version = str(info.get("redis_version", "?"))
    if (settings.redis_sharded or settings.redis_cluster) and _version(version) < SHARDED_PUBSUB_SINCE:
        return Finding(
            "bus",
            False,
            f"Redis {version} has no sharded pub/sub (needs 7.0+): upgrade or unset TSUDOI_REDIS_SHARDED",
        )
    mode = info.get("redis_mode", "standalone")
    return Finding("bus", True, f"Redis {version} ({mode}) at {redact_url(settings.redis_url)}")


class RedisBus:
    """Bus port over Redis pub/sub. Build with :meth:`open`; it connects in the background."""

    def __init__(
        self,
        url: str,
        *,
        sharded: bool = False,
        cluster: bool = False,
        health_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        observe_batch: Callable[[float], None] | None = None,
    ) -> None:
        self._url = url
        self._cluster = cluster
        self._sharded = sharded or cluster
        self._health_interval_s = health_interval_s
        #: How long one command, or closing a connection, may take before the link counts as lost.
        self._command_timeout_s = max(1.0, health_interval_s * 2)
        #: How long a batch of subscriptions may take until Redis has confirmed every channel.
        self._confirm_timeout_s = max(5.0, health_interval_s * 5)
        self._clock = clock
        #: Told how long each pipelined publish batch took to execute (metrics).
        self._observe_batch = observe_batch or _ignore_duration
        self.node_id = secrets.token_hex(_NODE_ID_BYTES // 2).encode()
        self._handler: Handler = _drop
        self._on_state: StateHandler = _ignore_state
        self._channels: set[str] = set()
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._healthy = False
        self._down_since_ms: int | None = int(clock() * 1000)
        self._client: Any = None
        self._pubsub: Any = None
        self._link_lost = asyncio.Event()
        #: Cluster only: one reader task per shard connection, by node name.
        self._shard_readers: dict[str, asyncio.Task[None]] = {}
        self._shard_readers_changed = asyncio.Event()
        #: Subscriptions sent but not yet confirmed by Redis, by channel.
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        #: One line when the link goes (with its cause), one when every subscription is back;
        #: the reconnect attempts in between are counted, not logged.
        self._outage = OutageLog(
            "redis bus",
            log,
            expected=(RedisConnectionError, RedisTimeoutError),
            meanwhile="delivering locally only",
        )

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        sharded: bool = False,
        cluster: bool = False,
        observe_batch: Callable[[float], None] | None = None,
    ) -> RedisBus:
        bus = cls(url, sharded=sharded, cluster=cluster, observe_batch=observe_batch)
        bus._tasks = [
            asyncio.create_task(bus._supervise(), name="redis-bus-supervisor"),
            asyncio.create_task(bus._publish_loop(), name="redis-bus-publisher"),
        ]
        return bus

    # --- the port ---------------------------------------------------------------------------

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_state_handler(self, handler: StateHandler) -> None:
        self._on_state = handler

    def publish(self, channel: str, payload: bytes) -> None:
        if channel in self._channels:
            self._handler(channel, payload)
        if self._healthy:
            self._outbox.append((channel, self.node_id + payload))
            self._outbox_ready.set()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._healthy:
            try:
                await self._subscribe([channel])
            except (RedisError, OSError, TimeoutError) as exc:
                # Restored with every other channel when the link is back.
                self._lose_link(exc)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if self._healthy and pubsub is not None:  # else the reconnect leaves it out
            try:
                async with asyncio.timeout(self._command_timeout_s):
                    await (pubsub.sunsubscribe if self._sharded else pubsub.unsubscribe)(channel)
            except (RedisError, OSError, TimeoutError) as exc:
                self._lose_link(exc)

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def publish_now(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish ``messages`` in order and return once Redis has them all, as one node's
        publishes: for a process that publishes and exits (``tsudoi admin``, see
        :mod:`server.relay`), on a bus made by the constructor rather than :meth:`open` (it
        runs no background task). Raises RedisError or OSError when Redis cannot be reached."""
        try:
            await self._connect()
            pipe = self._client.pipeline(transaction=False)
            for channel, payload in messages:
                (pipe.spublish if self._sharded else pipe.publish)(channel, self.node_id + payload)
            await pipe.execute()
        finally:
            await self._disconnect()

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._disconnect()

    # --- connection management --------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = 0.05
        while not self._closed:
            reader: asyncio.Task[None] | None = None
            try:
                await self._connect()
                reader = asyncio.create_task(self._read())
                if self._channels:  # every subscription restored before anyone is told
                    await self._subscribe(sorted(self._channels))
                self._set_healthy(True)
                backoff = 0.05
                await self._watch(reader)
            except Exception as exc:  # the supervisor outlives anything a link does
                # The weather (RedisError, OSError, TimeoutError) is counted and logged once per
                # outage; anything else is logged once with its traceback. Either way: reconnect.
                self._outage.failed(exc)
            finally:
                if reader is not None:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
            self._set_healthy(False)
            self._fail_confirmations()
            await self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _connect(self) -> None:
        timeout = self._command_timeout_s
        if self._cluster:
            self._client = RedisCluster.from_url(
                self._url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        else:
            self._client = aioredis.from_url(
                self._url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        await self._client.ping()
        self._pubsub = self._client.pubsub()
        self._link_lost.clear()
        if not self._cluster:
            # A standalone PubSub opens its connection on first use; make it exist now so a
            # broken link is noticed even before the first subscription.
            await self._pubsub.connect()

    async def _subscribe(self, channels: list[str]) -> None:
        """Subscribe and wait until Redis has confirmed every channel (the reader sees the
        confirmations): only then will messages published to them reach this node."""
        pubsub = self._pubsub
        if pubsub is None:  # between two connections: restored with the others once connected
            raise RedisConnectionError("the subscription connection is being replaced")
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[None]] = []
        # Bounded as a whole, sending included: a command that never returns would otherwise
        # hold the caller (and the supervisor restoring subscriptions) for ever.
        async with asyncio.timeout(self._confirm_timeout_s):
            for start in range(0, len(channels), 1000):
                chunk = channels[start : start + 1000]
                for name in chunk:
                    future = self._confirmations.get(name)
                    if future is None or future.done():
                        future = self._confirmations[name] = loop.create_future()
                    waiting.append(future)
                await (pubsub.ssubscribe if self._sharded else pubsub.subscribe)(*chunk)
                self._shard_readers_changed.set()  # a cluster may have opened a new shard connection
            await asyncio.gather(*waiting)

    def _fail_confirmations(self) -> None:
        pending, self._confirmations = self._confirmations, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionError("redis link lost before the subscription was confirmed"))
                future.exception()  # retrieved: a waiter may be gone

    async def _disconnect(self) -> None:
        readers, self._shard_readers = list(self._shard_readers.values()), {}
        for task in readers:
            task.cancel()
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        for closer in (getattr(pubsub, "aclose", None), getattr(client, "aclose", None)):
            if closer is not None:
                # A close that hangs on a dead peer must not hold the reconnect (or shutdown).
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._command_timeout_s):
                        await closer()

    async def _watch(self, reader: asyncio.Task[None]) -> None:
        """Wait until the reader stops or the link breaks; PING meanwhile to notice a hung Redis."""
        lost = asyncio.create_task(self._link_lost.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {reader, lost}, timeout=self._health_interval_s, return_when=asyncio.FIRST_COMPLETED
                )
                if reader in done:
                    reader.result()  # raises what broke it
                    return
                if lost in done:
                    raise ConnectionError("redis link lost")
                await asyncio.wait_for(self._client.ping(), timeout=self._health_interval_s * 2)
        finally:
            lost.cancel()

    async def _read(self) -> None:
        """Deliver messages until the link breaks. A cluster has one connection per shard, each
        read by its own task (reading them in turn would make one shard's messages wait out
        another's read timeout)."""
        if not self._cluster:
            await self._read_from(self._pubsub)
            return
        mapping = self._pubsub.node_pubsub_mapping
        wake = self._shard_readers_changed
        wake.set()
        while True:
            await wake.wait()
            wake.clear()
            for name, task in list(self._shard_readers.items()):
                if task.done():
                    task.result()  # raises what broke that shard's link
                    del self._shard_readers[name]  # retired by redis-py: its successor gets a reader
            for name, shard in list(mapping.items()):
                if name not in self._shard_readers:
                    task = self._shard_readers[name] = asyncio.create_task(self._read_from(shard, name))
                    task.add_done_callback(lambda _: wake.set())

    async def _read_from(self, pubsub: Any, shard: str | None = None) -> None:
        """Deliver what ``pubsub`` receives: the one subscription connection, or on a cluster
        the connection to the shard named ``shard``. Returns when redis-py retires that shard's
        connection; raises when the link breaks."""
        node_id = self.node_id
        while True:
            if pubsub.connection is None:
                # redis-py maps a shard's PubSub before its first SSUBSCRIBE has connected it,
                # and leaves one it retired (after a slots refresh) without a connection; reading
                # either raises RuntimeError.
                if shard is None:
                    raise RedisConnectionError("the subscription connection was closed")
                if self._pubsub is None or self._pubsub.node_pubsub_mapping.get(shard) is not pubsub:
                    return
                await asyncio.sleep(0.05)  # its first SSUBSCRIBE is on the way
                continue
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except RuntimeError:
                if pubsub.connection is not None:
                    raise  # not the missing connection the check above deals with
                continue  # closed between the check and the read: the check decides
            if message is None:
                continue
            kind = message["type"]
            if kind in ("subscribe", "ssubscribe"):
                name = message["channel"]
                future = self._confirmations.pop(name.decode() if isinstance(name, bytes) else name, None)
                if future is not None and not future.done():
                    future.set_result(None)
                continue
            if kind not in ("message", "smessage"):
                continue
            data: bytes = message["data"]
            if data[:_NODE_ID_BYTES] == node_id:
                continue  # our own publish, delivered locally already
            channel = message["channel"]
            self._handler(channel.decode() if isinstance(channel, bytes) else channel, data[_NODE_ID_BYTES:])

    def _lose_link(self, exc: BaseException) -> None:
        # The command's own error is the better cause: the supervisor only sees "link lost".
        self._outage.failed(exc)
        self._link_lost.set()

    def _set_healthy(self, healthy: bool) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        now_ms = int(self._clock() * 1000)
        if healthy:
            down_since, self._down_since_ms = self._down_since_ms, None
            if not self._outage.recovered():  # the first connection; a return is logged by it
                log.info("redis bus: connected, %d channels subscribed", len(self._channels))
            self._on_state(True, down_since)
        else:
            self._down_since_ms = now_ms
            self._outbox.clear()  # storage has it all; the gap is filled from there
            self._on_state(False, now_ms)

    # --- publishing -------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while not self._closed:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox and self._healthy:
                batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
                try:
                    pipe = self._client.pipeline(transaction=False)
                    for channel, data in batch:
                        (pipe.spublish if self._sharded else pipe.publish)(channel, data)
                    started = time.perf_counter()
                    await pipe.execute()
                    self._observe_batch(time.perf_counter() - started)
                except (RedisError, OSError) as exc:
                    self._lose_link(exc)
                    break
