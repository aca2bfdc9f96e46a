"""The ``/ws`` endpoint: the handshake and the read loop, which answers requests by the ops table.

Lifecycle of one connection (protocol/PROTOCOL.md, "Connection lifecycle")::

    accept (subprotocol tsudoi.v1) → hello → auth → [backlog] → ready → live … → close

The handler stays thin: it parses frames with the shared codec, looks the op up in the table of
ops (ops.py: its handler, rate bucket, shedding and whether it is activity), calls a domain
service and queues the answer. It never waits on a client's reading speed (the connection's
writer task does the sending) and it survives every bad frame: each one is answered with an
error frame, or, where the protocol says so, a documented close code.

See ``docs/architecture.md`` (a request's way through), ``docs/topics/resume.md`` (the handshake,
backfills, gap fills) and ``docs/topics/disaster-mode.md`` (shedding, admission control).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from typing import Any

import msgspec
from prometheus_client import Histogram
from starlette.types import Message
from starlette.websockets import WebSocket

from protocol import messages as m
from protocol.codec import (
    FEATURES,
    MAX_FRAME_BYTES,
    MAX_SERVER_FRAME_BYTES,
    PROTOCOL_NAME,
    decode_client_frame,
    encode,
    error_frame,
    frame_op,
    retry_after_reason,
)
from protocol.errors import CloseCode, CloseConnection, ErrorCode, ProtocolError
from protocol.text import (
    ALT_MAX_CLUSTERS,
    BIO_MAX_CLUSTERS,
    MESSAGE_MAX_CLUSTERS,
    POST_MAX_CLUSTERS,
    POST_MAX_CODE_POINTS,
    REACTION_EMOJI,
)

from .. import __version__, channels
from ..config import Settings
from ..domain import Domain
from ..domain.conversations import MAX_MEMBERS, TYPING_INTERVAL_MS
from ..domain.rules import COMMUNITY_MAX_TAGS
from ..guard import AUTHENTICATED
from ..ids import IdGenerator, floor_id
from ..logs import OutageLog, Tally
from ..metrics import Metrics
from ..ratelimit import RateLimiter, TokenBucket
from ..store.base import StorageUnavailable
from .admission import Admission
from .connection import Connection, State
from .deadlines import Deadlines, tick_for
from .fastwrite import EXTENSION as FASTWRITE_EXTENSION
from .fastwrite import VIOLATION
from .fit import ok_frame_within_bound
from .hub import Hub
from .ops import OPS, Bucket, Context, Op, index

log = logging.getLogger(__name__)

SESSION_COOKIE = "tsudoi_session"
RESYNC_CONCURRENCY = 16
#: After an outage is over, what the node delivered during it is kept this much longer: the
#: other nodes' notices of the same outage come a moment after this node's own recovery.
RESYNC_GRACE_S = 30.0
#: A gap fill reads up to this many times ``resume_max_items`` per stream, since most of what it
#: reads was delivered on this node already; it sends at most ``resume_max_items`` in all.
FILL_READ_FACTOR = 4
#: A connection forgets the positions storage reads gave it this long after the last read: by
#: then their live copies, published a moment after the write a read saw, have come.
READ_KEEP_S = 10.0
#: Presence work is not essential in a disaster: its ticks are this many times longer then.
INCIDENT_PRESENCE_SLOWDOWN = 5
#: Ops declared ``shed`` (ops.py) are refused during an incident; come back after this long.
SHED_RETRY_MS = 60_000
#: How long a finished connection's writer may still take to send its close frame. A close frame
#: does not wait for the client to read (it goes into the transport's buffer, see
#: ``FastWriter.close``); this bounds a plain ASGI send under another server, to a dead peer.
CLOSE_GRACE_S = 2.0


class Gateway:
    def __init__(
        self,
        *,
        domain: Domain,
        hub: Hub,
        settings: Settings,
        clock: Callable[[], int],
        metrics: Metrics,
    ) -> None:
        self._domain = domain
        self._accounts = domain.accounts
        self._social = domain.social
        self._hub = hub
        self._settings = settings
        self._now = clock
        self._metrics = metrics
        #: Every open connection, authenticated or not (the hub knows authenticated ones only).
        self._open: set[Connection] = set()
        #: When each connection waiting for a frame must have it (auth, then heartbeats): one
        #: wheel for the node rather than a timer per connection (deadlines.py).
        self._deadlines: Deadlines[Connection] = Deadlines(
            tick_for(settings.auth_timeout_ms, settings.heartbeat_timeout_ms), self._expired
        )
        self._ids = IdGenerator()
        #: Requests that make content others receive are rate-limited per user, beyond the
        #: connection's frame budget; bots by buckets of their own (limits.bot_*).
        self._limiters: dict[Bucket, RateLimiter] = {
            "post": RateLimiter(settings.post_burst, settings.post_refill_ms),
            "message": RateLimiter(settings.message_burst, settings.message_refill_ms),
        }
        self._bot_limiters: dict[Bucket, RateLimiter] = {
            "post": RateLimiter(settings.bot_post_burst, settings.bot_post_refill_ms),
            "message": RateLimiter(settings.bot_message_burst, settings.bot_message_refill_ms),
        }
        self._hello = encode(
            m.Hello(
                protocol=PROTOCOL_NAME,
                server_version=__version__,
                heartbeat_interval_ms=settings.heartbeat_interval_ms,
                heartbeat_timeout_ms=settings.heartbeat_timeout_ms,
                auth_timeout_ms=settings.auth_timeout_ms,
                limits=limits(settings),
                features=list(FEATURES),
            )
        )
        #: Each request type's op (ops.py); the start-up check that every request has exactly one.
        self._ops: dict[type[m.Request], Op[Any]] = index(OPS)
        #: Each op's latency series, looked up once here rather than by label on every request.
        self._request_latency: dict[type[m.Request] | str, Histogram] = {
            t: metrics.request_latency.labels(op=t.__struct_config__.tag) for t in m.REQUEST_TYPES
        }
        self._request_latency["invalid"] = metrics.request_latency.labels(op="invalid")
        self._background: set[asyncio.Task[None]] = set()
        #: Bounds the storage reads of a cluster-wide gap fill (every connection at once).
        self._resync_slots = asyncio.Semaphore(RESYNC_CONCURRENCY)
        #: The bus state handler said the bus is down, and has not said it is back.
        self._bus_down = False
        self.node_id = self._ids.new()
        hub.set_control_handler(self._control)
        #: New connections (reconnect storms): admitted while the node can set up the handshakes
        #: it holds within ``admission_wait_ms``, else closed 4007 with a time to come back. The
        #: admitted take turns between ``auth`` and ``ready``, ``start_concurrency`` at once, so
        #: that a loop turn holds a few dozen resumes' steps and the frames due to connected
        #: users are not queued behind hundreds (admission.py, BENCHMARKS.md).
        self.admission = Admission(
            settings.start_concurrency, settings.admission_wait_ms, settings.admission_rate
        )
        #: During an incident: Discover answers from these per-user pages (or ``shed``).
        self._incident_active = False
        domain.incidents.on_change = self._incident_changed
        #: Storage failing requests, handshakes and gap fills, as the log tells it: one line when
        #: it goes and one when a request or a health check finds it back (HTTP shares it).
        self.storage_outage = OutageLog("storage", log, expected=(StorageUnavailable,))
        #: Clients closed for malformed frames (anyone can send them, before any auth): counted
        #: in metrics, and logged as one summary a minute at most, never a line per connection.
        self._violations = Tally(
            "connection closed for malformed frames", "connections closed for malformed frames", log
        )

    async def start(self) -> None:
        """Start the node's background work: presence ticks and watching for incidents."""
        self._domain.presence.start()
        await self._domain.incidents.start_watching(self._hub.deliver_all)
        self._spawn(self._forget_reads())

    async def stop(self) -> None:
        await self._deadlines.close()
        await self._domain.incidents.stop()
        await self._domain.presence.stop()
        self._violations.close()  # what the pending summary would have said, said now

    def _incident_changed(self, incident: m.Incident | None) -> None:
        """Disaster mode: presence ticks widen and non-essential work is shed while it lasts."""
        self._incident_active = incident is not None
        self._domain.presence.slowdown = INCIDENT_PRESENCE_SLOWDOWN if incident else 1

    # --- the connection -----------------------------------------------------------------------

    async def __call__(self, websocket: WebSocket) -> None:
        if PROTOCOL_NAME not in websocket.scope.get("subprotocols", []):
            await websocket.accept()
            await websocket.close(CloseCode.UNSUPPORTED_PROTOCOL, f"use subprotocol {PROTOCOL_NAME}")
            self._metrics.handshake_failed(CloseCode.UNSUPPORTED_PROTOCOL)
            return
        await websocket.accept(subprotocol=PROTOCOL_NAME)
        retry = self.admission.admit()
        if retry:
            # A storm: the node holds as many handshakes as it can set up soon. The refused are
            # told when to come back, spread at the rate it sets them up; they resume by cursor.
            await websocket.close(CloseCode.TRY_AGAIN_LATER, retry_after_reason(retry))
            self._metrics.handshake_failed(CloseCode.TRY_AGAIN_LATER)
            return
        conn = Connection(
            websocket,
            connection_id=self._ids.new(),
            send_queue_max=self._settings.send_queue_max,
            fast_writer=websocket.scope.get("extensions", {}).get(FASTWRITE_EXTENSION),
            metrics=self._metrics,
        )
        self._open.add(conn)
        conn.send_frame(self._hello)
        context: Context | None = None
        try:
            context = await self.admission.through(self._handshake(websocket, conn))
            # The upgrade's headers have been read for the last time (the subprotocols at the
            # accept, the cookie and origin at auth): the scope need not keep them for the life
            # of the connection (about 1.1 KiB each). Emptied in place, since Starlette's cached
            # ``Headers`` holds the same list.
            headers = websocket.scope.get("headers")
            if isinstance(headers, list):
                headers.clear()
            if context is not None:
                self._metrics.handshakes_completed.inc()
                authenticated = websocket.scope.get("extensions", {}).get(AUTHENTICATED)
                if authenticated is not None:  # no longer counts against the socket caps
                    authenticated()
                await self._serve(websocket, context)
        except CloseConnection as close:
            conn.close(close.code, close.reason)
        except TimeoutError:  # under another ASGI server: the wait's own timeout
            self._expired(conn)
        except Exception:  # a fault outside any one request: never let it reach the server
            log.exception("connection %s failed", conn.id)
            conn.close(CloseCode.SERVER_ERROR)
        finally:
            self._open.discard(conn)
            self._deadlines.forget(conn)
            if context is None and conn.close_code is not None:
                self._metrics.handshake_failed(conn.close_code)
            self._hub.detach(conn)
            if context is not None:
                await self._gone(context)
            # Let the writer send a close frame, but never wait long for a dead peer.
            await conn.finish(grace_s=CLOSE_GRACE_S)

    @staticmethod
    def _expired(conn: Connection) -> None:
        """``conn`` sent nothing in time: closed with the code its state calls for. Called by
        the wheel of deadlines (its ``receive`` then ends, as the close tells it the connection
        is over), or when the wait's own timeout fired under another ASGI server."""
        conn.close(
            CloseCode.AUTH_TIMEOUT if conn.state is State.AWAITING_AUTH else CloseCode.HEARTBEAT_TIMEOUT
        )

    def open_connections(self) -> Collection[Connection]:
        """Every open connection on this node, in any state (read by metrics on scrape)."""
        return self._open

    async def _receive(self, websocket: WebSocket, conn: Connection, timeout_ms: int) -> Message | None:
        """The next frame's ASGI message, or None once the client is gone. Under our uvicorn
        protocol, a client silent for ``timeout_ms`` is closed by the wheel of deadlines (then
        this returns None); under another server, the wait raises ``TimeoutError``."""
        fast = conn.fast_writer
        message: Message
        if fast is not None:
            self._deadlines.arm(conn, timeout_ms / 1000)
            message = await fast.receive()
            self._deadlines.disarm(conn)
        else:
            async with asyncio.timeout(timeout_ms / 1000):
                message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            kind = message.get(VIOLATION)
            if kind is not None:  # our uvicorn protocol closed it: 1007, 1009 or 1002
                self._metrics.protocol_violations.labels(kind=kind).inc()
                self._violations.note(kind)
            return None
        return message

    async def _handshake(self, websocket: WebSocket, conn: Connection) -> Context | None:
        """Read ``auth``, then subscribe, replay the backlog and send ``ready``."""
        message = await self._receive(websocket, conn, self._settings.auth_timeout_ms)
        if message is None:
            return None
        text = message.get("text")
        if text is None:
            raise CloseConnection(CloseCode.BAD_HANDSHAKE, "first frame must be a text auth frame")
        try:
            frame = decode_client_frame(text)
        except ProtocolError as exc:
            raise CloseConnection(CloseCode.BAD_HANDSHAKE, f"{exc.code}: {exc.message}") from None
        if not isinstance(frame, m.Auth):
            raise CloseConnection(CloseCode.BAD_HANDSHAKE, "first frame must be auth")
        token = frame.token or self._cookie_token(websocket)
        conn.compact = bool(frame.compact)
        try:
            async with self.admission.turn():
                return await self._start(conn, token, frame.cursors, frame.recent)
        except CloseConnection:
            raise
        except Exception as exc:  # storage down, or a fault: the client may retry later
            if self.storage_outage.expected(exc):
                self.storage_outage.failed(exc)  # counted: a line per outage, not per client
            else:
                log.exception("connection %s could not be set up", conn.id)
            raise CloseConnection(CloseCode.SERVER_ERROR) from exc

    async def _start(
        self, conn: Connection, token: str | None, cursors: m.Cursors | None, recent: list[str] | None
    ) -> Context:
        found = await self._accounts.authenticate(token) if token else None
        if found is None:
            raise CloseConnection(CloseCode.AUTH_FAILED)
        user, session = found
        conn.user_id, conn.session_id = user.id, session.id
        # What the client holds from here on, per stream: a gap fill never re-sends what is
        # at or before it (a connection opened during a bus outage was resumed past it).
        moment = floor_id(self._now())
        held = cursors or m.Cursors()
        conn.resumed_from = (
            held.following or moment,
            held.direct or moment,
            held.notifications or moment,
        )

        # Subscribe first, then read the backlog, so nothing falls between the two; events that
        # arrive meanwhile are held and de-duplicated against the backlog.
        conn.hold()
        around = await self._social.surroundings(user.id)
        hidden = around.hidden_ids
        self._hub.hide(conn, hidden)
        await self._hub.attach(conn, self._social.channels_of(user.id, around))
        resume = await self._domain.streams.resume(
            user.id,
            cursors,
            self._settings.resume_max_items,
            hidden,
            recent=frozenset(recent) if recent is not None else None,
            window_ms=self._settings.resume_window_ms,
        )
        profile = self._social.own_profile(user, around)
        # Online before `ready`, not after: a friend whose node pushes a presence change once
        # this client holds `ready` must find this connection, or the change never reaches it
        # (and this client's own presence.get after `ready` races with nothing).
        try:
            await self._domain.presence.opened(user.id, conn.id)
        except Exception as exc:  # presence is soft state: never refuse a connection over it
            self._domain.presence.outage.failed(exc)  # one line per outage, not per connection
        ready = m.Ready(
            user=profile,
            session_id=session.id,
            recovered=resume.recovered,
            replayed=len(resume.tails),
            reload=resume.reload,
            incident=self._domain.incidents.active,
        )
        conn.send_frame(encode(ready))
        conn.replay(resume.tails, resume.positions)
        conn.release()
        return Context(conn, user, self._domain, self._now, self._hub)

    async def _gone(self, context: Context) -> None:
        try:
            await self._domain.presence.closed(context.user.id, context.conn.id)
        except Exception as exc:  # presence is soft state: its own tick repairs what this misses
            self._domain.presence.outage.failed(exc)

    def _cookie_token(self, websocket: WebSocket) -> str | None:
        token = websocket.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        origin = websocket.headers.get("origin")
        if origin is None or not self.origin_allowed(origin, websocket.headers.get("host", "")):
            raise CloseConnection(CloseCode.AUTH_FAILED, "cookie auth from a foreign origin")
        return token

    def origin_allowed(self, origin: str, host: str) -> bool:
        own = {f"http://{host}", f"https://{host}", self._settings.base_url}
        return origin in own or origin in self._settings.allowed_origins

    async def _serve(self, websocket: WebSocket, context: Context) -> None:
        conn = context.conn
        frames = TokenBucket(self._settings.frame_burst, self._settings.frame_refill_ms)
        while not conn.close_requested:
            message = await self._receive(websocket, conn, self._settings.heartbeat_timeout_ms)
            if message is None:
                return
            if frames.hit():
                raise CloseConnection(CloseCode.RATE_LIMITED)
            text = message.get("text")
            if text is None:
                conn.answer(self._error_frame(ProtocolError(ErrorCode.UNSUPPORTED_FRAME)))
                continue
            # The answer goes out before any event the request causes on this connection
            # (PROTOCOL.md section 3.1): events are held while it is handled, and let go after it.
            conn.expect_answer()
            try:
                conn.answer(await self._answer(context, text))
            finally:
                conn.drop_answer()  # cancelled, or faulted past _answer: never hold for good

    async def _answer(self, context: Context, text: str) -> bytes:
        """Exactly one ok or error frame for one request frame, timed by op."""
        started = time.perf_counter()
        timed = self._request_latency["invalid"]
        request_id: str | None = None
        try:
            try:
                frame = decode_client_frame(text)
            except ProtocolError as exc:
                if exc.code is ErrorCode.INVALID_FRAME and frame_op(text) == "auth":
                    raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED) from None  # whatever it held
                raise
            if isinstance(frame, m.Auth):
                raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED)
            if not isinstance(frame, m.Request):  # pragma: no cover - every other frame is one
                raise ProtocolError(ErrorCode.INVALID_FRAME)
            timed = self._request_latency.get(type(frame), timed)
            request_id = frame.id
            op = self._ops[type(frame)]
            if op.activity:
                self._domain.presence.touch(context.user.id)
                if context.conn.session_id is not None:  # its last use, written behind
                    self._accounts.session_used(context.conn.session_id)
                # The user as stored now: operators verify people and users change settings
                # while connected, and every payload must show it.
                context.user = await self._accounts.current(context.user)
                self.storage_outage.recovered()  # storage answered (a no-op unless it was down)
            if op.shed and self._incident_active:
                raise ProtocolError(ErrorCode.SHED, retry_after_ms=SHED_RETRY_MS)
            if op.bucket is not None:
                limiter = (self._bot_limiters if context.user.bot else self._limiters)[op.bucket]
                wait = limiter.hit(context.user.id)
                if wait:
                    raise ProtocolError(ErrorCode.RATE_LIMITED, op.too_fast, retry_after_ms=wait)
            result = await op.handler(context, frame)
            return ok_frame_within_bound(frame, result)
        except ProtocolError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            return self._error_frame(exc)
        except StorageUnavailable as exc:
            self.storage_outage.failed(exc)
            return self._error_frame(ProtocolError(ErrorCode.UNAVAILABLE, request_id=request_id))
        except Exception:
            log.exception("unexpected fault while answering %s", request_id)
            return self._error_frame(ProtocolError(ErrorCode.INTERNAL, request_id=request_id))
        finally:
            timed.observe(time.perf_counter() - started)

    def _error_frame(self, error: ProtocolError) -> bytes:
        """Every error frame this gateway sends is made here, and counted by its code."""
        self._metrics.error(error.code.value)
        return error_frame(error)

    # --- control messages from the bus (follow/unfollow elsewhere, revoked sessions) ---------

    def _control(self, user_id: str, payload: bytes) -> None:
        try:
            message = channels.decode_control(payload)
        except (msgspec.ValidationError, ValueError):
            log.error("malformed control message for %s: %r", user_id, payload[:200])
            return
        for conn in self._hub.user_connections(user_id):
            if message.revoke_sessions and conn.session_id in message.revoke_sessions:
                conn.close(CloseCode.SESSION_REVOKED)
            for channel in message.unlisten or ():
                self._hub.remove_channel(conn, channel)
            if message.hide:
                self._hub.hide(conn, message.hide)
            if message.unhide:
                self._hub.unhide(conn, message.unhide)
            if message.listen is not None and message.since is not None:
                self._spawn(self.listen_live(conn, message.listen, message.since))

    async def listen_live(self, conn: Connection, channel: str, since: str) -> None:
        """Listen to a newly followed author's or joined community's channel on this connection.
        What it carried after ``since`` (the follow or join) but before the subscription took
        hold is backfilled from storage, so nothing falls into the gap; what both paths carry is
        sent once."""
        if channel in conn.channels or conn.close_requested:
            return
        conn.hold()
        try:
            await self._hub.add_channels(conn, [channel])
            assert conn.user_id is not None  # only authenticated connections listen
            backlog = await self._social.channel_backlog(
                channel, since, self._settings.resume_max_items, self._hub.hidden(conn), user_id=conn.user_id
            )
            conn.replay(backlog.tails, backlog.positions)
        except Exception as exc:
            if self.storage_outage.expected(exc):
                self.storage_outage.failed(exc)
            else:
                log.exception("backfill of %s for connection %s failed", channel, conn.id)
            conn.close(CloseCode.SERVER_ERROR)  # the client resumes by cursor and loses nothing
        finally:
            conn.release()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- filling gaps after a bus outage -----------------------------------------------------

    def bus_state_changed(self, healthy: bool, since_ms: int | None) -> None:
        """The bus state handler. While the bus is down, the node remembers everything it
        delivers (its own publishes still reach its connections). On recovery, it fills its
        connections' gaps and tells the other nodes to fill theirs: what this node published
        while its link was down never reached them."""
        delivered = self._hub.delivered
        if not healthy:
            log.warning("bus down: delivering locally only until it is back")
            if not self._bus_down:
                self._bus_down = True
                delivered.pin()
            return
        if self._bus_down:
            self._bus_down = False
            asyncio.get_running_loop().call_later(RESYNC_GRACE_S, delivered.unpin)
        if since_ms is None:
            return
        notice = channels.Resync(node=self.node_id, since_ms=since_ms, until_ms=self._now())
        self._hub.publish_cluster(channels.encode_control(notice))
        self._resync_all(since_ms)

    def cluster_notice(self, payload: bytes) -> None:
        if payload == channels.INCIDENT_NUDGE:
            self._spawn(self._domain.incidents.check())
            return
        try:
            notice = channels.decode_resync(payload)
        except (msgspec.ValidationError, ValueError):
            log.error("malformed cluster notice: %r", payload[:200])
            return
        if notice.node != self.node_id:
            self._resync_all(notice.since_ms)

    def _resync_all(self, since_ms: int) -> None:
        # Ids carry their maker's clock, and clocks differ: the gap is read from a window before
        # the outage began, so an item stamped by a node running behind is not skipped.
        since_ms = max(0, since_ms - self._settings.resume_window_ms)
        connections = self._hub.connections()
        self._delivered_since_notes(since_ms, len(connections))
        for conn in connections:
            self._spawn(self.resync(conn, since_ms))

    def _delivered_since_notes(self, since_ms: int, count: int) -> None:
        if count and not self._hub.delivered.covers(since_ms - self._settings.resume_window_ms):
            log.warning(
                "bus outage too long to fill in place (this node remembers what it delivered since "
                "%d ms ago): %d connections will resume by cursor (4006)",
                self._now() - self._hub.delivered.complete_from_ms,
                count,
            )

    async def resync(self, conn: Connection, since_ms: int) -> None:
        """Send this connection what its streams gained from ``since_ms`` on and it was not
        given, and bring its subscriptions up to date (follows made elsewhere during the outage).

        What it was given live is what this node delivered on its channels (``hub.delivered``);
        what storage reads gave it, the connection remembers; what it held as it authenticated,
        its cursors say (``resumed_from``). If the node cannot tell — it no longer remembers back
        to ``since_ms``, or more than ``FILL_READ_FACTOR`` times ``resume_max_items`` came on a
        stream — or the connection lacks more than ``resume_max_items`` items, it is closed with
        4006 and the client resumes by its cursors, which is always exact."""
        if conn.user_id is None or conn.close_requested or conn.resumed_from is None:
            return
        delivered = self._hub.delivered
        # An item delivered here may carry an id up to the window older than its delivery.
        vouched_from = since_ms - self._settings.resume_window_ms
        if not delivered.covers(vouched_from):
            conn.close(CloseCode.RESYNC_REQUIRED)
            self._metrics.gap_fills.labels(outcome="resync_required").inc()
            return
        since = floor_id(since_ms)
        limit = self._settings.resume_max_items
        conn.hold()
        try:
            async with self._resync_slots:
                around = await self._social.surroundings(conn.user_id)
                hidden = around.hidden_ids
                self._hub.unhide(conn, self._hub.hidden(conn) - hidden)
                self._hub.hide(conn, hidden)
                wanted = self._social.channels_of(conn.user_id, around)
                # The hashtags it watches are its own choice, not storage's: they stay.
                wanted |= {channel for channel in conn.channels if channel.startswith(channels.TAG_PREFIX)}
                for channel in conn.channels - wanted:
                    self._hub.remove_channel(conn, channel)
                new = [channel for channel in wanted if channel not in conn.channels]
                await self._hub.add_channels(conn, wanted)
                following, direct, notifications = conn.resumed_from
                cursors = m.Cursors(
                    following=max(since, following),
                    direct=max(since, direct),
                    notifications=max(since, notifications),
                )
                # Most of what is read was delivered here already (the node's own publishes): read
                # further than the bound, and hold the bound to what the connection lacks.
                resume = await self._domain.streams.resume(
                    conn.user_id, cursors, limit * FILL_READ_FACTOR, hidden
                )
                # Channels it listens to only now (a follow or join made elsewhere while the bus
                # was down): nothing of theirs was delivered to it live, whatever this node did.
                backfills = [
                    await self._social.channel_backlog(channel, since, limit, hidden, user_id=conn.user_id)
                    for channel in new
                ]
            if not resume.recovered or not delivered.covers(vouched_from):
                conn.close(CloseCode.RESYNC_REQUIRED)
                self._metrics.gap_fills.labels(outcome="resync_required").inc()
                return
            tails: list[bytes] = []
            positions: list[str] = []
            for tail, pos in zip(resume.tails, resume.positions, strict=True):
                if pos not in delivered:
                    tails.append(tail)
                    positions.append(pos)
            for backfill in backfills:
                tails += backfill.tails
                positions += backfill.positions
            if len(positions) > limit:
                conn.close(CloseCode.RESYNC_REQUIRED)
                self._metrics.gap_fills.labels(outcome="resync_required").inc()
                return
            conn.replay(tails, positions)
            self._metrics.gap_fills.labels(outcome="in_place").inc()
        except Exception as exc:
            if self.storage_outage.expected(exc):
                self.storage_outage.failed(exc)
            else:
                log.exception("gap fill for connection %s failed", conn.id)
            conn.close(CloseCode.SERVER_ERROR)
            self._metrics.gap_fills.labels(outcome="failed").inc()
        finally:
            conn.release()

    async def _forget_reads(self) -> None:
        """Every few seconds, let connections forget what storage reads gave them a while ago;
        not while an outage is being filled, when that is how a fill leaves them out."""
        while True:
            await asyncio.sleep(READ_KEEP_S / 2)
            if self._hub.delivered.pinned:
                continue
            before = time.monotonic() - READ_KEEP_S
            for conn in self._hub.connections():
                conn.forget_reads(before)

    def drain(self, code: CloseCode = CloseCode.GOING_AWAY) -> list[Connection]:
        """Ask every connection to close (server shutdown); returns them to wait on."""
        connections = self._hub.connections()
        self._hub.close_all(code)
        return connections


def limits(settings: Settings) -> m.Limits:
    return m.Limits(
        max_frame_bytes=MAX_FRAME_BYTES,
        max_server_frame_bytes=MAX_SERVER_FRAME_BYTES,
        post_max_clusters=POST_MAX_CLUSTERS,
        post_max_code_points=POST_MAX_CODE_POINTS,
        resume_max_items=settings.resume_max_items,
        resume_window_ms=settings.resume_window_ms,
        resume_recent_max=m.RESUME_RECENT_MAX,
        send_queue_max=settings.send_queue_max,
        max_unused_invites=settings.max_unused_invites,
        frame_burst=settings.frame_burst,
        frame_refill_ms=settings.frame_refill_ms,
        post_burst=settings.post_burst,
        post_refill_ms=settings.post_refill_ms,
        message_burst=settings.message_burst,
        message_refill_ms=settings.message_refill_ms,
        bot_post_burst=settings.bot_post_burst,
        bot_post_refill_ms=settings.bot_post_refill_ms,
        bot_message_burst=settings.bot_message_burst,
        bot_message_refill_ms=settings.bot_message_refill_ms,
        message_max_clusters=MESSAGE_MAX_CLUSTERS,
        conversation_max_members=MAX_MEMBERS,
        reaction_emoji=list(REACTION_EMOJI),
        typing_interval_ms=TYPING_INTERVAL_MS,
        community_max_tags=COMMUNITY_MAX_TAGS,
        idle_after_ms=settings.idle_after_ms,
        offline_grace_ms=settings.offline_grace_ms,
        media_max_bytes=settings.media_max_bytes,
        media_max_attachments=m.MEDIA_MAX_ATTACHMENTS,
        alt_max_clusters=ALT_MAX_CLUSTERS,
        bio_max_clusters=BIO_MAX_CLUSTERS,
        upload_burst=settings.upload_burst,
        upload_refill_ms=settings.upload_refill_ms,
        handle_change_interval_ms=settings.handle_change_interval_ms,
    )
