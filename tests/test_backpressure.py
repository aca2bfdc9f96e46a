"""A slow client cannot slow the others: its bounded queue overflows and it is closed with 4002,
while a client that reads keeps receiving everything; the slow one then resumes with nothing lost."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from protocol.codec import PROTOCOL_NAME
from server.gateway.endpoint import CLOSE_GRACE_S
from tests.support.client import Client, Users
from tests.support.metrics import scrape, scrape_when
from tests.support.schema import validate
from tests.support.server import ServerProcess

#: 149 user-perceived characters in about 7 KB of UTF-8 (1,937 code points: a letter carrying 12
#: four-byte combining marks, each cluster), so big frames fill the socket buffers quickly.
HEAVY = ("e" + "\U0001d165" * 12) * 149
#: At most this many posts (about 30 MiB) before the test gives up waiting for the overflow.
POSTS_MAX = 4000


class StalledClient:
    """A WebSocket client that reads only when asked to: websockets' sans-I/O protocol on a bare
    socket with a small receive buffer. No keepalive pings of its own (a library client's ping
    times out behind the megabytes it is not reading, and it then drops the connection itself),
    and no read-ahead beyond the kernel's buffer."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self._sock = sock
        self._protocol = protocol
        self._frames: list[dict[str, Any] | Close] = []
        self.eof = False

    @classmethod
    async def connect(cls, server: ServerProcess, receive_buffer: int) -> StalledClient:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        protocol = ClientProtocol(
            parse_uri(server.ws_url), subprotocols=[Subprotocol(PROTOCOL_NAME)], max_size=None
        )
        protocol.send_request(protocol.connect())
        client = cls(sock, protocol)
        await client._flush()
        return client

    async def send(self, frame: dict[str, Any]) -> None:
        self._protocol.send_text(orjson.dumps(frame))
        await self._flush()

    async def next(self) -> dict[str, Any] | Close:
        """The next text frame, decoded, or the close frame received (its code and reason).
        Raises EOFError if the server hangs up without one."""
        loop = asyncio.get_running_loop()
        while not self._frames:
            if self.eof:
                raise EOFError("the server closed the socket without a close frame")
            data = await asyncio.wait_for(loop.sock_recv(self._sock, 65536), 10)
            if data:
                self._protocol.receive_data(data)
            else:
                self.eof = True
                self._protocol.receive_eof()
            assert self._protocol.parser_exc is None, self._protocol.parser_exc
            for event in self._protocol.events_received():
                if not isinstance(event, Frame):  # the upgrade's response
                    assert isinstance(event, Response) and event.status_code == 101
                elif event.opcode is Opcode.TEXT:
                    self._frames.append(orjson.loads(event.data))
                elif event.opcode is Opcode.CLOSE:
                    assert self._protocol.close_rcvd is not None
                    self._frames.append(self._protocol.close_rcvd)
            await self._flush()  # pongs, and the reply to a close
        return self._frames.pop(0)

    async def _flush(self) -> None:
        for chunk in self._protocol.data_to_send():
            if chunk:
                await asyncio.get_running_loop().sock_sendall(self._sock, chunk)

    def close(self) -> None:
        self._sock.close()


async def test_a_client_that_stops_reading_is_closed_and_loses_nothing(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    # Resume allows more than the test can post, so the whole gap is replayed however much of
    # it the kernel's buffers took before the queue overflowed.
    server = start_server(
        TSUDOI_SEND_QUEUE_MAX="16", TSUDOI_FRAME_BURST="100000", TSUDOI_RESUME_MAX_ITEMS=str(POSTS_MAX)
    )
    users = users_of(server)
    author = await users.new("author")
    slow_fan = await users.new("slow", invited_by=author)
    fast_fan = await users.new("fast", invited_by=author)
    author_client = await Client.login(server, author.token)
    fast = await Client.login(server, fast_fan.token)

    # The slow client: a small receive buffer, and it stops reading after ready.
    slow = await StalledClient.connect(server, receive_buffer=4096)
    hello = await slow.next()
    assert isinstance(hello, dict) and validate(hello) == "hello"
    await slow.send({"op": "auth", "token": slow_fan.token})
    ready = await slow.next()
    assert isinstance(ready, dict) and validate(ready) == "ready"

    # The stalled socket takes what the kernel buffers for it (up to tcp_wmem's maximum, which
    # differs between machines and with memory pressure), then the transport's 64 KiB, then the
    # 16-frame queue. So post until the node reports the overflow, and a few posts more.
    posted: list[str] = []
    overflowed_at = None
    while overflowed_at is None or len(posted) < overflowed_at + 20:
        for _ in range(50):
            posted.append((await author_client.call("post.create", text=HEAVY))["post"]["id"])
        if overflowed_at is None and (await scrape(server)).value("tsudoi_slow_consumers_closed_total"):
            overflowed_at = len(posted)
        assert len(posted) < POSTS_MAX, "the stalled client was never closed"
    got = [(await fast.next_event("post.created"))["data"]["post"]["id"] for _ in posted]
    assert got == posted  # the reader was not held back by the one that stopped

    # The server is done with the slow one (its read loop learnt of the close), and longer
    # ago than the grace the endpoint gives a close frame: the frame is in the socket's buffer
    # already, not waiting for the client to read first.
    done = await scrape_when(server, lambda s: s.value("tsudoi_connections", state="live") == 2, timeout=10)
    assert done.value("tsudoi_connections", state="live") == 2
    await asyncio.sleep(CLOSE_GRACE_S + 0.5)

    # Now the slow one reads on: complete events in order, then the close code 4002.
    cursor, seq = None, 0
    while isinstance(frame := await slow.next(), dict):
        assert validate(frame) == "event.post.created" and frame["seq"] == seq + 1
        cursor, seq = frame["pos"], frame["seq"]
    assert frame.code == 4002 and frame.reason == "slow_consumer"
    assert cursor is not None and cursor < posted[-1]
    slow.close()

    back = await Client.login(server, slow_fan.token, cursors={"following": cursor})
    assert back.ready is not None and back.ready["recovered"] is True
    expected = [p for p in posted if p > cursor]
    assert back.ready["replayed"] == len(expected)
    replayed = [(await back.next_event())["data"]["post"]["id"] for _ in expected]
    assert replayed == expected
    assert await back.events_now() == []
