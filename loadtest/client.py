"""A lean protocol client for load: connect, authenticate, send requests, record events.

It speaks protocol v1 through the shared codec (:mod:`protocol.codec`): the frames it sends
are made by ``encode`` (``auth`` from the protocol's own ``Auth`` and ``Cursors``), and a refused
connection is read by :class:`~protocol.errors.CloseCode` and ``parse_retry_after``. It records,
for every ``post.created`` event, the post id and the moment it arrived; nothing else is kept, so
one process can hold thousands of connections.

What it receives is read as plain JSON with ``orjson.loads``, not typed by the codec's
``decode_server_frame``, on purpose. Events: this client is the load generator and its read loop
the hot path; parsing 100,000 ``post.created`` event frames took 0.77 s with ``orjson.loads`` and
2.65 s with ``decode_server_frame`` (best of 3 on one busy core, 2026-12-06), and a slower reader
would measure the client rather than the server. ``hello`` and ``ready``: the same client runs
against :mod:`loadtest.ceiling`, which sends only the fields read here, not whole frames.

Resuming, it sends its cursors and, to a server whose ``hello.limits`` has ``resume_window_ms``
(1.8.0), the positions it received within that window behind them (``auth.recent``, PROTOCOL.md
section 6.5), kept by the SDK's own :class:`~protocol.recent.RecentPositions`. It does not drop a
repeated event: it counts it (:attr:`LoadClient.repeated`), and records it like any other, since
exactly-once is what a load test measures (:meth:`LoadClient.accounting`). It asks for
compact events (section 3.5) from a server that offers them, as Tsudoi's own page does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from protocol import messages as m
from protocol.codec import MAX_SERVER_FRAME_BYTES, PROTOCOL_NAME, encode, parse_retry_after
from protocol.errors import CloseCode
from protocol.recent import RecentPositions, encode_auth, floor_id

from .wire import Closed, Socket, open_socket

_ids = itertools.count(1)


@dataclass(frozen=True)
class Accounting:
    """Exactly-once, for one client: of the ``expected`` posts, how many never came (``lost``)
    and how many extra copies came (``duplicated``: received minus distinct received)."""

    expected: int
    received: int
    lost: int
    duplicated: int


class LoadClient:
    #: The current connection: each (re)connection replaces it.
    ws: Socket

    def __init__(self, *, record: bool, ws_url: str, token: str) -> None:
        self.record = record
        self._ws_url, self._token = ws_url, token
        #: Whether the last handshake resumed everything missed (``ready.recovered``).
        self.recovered: bool | None = None
        #: Handshakes whose ``ready.reload`` named the following stream: the server said "too
        #: much to replay, reload the view" rather than replaying.
        self.reloads = 0
        #: (post id, arrival time) for every post.created event received.
        self.received: list[tuple[str, float]] = []
        #: (author id, arrival time, ready time) for every word of someone's safety: a
        #: ``safety.status`` event, or the ``safety`` notification that comes with it (the
        #: resumable one). The ready time is when the connection it came on had its ``ready``.
        self.safety: list[tuple[str, float, float]] = []
        #: (post id, arrival time, ready time) for every ``announcement`` notification (a
        #: priority event).
        self.announcements: list[tuple[str, float, float]] = []
        #: When the current connection had its ``ready`` (wall clock): an event sent while this
        #: client was away could not reach it before then.
        self.ready_at = 0.0
        self.errors: dict[str, int] = {}
        self.close_code: int | None = None
        #: The resume cursors of the two streams the client reads, each the greatest ``pos`` seen
        #: (PROTOCOL.md 6.2). Until a stream's first event they are the moment the client first
        #: connected ("a cursor before your first event"), and always sent: a client without a
        #: ``following`` cursor is resumed nothing on that stream, so a post made while it was
        #: away (a reconnect storm before its first post arrived) would never reach it.
        moment = floor_id(int(time.time() * 1000))
        self.cursor: str = moment
        self.notifications_cursor: str = moment
        #: Nothing before this is wanted: a resume's look-back could reach past the first connect.
        self._moment = moment
        #: The positions received within the window behind each stream's greatest (auth.recent).
        self.recent = RecentPositions()
        #: Stream events received at a position already received (within the window).
        self.repeated = 0
        #: Whether the last auth carried ``recent``.
        self.sent_recent = False
        #: How often the server told this client to come back later (close 4007).
        self.admission_waits = 0
        #: Authenticated and reading: requests are refused (ConnectionError) while it is not,
        #: as during a reconnect.
        self.live = False
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, ws_url: str, token: str, *, record: bool = True) -> LoadClient:
        client = cls(record=record, ws_url=ws_url, token=token)
        await client._admitted()
        return client

    async def reconnect(self, slots: asyncio.Semaphore | None = None) -> None:
        """Drop the connection (if it is still open) and come back with the cursors and the
        recent positions, as a client does after a blink or after the server closed it.

        ``slots`` bounds the handshakes this process has in flight (a storm's, see
        :data:`loadtest.workers.STORM_IN_FLIGHT`): a slot is held from the TCP connect until
        ``ready`` (or a refusal), not while waiting to retry."""
        await self.close()
        await self._admitted(slots)

    async def _admitted(self, slots: asyncio.Semaphore | None = None) -> None:
        """Connect and start, waiting as told and trying again while the node refuses with 4007
        (admission control in a storm), as PROTOCOL.md section 8.5 asks of every client."""
        while True:
            async with slots or contextlib.nullcontext():
                self.ws = await connect_client(self._ws_url)
                try:
                    await self._start()
                    return
                except Closed as closed:
                    if closed.code != CloseCode.TRY_AGAIN_LATER:
                        raise
                    wait_ms = parse_retry_after(closed.reason)
                    if wait_ms is None:
                        raise
            self.admission_waits += 1
            await asyncio.sleep(wait_ms / 1000)

    async def _start(self) -> None:
        hello = orjson.loads(await self.ws.recv())
        cursors = {"following": self.cursor, "notifications": self.notifications_cursor}
        recent = None
        limits = hello.get("limits") or {}
        # Only to a server that looks back (1.8.0; an older one closes with 4502), and only once
        # something is held: with nothing held, the look-back would only resend the window.
        if "resume_window_ms" in limits:
            self.recent.window_ms = limits["resume_window_ms"]
        self.sent_recent = "resume_window_ms" in limits and any(map(self.recent.greatest, cursors))
        if self.sent_recent:
            limit = min(limits.get("resume_recent_max", m.RESUME_RECENT_MAX), m.RESUME_RECENT_MAX)
            recent = self.recent.for_auth(cursors, limit, dict.fromkeys(cursors, self._moment))
        # Compact events when offered (1.15.0), as Tsudoi's own page asks for them: what is read
        # here (ids, kinds, positions) is never left out of them (PROTOCOL.md section 3.5).
        compact = "compact" in (hello.get("features") or ())
        await self.ws.send(encode_auth(self._token, m.Cursors(**cursors), recent, compact=compact).decode())
        ready = orjson.loads(await self.ws.recv())
        if ready.get("op") != "ready":
            await self.ws.close()
            raise ConnectionError(f"auth refused: {ready}")
        self.ready_at = time.time()
        self.recovered = ready.get("recovered")
        if "following" in (ready.get("reload") or ()):
            # Too much missed to replay (PROTOCOL.md 6.4): a real client reloads its timeline.
            self.reloads += 1
        self._reader = asyncio.create_task(self._read())
        self.live = True
        self._heartbeat = asyncio.create_task(self._beat(hello["heartbeat_interval_ms"] / 1000))

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                now = time.time()
                frame = orjson.loads(message)  # not the codec: the hot path (module docstring)
                op = frame["op"]
                if op == "event":
                    stream, kind, pos = frame.get("stream"), frame["type"], frame.get("pos")
                    if self.sent_recent and pos is not None and pos < self._moment:
                        continue  # a look-back reached before this client's first connect
                    if pos is not None and not self.recent.add(stream, pos):
                        self.repeated += 1
                    # The greatest, not the last: a join's backfill may follow a live event
                    # with a greater pos (PROTOCOL.md 6.2).
                    if stream == "following":
                        self.cursor = max(self.cursor, frame["pos"])
                    elif stream == "notifications":
                        self.notifications_cursor = max(self.notifications_cursor, frame["pos"])
                    if not self.record:
                        continue
                    if kind == "post.created":
                        self.received.append((frame["data"]["post"]["id"], now))
                    elif kind == "safety.status":
                        self.safety.append((frame["data"]["status"]["user"]["id"], now, self.ready_at))
                    elif kind == "notification":
                        notice = frame["data"]["notification"]
                        if notice["kind"] == "safety":
                            self.safety.append((notice["actor"]["id"], now, self.ready_at))
                        elif notice["kind"] == "announcement":
                            self.announcements.append((notice["post_id"], now, self.ready_at))
                elif op in ("ok", "error"):
                    if op == "error":
                        self.errors[frame["code"]] = self.errors.get(frame["code"], 0) + 1
                    future = self._pending.pop(frame.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
        finally:
            self.close_code = self.ws.close_code
            self.live = False
            pending, self._pending = self._pending, {}
            _fail(pending.values())

    async def _beat(self, interval: float) -> None:
        await asyncio.sleep(interval * 0.5)
        while True:
            try:
                await self.request("heartbeat")
            except ConnectionError:
                return
            await asyncio.sleep(interval)

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        if not self.live:
            raise ConnectionError("not connected")
        request_id = str(next(_ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.ws.send(encode({"op": op, "id": request_id, **args}).decode())
        except Closed as exc:
            self._pending.pop(request_id, None)
            raise ConnectionError(str(exc)) from exc
        return await future

    async def wait_closed(self) -> int | None:
        """Wait until the connection has closed (by either side); its close code."""
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        return self.close_code

    def accounting(self, expected: Iterable[str]) -> Accounting:
        """Lost and duplicated posts against every post id ``expected`` (recorded clients)."""
        wanted = set(expected)
        got = [post_id for post_id, _ in self.received if post_id in wanted]
        distinct = set(got)
        return Accounting(len(wanted), len(got), len(wanted - distinct), len(got) - len(distinct))

    async def close(self) -> None:
        self.live = False
        for task in (self._heartbeat, self._reader):
            if task is not None:
                task.cancel()
        pending, self._pending = self._pending, {}
        _fail(pending.values())  # their answers will never come on this connection
        await self.ws.close()


def _fail(futures: Iterable[asyncio.Future[dict[str, Any]]]) -> None:
    """Fail requests whose answers will never come. A request whose caller was cancelled (a
    heartbeat's, at close) has nobody to read its failure: marked as read, so asyncio does not
    log "Future exception was never retrieved" for each closed connection."""
    for future in futures:
        if not future.done():
            future.set_exception(ConnectionError("connection closed"))
            future.exception()


async def connect_client(ws_url: str, open_timeout: float = 120) -> Socket:
    """A WebSocket to ``ws_url`` as every load-test client opens it: the protocol's subprotocol,
    frames up to the largest a server sends, no compression, no WebSocket pings (the protocol's
    heartbeat, ``LoadClient._beat``, keeps each connection alive and checked). Through the
    generator's own lean client (:mod:`loadtest.wire`), so that the generator costs less than
    what it measures."""
    return await open_socket(
        ws_url, PROTOCOL_NAME, max_size=MAX_SERVER_FRAME_BYTES, open_timeout=open_timeout
    )
