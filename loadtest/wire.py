"""The load generator's WebSocket: RFC 6455 from the client's side, and nothing else.

A load generator measures a server only while it is cheaper than the server. In a reconnect
storm it was not: one generator process spent about 1.9 ms of its core per reconnect through
``websockets``' asyncio client, more than the node spent on the resume (BENCHMARKS.md, "The
storm's generator"). That client is general: it parses the response through its HTTP and header
machinery, keeps a task per connection for keep-alive, and a lock and futures for each frame.
This one does what a load client needs and what the RFC requires of a client:

- the opening handshake (section 4.1), with the ``Sec-WebSocket-Accept`` and the subprotocol
  checked;
- text frames out, masked (section 5.3); frames in, unmasked, fragmented or not (section 5.4);
- pings answered with pongs (section 5.5.2), the closing handshake from either side (section 7).

No extensions are offered, so none can be agreed. Received messages are handed over as bytes:
every reader here parses them with ``orjson.loads``, which takes bytes as they are.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import struct
from collections import deque
from urllib.parse import urlsplit

#: RFC 6455 section 1.3: appended to the key before hashing, to make ``Sec-WebSocket-Accept``.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The codes a close frame may not carry but a peer reports (section 7.4.1).
NO_STATUS, ABNORMAL = 1005, 1006
_TEXT, _BINARY, _CONTINUATION, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
#: How long ``close`` waits for the server's answer before it drops the connection.
CLOSE_TIMEOUT_S = 10.0


class Closed(ConnectionError):
    """The connection is closed: ``code`` and ``reason`` of the server's close frame, or 1006
    (``ABNORMAL``) with an empty reason when it was lost without one."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code} {reason}".rstrip())
        self.code, self.reason = code, reason


class HandshakeFailed(ConnectionError):
    """The server did not switch protocols as asked (a status other than 101, a wrong accept
    key or subprotocol), or closed the connection before answering."""


class Socket(asyncio.Protocol):
    """One client WebSocket on an asyncio transport."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._messages: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._handshake: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._open = False
        self._close_sent = False
        self._lost = asyncio.get_running_loop().create_future()
        #: The server's close code (1005 if its close frame had none, 1006 if there was no close
        #: frame); None while the connection is open.
        self.close_code: int | None = None
        self.close_reason = ""

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._open:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self._open = True
            if not self._handshake.done():
                self._handshake.set_result(head)
            if not head.startswith(b"HTTP/1.1 101 "):
                return  # not switched: what follows is not frames (``_opened`` says why)
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(HandshakeFailed("connection closed before the handshake's answer"))
        if self.close_code is None:
            self.close_code = ABNORMAL
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()

    # --- frames in ------------------------------------------------------------------------

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, at = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                (length,), at = struct.unpack_from("!H", buffer, 2), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                (length,), at = struct.unpack_from("!Q", buffer, 2), 10
            if second & 0x80 or length > self._max_size:  # a server must not mask (section 5.1)
                self._fail(1002 if second & 0x80 else 1009)
                return
            if len(buffer) < at + length:
                return
            payload = bytes(buffer[at : at + length])
            del buffer[: at + length]
            self._frame(first & 0x80, first & 0x0F, payload)

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (_TEXT, _BINARY, _CONTINUATION):
            if not fin:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join((*self._fragments, payload))
                self._fragments.clear()
            self._messages.append(payload)
            self._wake()
        elif opcode == _PING:
            self._write(_PONG, payload)
        elif opcode == _CLOSE:
            if len(payload) >= 2:
                (self.close_code,) = struct.unpack_from("!H", payload)
                self.close_reason = payload[2:].decode("utf-8", "replace")
            else:
                self.close_code = NO_STATUS
            if not self._close_sent:  # the server began it: echo, then the server ends the TCP
                self._write(_CLOSE, payload[:2])
                self._close_sent = True
            self._wake()

    def _fail(self, code: int) -> None:
        self.close_code = code
        if not self._close_sent:
            self._write(_CLOSE, struct.pack("!H", code))
            self._close_sent = True
        if self._transport is not None:
            self._transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- frames out -----------------------------------------------------------------------

    def _write(self, opcode: int, payload: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        # Section 5.3 asks for an unpredictable key to protect proxies' caches from a browser's
        # scripts; between a load generator and a server on loopback, any key will do.
        key = random.randbytes(4)
        mask = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
        self._transport.write(header + key + masked)

    # --- the interface the load clients use ------------------------------------------------

    async def send(self, text: str) -> None:
        if self.close_code is not None or self._close_sent:
            raise Closed(self.close_code or ABNORMAL, self.close_reason)
        self._write(_TEXT, text.encode())

    async def recv(self) -> bytes:
        while not self._messages:
            if self.close_code is not None:
                raise Closed(self.close_code, self.close_reason)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._messages.popleft()

    def __aiter__(self) -> Socket:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except Closed:
            raise StopAsyncIteration from None

    async def close(self, code: int = 1000) -> None:
        """The closing handshake: a close frame, then wait (at most ``CLOSE_TIMEOUT_S``) for the
        server to answer and end the TCP connection."""
        if not self._close_sent and self.close_code is None:
            self._write(_CLOSE, struct.pack("!H", code))
            self._close_sent = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(self._lost)
        except TimeoutError:
            pass
        finally:
            if self._transport is not None:
                self._transport.close()

    async def _opened(self, host: str, path: str, subprotocol: str) -> None:
        key = base64.b64encode(random.randbytes(16))
        assert self._transport is not None
        self._transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
            % (path.encode(), host.encode(), key, subprotocol.encode())
        )
        status, *lines = (await self._handshake).decode("latin-1").split("\r\n")
        if not status.startswith("HTTP/1.1 101 "):
            raise HandshakeFailed(f"the server answered {status!r}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID, usedforsecurity=False).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise HandshakeFailed("wrong Sec-WebSocket-Accept")
        if headers.get("sec-websocket-protocol") != subprotocol:
            raise HandshakeFailed(
                f"subprotocol {headers.get('sec-websocket-protocol')!r} not {subprotocol!r}"
            )


async def open_socket(url: str, subprotocol: str, *, max_size: int, open_timeout: float) -> Socket:
    """A WebSocket to ``url`` (``ws://host:port/path``) speaking ``subprotocol``, open within
    ``open_timeout`` seconds or ``TimeoutError``."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"not a ws:// URL: {url!r}")
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(open_timeout):
        transport, socket = await loop.create_connection(lambda: Socket(max_size), parts.hostname, port)
        try:
            await socket._opened(f"{parts.hostname}:{port}", path, subprotocol)
        except BaseException:
            transport.close()
            raise
    return socket
