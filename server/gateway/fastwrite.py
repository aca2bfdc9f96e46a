"""A synchronous frame writer for the fan-out path, offered by our uvicorn protocol, which also
keeps each connection's memory down.

Sending through ASGI costs, per frame and per recipient, an awaited ``send`` through Starlette's
wrappers and uvicorn's protocol, and a task wake-up for the connection's writer. Profiling the
5,000-follower fan-out put about half the event loop's time there (BENCHMARKS.md). Yet a frame to
an idle connection whose socket is writable can simply be framed and handed to the transport.

:class:`FastWriteProtocol` is uvicorn's sans-I/O WebSocket protocol, and it offers a
:class:`FastWriter` to the application as the ASGI extension ``tsudoi.fastwrite``. The gateway
uses it when present and falls back to plain ASGI sends otherwise, so the app still runs under
any ASGI server. Frames written here go through the same websockets ``ServerProtocol`` object
uvicorn uses, so framing and connection state stay consistent with uvicorn's own sends.

Memory: a node holds tens of thousands of mostly idle connections (goal: 20 KiB each,
BENCHMARKS.md), and uvicorn's protocol object is the largest part of one. :class:`FastWriteProtocol`
lets go of what uvicorn keeps but no longer needs once the upgrade is done (the request's and the
response's headers), and gives the protocol a lighter inbox and writability flag than the
``asyncio.Queue`` and ``asyncio.Event`` uvicorn makes: those allocate a 760-byte deque each for
waiters and items (five deques, about 4 KiB per connection) where an idle connection has
nothing waiting. Its attributes are slots. And once the connection is lost it breaks the
reference cycles its objects are in, so they are freed at once rather than at the garbage
collector's next full collection (:meth:`FastWriteProtocol.connection_lost`).

Closing: :meth:`FastWriter.close` puts the close frame into the transport's buffer at once, even
while the transport is paused, where uvicorn's ``websocket.close`` waits for the client to read
first (a slow consumer must still get its 4002 after the frames it was sent).

Logging: uvicorn and websockets log every WebSocket's opening and closing at INFO ("accepted",
"connection open", "connection closed") through the ``uvicorn.error`` logger, which also carries
the server's start-up messages and its errors. This protocol sends its connections' records to
a logger of their own, :data:`CONNECTION_LOGGER`, so that ``tsudoi serve`` can keep them quiet
without losing the others (see ``serve`` in ``server/cli.py``).

The upgrade: uvicorn's h11 protocol parses the upgrade request, then writes it out as bytes
again for websockets to parse a second time (0.55). Our HTTP protocol hands this one the
request as h11 parsed it instead (:meth:`FastWriteProtocol.take_over`), which makes of it the
``Request`` websockets' parser would have made of those bytes; websockets still checks the
handshake and builds the response. What that parser would refuse or treat apart (HTTP/1.0, a
body, over its header limits, bytes that are not ASCII) is still handed to it as bytes, so it
answers exactly as before.

Unauthenticated sockets: the HTTP protocol that upgraded the connection hands over its place
under the caps on unauthenticated sockets (:mod:`server.guard`) to :meth:`FastWriteProtocol.adopt`;
the app gives it back through the ASGI extension ``tsudoi.authenticated`` once ``auth`` succeeds.

Malformed frames: a connection the WebSocket layer fails (a text frame that is not UTF-8: 1007;
a frame over the size limit: 1009; a broken frame: 1002) is closed with that code as before, but
uvicorn's traceback for invalid UTF-8 (about 520 bytes per connection, so anyone could fill the
disk) is not logged. Instead the ``websocket.disconnect`` the app receives names the fault under
:data:`VIOLATION` (one of :data:`VIOLATION_KINDS`' values), and the gateway counts it and logs a
summary at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, cast

import h11
from uvicorn.protocols.utils import is_ssl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, Request
from websockets.protocol import Protocol, State

from protocol.codec import EVENT_HEAD, MAX_FRAME_BYTES, event_frame

from ..guard import AUTHENTICATED, Ticket

EXTENSION = "tsudoi.fastwrite"
#: Where uvicorn's and websockets' records about each WebSocket go (a child of ``uvicorn.error``,
#: where they would otherwise be).
CONNECTION_LOGGER = "uvicorn.error.connections"
#: The key of a ``websocket.disconnect`` message that says the client broke the WebSocket
#: protocol, and how (a bounded set of kinds, by the close code this protocol sent).
VIOLATION = "tsudoi.violation"
VIOLATION_KINDS = {1002: "protocol_error", 1007: "invalid_utf8", 1009: "too_big"}
#: RFC 6455 section 7.4.1: "data within a message that was not consistent with the type".
CLOSE_INVALID_DATA = 1007


#: Reading pauses once this many payload bytes wait for the app (and resumes when it has taken
#: them all, as uvicorn's ``receive`` does). uvicorn pauses at every message: two ``epoll_ctl``
#: calls per frame, a heartbeat's included, which an idle node's profile showed (BENCHMARKS.md,
#: issue 18). A frame's worth keeps the bound on what a connection holds unread where it was:
#: a socket read (up to 256 KiB, parsed whole) plus at most one more largest frame.
INBOX_PAUSE_BYTES = MAX_FRAME_BYTES

#: After the closing handshake gave up (``close_timeout``), how long a peer that reads nothing
#: may keep the rest of what was written to it, the close frame included, before the socket is
#: cut off.
CLOSE_DRAIN_S = 20.0


def text_frame_header(length: int) -> bytes:
    """The header of a final, unmasked text frame of ``length`` payload bytes (RFC 6455 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return _HEADER_16(0x81, 126, length)
    return b"\x81\x7f" + length.to_bytes(8, "big")


#: A frame header with a 16-bit length: every event but the smallest.
_HEADER_16 = struct.Struct(">BBH").pack
#: Read on every frame sent. On Python 3.11, ``State.OPEN`` goes through ``EnumType.__getattr__``
#: (about 200 ns here, a module global 16 ns); Python 3.12 made member access plain again.
_OPEN = State.OPEN


def handshake_request(event: h11.Request, headers: list[tuple[bytes, bytes]]) -> Request | None:
    """The upgrade request h11 parsed, as the websockets ``Request`` its own parser would have
    made of the same bytes; None for anything that parser would refuse or treat apart (HTTP/1.0,
    a body, more headers or longer lines than it takes, bytes that are not ASCII), which then
    goes through it as before."""
    if event.http_version != b"1.1" or len(headers) > MAX_NUM_HEADERS or not event.target.isascii():
        return None
    found = Headers()
    for name, value in headers:
        if len(name) + len(value) + 2 > MAX_LINE_LENGTH or name == b"transfer-encoding":
            return None
        if name == b"content-length" and value != b"0":
            return None
        found[name.decode("ascii")] = value.decode("latin-1")
    return Request(event.target.decode("ascii"), found, event.method.decode("ascii"), "HTTP/1.1")


def request_bytes(event: h11.Request, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The upgrade request as bytes again, as uvicorn's h11 protocol hands it on (0.55)."""
    output = [event.method, b" ", event.target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        output += [name, b": ", value, b"\r\n"]
    output.append(b"\r\n")
    return b"".join(output)


class FastWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        """True if a frame written now goes straight out: open, and not paused by backpressure."""
        protocol = self._protocol
        return (
            protocol.conn.state is _OPEN
            and protocol.writable.is_set()
            and not protocol.transport.is_closing()
        )

    def gone(self) -> bool:
        """True once no frame can go out any more: the WebSocket is closing or closed. (Then the
        transport is not paused, so :meth:`writable` returns at once: a writer that waited for it
        in a loop would spin.)"""
        protocol = self._protocol
        return protocol.conn.state is not _OPEN or protocol.transport.is_closing()

    def write(self, frame: bytes) -> None:
        """Send one text frame (UTF-8 ``frame``) now. Call only when :meth:`ready`.

        The frame is built here rather than by websockets' ``send_text`` (a ``Frame`` object, its
        ``serialize``, a list of writes and a join, per frame and recipient: a sixth of the
        fan-out's per-frame CPU). That is the same bytes: a server's frames are never masked
        (RFC 6455 section 5.1), so a final text frame is its 2-, 4- or 10-byte header and the
        payload as is, and websockets keeps no state about the data frames it sends but the
        fragmentation flag, which a whole frame leaves alone. Only when an extension was
        negotiated (permessage-deflate, which ``tsudoi serve`` turns off but another
        configuration might not) does the frame go through websockets, which applies it."""
        protocol = self._protocol
        conn = protocol.conn
        if conn.extensions or conn.state is not _OPEN:
            try:
                conn.send_text(frame)
            except InvalidState:  # closing meanwhile: the frame has nowhere to go
                return
            protocol.transport.write(b"".join(conn.data_to_send()))
            return
        protocol.transport.write(text_frame_header(len(frame)) + frame)

    def try_write_event(self, seq: int, tail: bytes) -> bool:
        """Send the event frame ``event_frame(seq, tail)`` if :meth:`ready`; False, sending
        nothing, if not.

        The fan-out's own line, once per recipient, so it asks and writes in one call: the same
        bytes as :meth:`write` of that frame, with the shared tail copied once (into the bytes
        handed to the transport) where building the frame and then prefixing its header copied
        it twice. By callgrind, about 800 of the 19,000 instructions per delivered frame
        (BENCHMARKS.md)."""
        protocol = self._protocol
        conn = protocol.conn
        if conn.state is not _OPEN or not protocol.writable.is_set() or protocol.transport.is_closing():
            return False
        if conn.extensions:
            self.write(event_frame(seq, tail))
            return True
        head = EVENT_HEAD % seq
        length = len(head) + len(tail)
        header = _HEADER_16(0x81, 126, length) if 126 <= length < 65536 else text_frame_header(length)
        protocol.transport.write(b"".join((header, head, tail)))
        return True

    def write_many(self, frames: list[bytes]) -> None:
        """Send several text frames now, in one transport write (one ``send`` call where the
        socket takes them all) rather than one each. Call only when :meth:`ready`."""
        protocol = self._protocol
        conn = protocol.conn
        if conn.extensions or conn.state is not _OPEN:
            for frame in frames:
                self.write(frame)
            return
        parts = []
        for frame in frames:
            parts.append(text_frame_header(len(frame)))
            parts.append(frame)
        protocol.transport.write(b"".join(parts))

    async def receive(self) -> Any:
        """The next ASGI receive event, as uvicorn's ``receive`` gives it (0.55): taken straight
        from the protocol's inbox, without the awaits of Starlette's and uvicorn's ``receive``
        on the way (their frames, kept by every idle connection, and the calls, made for every
        frame received). Reading resumes once the inbox is empty, as there."""
        protocol = self._protocol
        message = await protocol.queue.get()
        if protocol.read_paused and protocol.queue.empty():
            protocol.read_paused = False
            protocol.transport.resume_reading()
        return message

    async def writable(self) -> None:
        """Wait until the transport accepts writes again (the client has read enough)."""
        await self._protocol.writable.wait()

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake now: put the close frame into the transport's buffer
        behind every frame written before it, whether or not the transport is paused.

        uvicorn's ``websocket.close`` first waits for the transport to take writes, which a
        client that stopped reading never lets happen; the gateway then gave up on it and the
        socket was closed with no close frame at all (PROTOCOL.md section 8.1 promises 4002 to
        a slow consumer). ``transport.write`` never blocks, so the frame is queued at once and
        the kernel delivers it after the others once the client reads. Otherwise this does what
        uvicorn's (0.55) ``websocket.close`` does: tell the app's ``receive`` the connection is
        over, resume reading for the peer's reply, and close the transport after
        ``close_timeout`` if none comes. A no-op once the WebSocket is closing or closed."""
        protocol = self._protocol
        if protocol.close_sent or protocol.conn.state is not _OPEN or protocol.transport.is_closing():
            return
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        if protocol.read_paused:
            protocol.read_paused = False
            protocol.transport.resume_reading()
        protocol.close_timer = protocol.loop.call_later(protocol.close_timeout, self._give_up)

    def _give_up(self) -> None:
        """No reply to the close frame within ``close_timeout``: close the transport, which sends
        what it still buffers first; a peer that does not read even that within
        ``CLOSE_DRAIN_S`` more is cut off (``abort`` drops the buffer), so a client that stopped
        reading for good cannot hold its socket, and the server's file, for ever."""
        transport = self._protocol.transport
        transport.close()
        if transport.get_write_buffer_size():
            self._protocol.loop.call_later(CLOSE_DRAIN_S, transport.abort)


class _Inbox:
    """The ASGI messages a connection has received and the app has not: what uvicorn's protocol
    uses of an ``asyncio.Queue`` (``put_nowait``, ``get``, ``empty``), with the same semantics:
    getters are served in order, and one cancelled after being woken passes the wake-up on.
    Holds two lists (empty: 56 bytes each) instead of a Queue's three deques and an Event, and
    counts the payload bytes waiting (``waiting``: what decides when reading pauses)."""

    __slots__ = ("_getters", "_items", "waiting")

    def __init__(self) -> None:
        self._items: list[tuple[Any, int]] = []
        self._getters: list[asyncio.Future[None]] = []
        self.waiting = 0

    def put_nowait(self, item: Any, size: int = 0) -> None:
        self._items.append((item, size))
        self.waiting += size
        self._wake()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                elif self._items:
                    self._wake()  # woken, then cancelled: the item is for the next getter
                raise
        item, size = self._items.pop(0)  # rarely more than one: reading pauses past a frame's worth
        self.waiting -= size
        return item

    def _wake(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


class _Flag:
    """uvicorn's "the transport takes writes" flag, set at first as uvicorn sets it:
    ``asyncio.Event``'s ``set``, ``clear``, ``is_set`` and ``wait``, with a list of waiters made
    only while someone waits."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        if not self._is_set:
            self._is_set = True
            waiters, self._waiters = self._waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        if self._is_set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class FastWriteProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering :class:`FastWriter` to the app and
    keeping less memory per connection (see the module docstring)."""

    #: uvicorn's instance attributes (0.54), as slots: 8 bytes each instead of a 1.6 KiB dict
    #: (CPython shares an instance dict's keys between instances only up to 30 attributes, and
    #: uvicorn's protocol has 37). An attribute a later uvicorn adds lands in the instance dict,
    #: which still works; ``tests/unit/test_connection_protocol.py`` notices it. ``ticket`` is ours
    #: (the connection's place under the caps on unauthenticated sockets, see :meth:`adopt`).
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "ticket",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.logger = self.conn.logger = logging.getLogger(CONNECTION_LOGGER)
        self.conn.debug = self.logger.isEnabledFor(logging.DEBUG)
        self.ticket: Ticket | None = None

    def adopt(self, ticket: Ticket) -> None:
        """Hold the upgrade's place under the caps on unauthenticated sockets until the app calls
        the :data:`~server.guard.AUTHENTICATED` extension or the connection is lost."""
        self.ticket = ticket

    def authenticated(self) -> None:
        """The app has accepted this connection's ``auth``: it no longer counts as unauthenticated."""
        ticket, self.ticket = self.ticket, None
        if ticket is not None:
            ticket.release()

    def take_over(
        self,
        transport: asyncio.Transport,
        event: h11.Request,
        headers: list[tuple[bytes, bytes]],
        server: tuple[str, int | None] | None,
        client: tuple[str, int] | None,
    ) -> None:
        """Take the connection over from the HTTP protocol that parsed its upgrade request
        (:meth:`server.guard.GuardedH11Protocol.handle_websocket_upgrade`), without parsing it
        again (see the module docstring, "The upgrade")."""
        self.connections.add(self)
        self.transport = transport
        self.server, self.client = server, client
        self.scheme = "wss" if is_ssl(transport) else "ws"
        transport.set_protocol(self)
        request = handshake_request(event, headers)
        if request is None:  # anything unusual: websockets parses the bytes and answers, as before
            self.data_received(request_bytes(event, headers))
            return
        # websockets' parser is a generator waiting for the request line; from here on it reads
        # frames, as it does once it has parsed a request itself (ServerProtocol.parse).
        conn = self.conn
        conn.parser.close()
        conn.parser = Protocol.parse(conn)
        next(conn.parser)
        self.handle_connect(request)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = FastWriter(self)
            scope["extensions"][AUTHENTICATED] = self.authenticated

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, then the connection's two reference cycles are broken, so that its
        objects (the socket's transport, this protocol, websockets' parser and buffers: about
        6 KiB) are freed as soon as the app lets go of it, not at the next full collection of
        the cyclic garbage collector, which ``tsudoi serve``'s thresholds make rare: a burst of
        3,000 sockets left 17 MiB behind until then (BENCHMARKS.md, "Idle unauthenticated
        sockets"). The cycles: the scope offers a :class:`FastWriter` that refers to this
        protocol; websockets' parser is a suspended generator that refers to its protocol (it
        never ends, even after the end of the stream); and Python 3.11's socket transport keeps
        its read callback, a method bound to itself (3.12 drops it as the transport closes).
        Nothing uses any of them once the connection is lost: a writer the app still holds
        finds the transport closing. The connection's place under the caps on unauthenticated
        connections is given back too (never authenticated, or already: either way it is free)."""
        self.authenticated()
        super().connection_lost(exc)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(EXTENSION, None)
            scope["extensions"].pop(AUTHENTICATED, None)  # a method bound to this protocol
        self.conn.parser.close()
        if getattr(self.transport, "_read_ready_cb", None) is not None:
            self.transport._read_ready_cb = None  # type: ignore[attr-defined]

    def send_receive_event_to_app(self) -> None:
        """uvicorn's (0.55), except that a text message that is not UTF-8 closes the connection
        with 1007 without logging a traceback (see the module docstring), and that reading
        pauses only once :data:`INBOX_PAUSE_BYTES` wait for the app, not at every message."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            # The app is past `websocket.close`: discard the message (as uvicorn does).
            return
        message: Any  # an ASGI receive event
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                self.conn.send_close(CLOSE_INVALID_DATA, "invalid UTF-8")
                self.handle_parser_exception()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        inbox = cast(_Inbox, self.queue)
        inbox.put_nowait(message, len(data))
        if not self.read_paused and inbox.waiting >= INBOX_PAUSE_BYTES:
            self.read_paused = True
            self.transport.pause_reading()

    def handle_parser_exception(self) -> None:
        """uvicorn's (0.55): the WebSocket layer has failed the connection and queued its close
        frame; tell the app, naming the fault under :data:`VIOLATION`, send, and close."""
        close = self.conn.close_sent
        code = close.code if close is not None else 1002
        event: Any = {  # ASGI's disconnect event and one key of ours, which Starlette passes through
            "type": "websocket.disconnect",
            "code": code,
            "reason": close.reason if close is not None else "",
            VIOLATION: VIOLATION_KINDS.get(code, "other"),
        }
        self.queue.put_nowait(event)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message.get("type") == "websocket.accept":
            # uvicorn keeps the upgrade's request and response (their headers) for the life of
            # the connection, but needs neither once the response is sent. The request stays
            # referenced by websockets' parser (a local of its suspended generator), so its
            # headers are emptied in place: together about 3 KiB per connection.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]
