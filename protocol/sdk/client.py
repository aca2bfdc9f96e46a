"""The asyncio client: one connection kept alive, events handed to handlers exactly once.

Three tasks share the work, so a slow handler never stops the socket from being read:

- the **runner** connects (``hello`` → ``auth`` with the cursors → ``ready``), reads frames until
  the connection ends, and reconnects: at once with the wait a 4007 names, otherwise after a
  full-jitter exponential back-off; a terminal close (4500-4999, 1007, 1009) stops the client;
- the **heartbeat** of each connection sends ``heartbeat`` when nothing else was sent for an
  interval (the first after a random part of one) and drops a connection the server has been
  silent on for ``heartbeat_timeout_ms``;
- the **dispatcher** runs handlers one event at a time, in arrival order, and moves a stream's
  cursor only once its handlers have returned (see :mod:`protocol.sdk.cursors`).

On a resume ``auth`` carries the cursors and, to a server that announces
``limits.resume_window_ms`` (1.8.0), the positions handled within that window behind them
(``recent``), so items another writer stored late are replayed too; an event whose ``pos`` was
handled already is dropped. It asks for compact events (section 3.5) from a server that offers
them, and hands handlers the same typed events either way.

Requests wait for a live connection, are answered by id, and a ``rate_limited`` or ``shed`` answer
is retried after its ``retry_after_ms`` (bounded). Pictures go over HTTP (:meth:`Client.upload`,
:meth:`Client.fetch_media`) with the same token, and a ``rate_limited`` or ``busy`` upload is
retried the same way. Frames are paced to stay within the
connection's frame budget (``limits.frame_burst``/``frame_refill_ms``), so a busy bot is never
closed with 4003.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from protocol import messages as m
from protocol.codec import MAX_SERVER_FRAME_BYTES, PROTOCOL_NAME, parse_retry_after, parse_timestamp
from protocol.errors import CloseCode
from protocol.http import DisasterPage
from protocol.recent import encode_auth

from .codes import error_for
from .cursors import CursorStore, JsonFileStore, MemoryStore, StreamCursors, floor_id
from .decoding import convert, encode_request, parse_frame
from .errors import (
    ClientClosed,
    ConnectionLost,
    HandshakeRejected,
    RetryLaterError,
    SdkError,
    TerminalClose,
    is_terminal,
    terminal_close,
)
from .http import disaster_page, fetch_media, upload_media
from .media import MediaKind, PictureSource, read_picture
from .ops import Api, Handler, Register
from .transport import Backoff, Connection, FrameBudget, http_url, ws_url

__all__ = ["Client"]

_R = TypeVar("_R", bound=msgspec.Struct)
_T = TypeVar("_T")
log = logging.getLogger("tsudoi.sdk")

ReadyHandler = Callable[[m.Ready], Awaitable[None] | None]
ReloadHandler = Callable[[list[str]], Awaitable[None] | None]


@dataclass
class _Item:
    """One unit of work for the dispatcher, in arrival order."""

    kind: str  # "event", "ready" or "reload"
    value: Any
    type: str | None = None
    stream: str | None = None
    pos: str | None = None


class Client(Api):
    """A Tsudoi client for bots. Use it as ``async with Client(url, token) as bot:``, or register
    handlers and call :meth:`run` (blocking, stops on SIGINT/SIGTERM).

    ``url`` is the server (``https://tsudoi.example``) or its WebSocket (``wss://.../ws``).
    ``token`` is a bot token (``tsudoi admin bot create``) or a session token (:func:`login`).
    ``cursor_store`` is a path or a :class:`CursorStore`: give one, and a restarted bot resumes
    where the last run stopped; without one, resuming covers reconnects within this process.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        cursor_store: CursorStore | str | os.PathLike[str] | None = None,
        backoff: Backoff | None = None,
        rate_limit_retries: int = 5,
        max_retry_wait_s: float = 30.0,
        request_timeout_s: float = 30.0,
        open_timeout_s: float = 10.0,
        reset_backoff_after_s: float = 30.0,
    ) -> None:
        self.url, self.ws_url, self.http_url = url, ws_url(url), http_url(url)
        self.token = token
        if cursor_store is None:
            cursor_store = MemoryStore()
        elif isinstance(cursor_store, str | os.PathLike):
            cursor_store = JsonFileStore(cursor_store)
        self._cursors = StreamCursors(cursor_store)
        self.backoff = backoff or Backoff()
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_wait_s = max_retry_wait_s
        self.request_timeout_s = request_timeout_s
        self.open_timeout_s = open_timeout_s
        self.reset_backoff_after_s = reset_backoff_after_s
        #: Your own profile, from the last ``ready``.
        self.user: m.Profile | None = None
        #: The last ``ready`` and ``hello``; ``limits`` are the server's (PROTOCOL.md section 8).
        self.ready: m.Ready | None = None
        self.hello: m.Hello | None = None
        #: The active incident, kept up to date from ``ready`` and incident events.
        self.incident: m.Incident | None = None
        #: How many times a connection reached ``ready`` (1 after the first connect).
        self.connections = 0
        self._handlers: dict[str, list[Handler[Any]]] = {}
        self._ready_handlers: list[ReadyHandler] = []
        self._reload_handlers: list[ReloadHandler] = []
        self._ids = itertools.count(1)
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: BaseException | None = None
        self._closing = False
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None

    # --- handlers ----------------------------------------------------------------------------

    def _register(self, event: str | type[m.EventData]) -> Register[Any]:
        name = event if isinstance(event, str) else event.TYPE
        if name not in m.EVENT_BY_TYPE:
            raise ValueError(f"unknown event type {name!r}; known: {', '.join(m.EVENT_BY_TYPE)}")

        def register(handler: Handler[Any]) -> Handler[Any]:
            self._handlers.setdefault(name, []).append(handler)
            return handler

        return register

    def on_ready(self, handler: ReadyHandler) -> ReadyHandler:
        """Call ``handler(ready)`` after every successful (re)connect, before replayed events."""
        self._ready_handlers.append(handler)
        return handler

    def on_reload(self, handler: ReloadHandler) -> ReloadHandler:
        """Call ``handler(streams)`` when the server could not replay what was missed on those
        streams (more than ``limits.resume_max_items``): re-read what you keep of them
        (``timeline_following``, ``dm_list``, ``notification_list``). Events from then on are
        delivered as usual."""
        self._reload_handlers.append(handler)
        return handler

    # --- life cycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def cursors(self) -> dict[str, str]:
        """The cursor of every stream: the last position handled."""
        return dict(self._cursors.cursors)

    async def start(self) -> None:
        """Connect, and return once the first ``ready`` arrived (retrying while the server is
        unreachable). Raises :class:`TerminalClose` if the server refuses the token."""
        if self._runner is None:
            if self._closing:
                raise ClientClosed("the client was closed")
            self._runner = asyncio.create_task(self._run(), name="tsudoi-runner")
            self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="tsudoi-dispatcher")
        await self._wait_live()

    async def wait_closed(self) -> None:
        """Wait until the client stops: :meth:`close`, or a terminal close (raised here)."""
        await self._stopped.wait()
        if self._failure is not None:
            raise self._failure

    async def run_forever(self) -> None:
        await self.start()
        await self.wait_closed()

    def run(self) -> None:
        """Run until SIGINT or SIGTERM, then close gracefully (for scripts: ``bot.run()``)."""
        asyncio.run(self._run_with_signals())

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._spawn_close)
        try:
            await self.run_forever()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _spawn_close(self) -> None:
        task = asyncio.get_running_loop().create_task(self.close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop: let the running handler finish (up to ``timeout_s``), close the connection with
        1000, stop reconnecting. Events received but not yet handled are not lost: the cursors do
        not cover them, so the next run with the same cursor store receives them again."""
        if self._closing:
            await self._stopped.wait()
            await self._close_http()
            return
        self._closing = True
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.ws.close(1000, "bot closing")
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not asyncio.current_task() and not dispatcher.done():
            self._queue.put_nowait(_Item("stop", None))
            done, _ = await asyncio.wait({dispatcher}, timeout=timeout_s)
            if not done:
                dispatcher.cancel()
        self._cursors.forget_pending()
        self._stop(None)
        await self._close_http()

    async def _close_http(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _stop(self, failure: BaseException | None) -> None:
        if self._failure is None:
            self._failure = failure
        self._closing = True
        self._stopped.set()
        self._connected.set()  # wake waiters; they see the failure or the closing
        self._queue.put_nowait(_Item("stop", None))  # and the dispatcher, if it is idle

    # --- the connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._run_connections()
        except Exception as exc:  # a bug: say so, and stop rather than hang every waiter
            log.exception("tsudoi: the connection task failed")
            self._stop(exc)

    async def _run_connections(self) -> None:
        while not self._closing:
            delay: float | None = None
            try:
                conn = await self._open()
            except ConnectionClosed as closed:
                delay = self._after_close(
                    closed.rcvd.code if closed.rcvd else 1006, closed.rcvd.reason if closed.rcvd else ""
                )
            except InvalidStatus as refused:
                status = refused.response.status_code
                if 400 <= status < 500 and status not in (408, 429):
                    self._stop(HandshakeRejected(status))
                    return
                delay = self.backoff.next()
            except (OSError, TimeoutError, WebSocketException, ValueError, msgspec.ValidationError) as exc:
                log.info("tsudoi: cannot connect to %s: %s", self.ws_url, exc)
                delay = self.backoff.next()
            else:
                started = time.monotonic()
                await self._serve(conn)
                if time.monotonic() - started >= self.reset_backoff_after_s:
                    self.backoff.reset()
                delay = self._after_close(conn.ws.close_code or 1006, conn.ws.close_reason or "")
            if delay is None:
                return
            log.info("tsudoi: reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)

    def _after_close(self, code: int, reason: str) -> float | None:
        """The wait before reconnecting after close ``code``, or None to stop."""
        if self._closing:
            return None
        if is_terminal(code):
            log.error("tsudoi: terminal close %s %s", code, reason)
            self._stop(terminal_close(code, reason))
            return None
        told = parse_retry_after(reason) if code == CloseCode.TRY_AGAIN_LATER else None
        if told is not None:  # already spread by the server: wait exactly that, no back-off of our own
            log.info("tsudoi: server busy (4007): reconnecting in %s ms", told)
            return told / 1000
        log.info("tsudoi: connection closed %s %s", code, reason)
        return self.backoff.next()

    async def _open(self) -> Connection:
        ws = await connect(
            self.ws_url,
            subprotocols=[Subprotocol(PROTOCOL_NAME)],
            max_size=MAX_SERVER_FRAME_BYTES,
            compression=None,
            open_timeout=self.open_timeout_s,
            ping_interval=None,  # liveness is the protocol's heartbeat (section 2.5)
            close_timeout=2,
        )
        try:
            hello, looks_back = _read_hello(
                parse_frame(await asyncio.wait_for(ws.recv(), self.open_timeout_s))
            )
            cursors = self._cursors.for_auth()
            recent = None
            if looks_back:  # never to an older server: it would close with 4502 (section 2.3)
                limits = hello.limits
                recent = self._cursors.recent_for_auth(limits.resume_window_ms, limits.resume_recent_max)
            floors = self._cursors.floors(with_recent=recent is not None)
            # Compact events whenever the server offers them (section 3.5): ``convert`` reads the
            # members they leave out as section 12 says, the way it reads an older server's.
            compact = "compact" in hello.features
            await ws.send(
                encode_auth(self.token, cursors if floors else None, recent, compact=compact), text=True
            )
            ready = convert(parse_frame(await asyncio.wait_for(ws.recv(), self.open_timeout_s)), m.Ready)
        except BaseException:
            await ws.close()
            raise
        now = time.monotonic()
        limits = hello.limits
        conn = Connection(
            ws, hello, floors, FrameBudget(limits.frame_burst, limits.frame_refill_ms), {}, now, now
        )
        self.hello, self.ready, self.user, self.incident = hello, ready, ready.user, ready.incident
        self.connections += 1
        log.info(
            "tsudoi: ready as @%s (recovered=%s, replayed=%d, reload=%s)",
            ready.user.handle,
            ready.recovered,
            ready.replayed,
            ready.reload,
        )
        self._queue.put_nowait(_Item("ready", ready))
        if ready.reload:
            self._cursors.drop(ready.reload)
            self._queue.put_nowait(_Item("reload", list(ready.reload)))
        return conn

    async def _serve(self, conn: Connection) -> None:
        self._conn = conn
        self._connected.set()
        tasks = [asyncio.create_task(self._heartbeat(conn), name="tsudoi-heartbeat")]
        if self._cursors.missing():
            tasks.append(asyncio.create_task(self._start_streams(conn), name="tsudoi-cursors"))
        try:
            async for raw in conn.ws:
                conn.last_recv = time.monotonic()
                try:
                    self._received(conn, parse_frame(raw))
                except (ValueError, msgspec.ValidationError) as exc:
                    log.warning("tsudoi: ignoring a frame that cannot be read: %s", exc)
        except ConnectionClosed:
            pass
        finally:
            self._conn = None
            self._connected.clear()
            for task in tasks:
                task.cancel()
            for future in conn.pending.values():
                if not future.done():
                    future.set_exception(ConnectionLost("the connection closed before the answer came"))

    def _received(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = frame["op"]
        if op == "event":
            self._event(conn, frame)
        elif op in ("ok", "error"):
            future = conn.pending.pop(str(frame.get("id")), None)
            if future is not None and not future.done():
                future.set_result(frame)
            elif op == "error":
                log.warning("tsudoi: error frame for no request: %s", frame)
        # Other ops (none in v1 after ready) are ignored, as section 12 asks.

    def _event(self, conn: Connection, frame: dict[str, Any]) -> None:
        kind, stream, pos = frame.get("type"), frame.get("stream"), frame.get("pos")
        if isinstance(stream, str) and isinstance(pos, str):
            if not self._cursors.accept(stream, pos, conn.floors.get(stream)):
                return  # handled (or being handled) already
        else:
            stream = pos = None
        cls = m.EVENT_BY_TYPE.get(kind) if isinstance(kind, str) else None
        data: m.EventData | None = None
        if cls is not None:
            try:
                data = convert(frame.get("data") or {}, cls)
            except msgspec.ValidationError as exc:
                log.warning("tsudoi: ignoring a %s event that cannot be read: %s", kind, exc)
        if isinstance(data, m.IncidentStartedEvent):
            self.incident = data.incident
        elif isinstance(data, m.IncidentEndedEvent):
            self.incident = None
        # Unknown or unreadable events still go through the queue, so their cursor moves in order.
        self._queue.put_nowait(_Item("event", data, kind if isinstance(kind, str) else None, stream, pos))

    async def _heartbeat(self, conn: Connection) -> None:
        interval = conn.hello.heartbeat_interval_ms / 1000
        timeout = conn.hello.heartbeat_timeout_ms / 1000
        await asyncio.sleep(random.uniform(0, interval))  # so reconnecting clients do not beat in step
        while True:
            now = time.monotonic()
            if now - conn.last_recv > timeout:
                log.warning("tsudoi: no frame from the server for %.0f s: reconnecting", now - conn.last_recv)
                await conn.ws.close(1000, "heartbeat timeout")
                return
            if now - conn.last_send >= interval:
                heartbeat = asyncio.create_task(self._request(conn, m.Heartbeat(id="")))
                heartbeat.add_done_callback(_ignore_result)
            await asyncio.sleep(min(interval, timeout) / 2)

    async def _start_streams(self, conn: Connection) -> None:
        """Give a cursor to every stream that has none yet (a first start, or a reloaded stream):
        the server's clock now. Every item stored from here on sorts after it, and those stored
        since ``ready`` arrive live on this connection."""
        with contextlib.suppress(SdkError, asyncio.TimeoutError, RetryLaterError):
            now = await self._request(conn, m.Heartbeat(id=""))
            server_time = convert(now, m.HeartbeatResult).server_time
            for stream in self._cursors.missing():
                self._cursors.restart(stream, floor_id(parse_timestamp(server_time)))

    # --- requests ----------------------------------------------------------------------------

    async def _wait_live(self) -> Connection:
        while True:
            if self._failure is not None:
                raise self._failure
            if self._closing:
                raise ClientClosed("the client is closed")
            if self._conn is not None:
                return self._conn
            self._connected.clear()
            await self._connected.wait()

    async def _request(self, conn: Connection, frame: m.Request) -> dict[str, Any]:
        """Send ``frame`` on ``conn``; the ``data`` of its ``ok``, or raise its error."""
        frame.id = str(next(self._ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_ignore_result)  # a drop may fail it after its waiter gave up
        conn.pending[frame.id] = future
        try:
            try:
                await conn.send(encode_request(frame))
            except ConnectionClosed as exc:
                raise ConnectionLost("the connection closed before the request was sent") from exc
            answer = await asyncio.wait_for(future, self.request_timeout_s)
        finally:
            conn.pending.pop(frame.id, None)
        if answer["op"] == "ok":
            data: dict[str, Any] = answer.get("data") or {}
            return data
        retry = answer.get("retry_after_ms")
        path = answer.get("path")
        raise error_for(
            str(answer.get("code")),
            str(answer.get("message") or ""),
            path=path if isinstance(path, str) else None,
            retry_after_ms=retry if isinstance(retry, int) else None,
            request_id=frame.id,
            op=m.op_of(type(frame)),
        )

    async def _call(self, frame: m.Request, result: type[_R]) -> _R:
        async def attempt() -> dict[str, Any]:
            conn = await asyncio.wait_for(self._wait_live(), self.request_timeout_s)
            return await self._request(conn, frame)

        return convert(await self._retrying(attempt), result)

    async def _retrying(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """``attempt()``, again after the wait a :class:`RetryLaterError` names, at most
        ``rate_limit_retries`` times and only for waits up to ``max_retry_wait_s``."""
        retries = 0
        while True:
            try:
                return await attempt()
            except RetryLaterError as error:
                wait_s = (error.retry_after_ms or 1000) / 1000
                if retries >= self.rate_limit_retries or wait_s > self.max_retry_wait_s:
                    raise
                retries += 1
                what = error.op or "upload"
                log.info("tsudoi: %s refused with %s; retrying in %.2f s", what, error.wire_code, wait_s)
                await asyncio.sleep(wait_s * random.uniform(1.0, 1.1) + 0.005)

    # --- pictures (HTTP) ---------------------------------------------------------------------

    def _http_client(self) -> httpx.AsyncClient:
        if self._closing:
            raise ClientClosed("the client is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.request_timeout_s)
        return self._http

    async def upload(self, data: PictureSource, *, kind: MediaKind = "post") -> m.Media:
        """Upload a picture over HTTP (``POST /api/media``) and return it as stored: re-encoded,
        its metadata dropped, its ``alt`` still null. ``data`` is the file's bytes or its path;
        ``kind`` is ``post`` (for ``post_create``, ``dm_send``, ``community_announce``) or
        ``avatar`` (for ``profile_update``). Attach it within 24 hours, with its alt text:
        ``media=[attach(picture, "what it shows")]``.

        Needs no WebSocket connection: a script may upload before :meth:`start`. A
        ``rate_limited`` or ``busy`` refusal is retried after the wait it names, as requests
        are; other refusals raise their class (``UnsupportedFormatError`` for an SVG, ...)."""
        picture = data if isinstance(data, bytes) else await asyncio.to_thread(read_picture, data)
        http = self._http_client()
        answer = await self._retrying(
            lambda: upload_media(self.http_url, self.token, picture, kind=kind, http=http)
        )
        return answer.media

    async def fetch_media(self, media_url: str | m.MediaVariant) -> bytes:
        """The bytes of a picture's variant (``post.media[0].display``, or a ``url``), fetched
        with this client's token: pictures of messages and of closed communities are served
        only to those who may see them (``NotFoundError`` otherwise)."""
        return await fetch_media(self.http_url, media_url, token=self.token, http=self._http_client())

    async def disaster_page(self) -> DisasterPage:
        """The operator's "during a disaster" page (PROTOCOL.md 11.15): ``markdown``, the
        server's safe ``html``, ``updated_at`` (None for the built-in page). An older server
        (before 1.14.0) answers ``NotFoundError``."""
        return await disaster_page(self.http_url, http=self._http_client())

    # --- dispatch ----------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while True:
            item = await self._queue.get()
            if item.kind == "stop" or self._closing:
                return
            try:
                await self._dispatch(item)
            except (ClientClosed, TerminalClose):
                return  # stopping mid-handler: the cursor does not cover the event; the next run has it
            if item.stream is not None and item.pos is not None:
                self._cursors.handled(item.stream, item.pos)

    async def _dispatch(self, item: _Item) -> None:
        handlers: list[Callable[[Any], Awaitable[None] | None]]
        if item.kind == "ready":
            handlers = list(self._ready_handlers)
        elif item.kind == "reload":
            handlers = list(self._reload_handlers)
            if not handlers:
                log.warning(
                    "tsudoi: events missed on %s cannot be replayed (no on_reload handler)", item.value
                )
        elif item.value is None or item.type is None:
            return
        else:
            handlers = list(self._handlers.get(item.type, ()))
        for handler in handlers:
            try:
                outcome = handler(item.value)
                if inspect.isawaitable(outcome):
                    await outcome
            except (ClientClosed, TerminalClose):
                raise
            except Exception:
                # The event counts as handled: a handler that always fails must not stall the bot.
                log.exception("tsudoi: %s handler %r failed", item.type or item.kind, handler)


def _read_hello(frame: dict[str, Any]) -> tuple[m.Hello, bool]:
    """``hello``, and whether its server looks behind a cursor (``limits.resume_window_ms``,
    1.8.0). A server before 1.8.0 does not: it reads as a window of 0 with no ``recent``, which
    is what it does (section 12 gives an int no neutral value in general; this one has one)."""
    limits = frame.get("limits")
    looks_back = isinstance(limits, dict) and "resume_window_ms" in limits
    if isinstance(limits, dict) and not looks_back:
        limits.setdefault("resume_window_ms", 0)
        limits.setdefault("resume_recent_max", 0)
    return convert(frame, m.Hello), looks_back


def _ignore_result(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen (whoever awaits the future still gets it)."""
    if not future.cancelled():
        future.exception()
