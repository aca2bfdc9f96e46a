"""A slow client cannot slow the others: its bounded queue overflows and it is closed with 4002,
while a client that reads keeps receiving everything; the slow one then resumes with nothing lost."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, Users
from tests.support.schema import validate
from tests.support.server import ServerProcess

#: 149 user-perceived characters in about 7 KB of UTF-8 (1,937 code points: a letter carrying 12
#: four-byte combining marks, each cluster), so big frames fill the socket buffers quickly.
HEAVY = ("e" + "\U0001d165" * 12) * 149


async def test_a_client_that_stops_reading_is_closed_and_loses_nothing(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_SEND_QUEUE_MAX="16", TSUDOI_FRAME_BURST="100000")
    users = users_of(server)
    author = await users.new("author")
    slow_fan = await users.new("slow", invited_by=author)
    fast_fan = await users.new("fast", invited_by=author)
    author_client = await Client.login(server, author.token)
    fast = await Client.login(server, fast_fan.token)

    # The slow client: a small receive buffer, and it stops reading after ready.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    slow = await connect(server.ws_url, sock=sock, subprotocols=["tsudoi.v1"], max_queue=1)  # type: ignore[list-item]
    validate(orjson.loads(await slow.recv()))  # hello
    await slow.send(orjson.dumps({"op": "auth", "token": slow_fan.token}).decode())
    ready = orjson.loads(await slow.recv())
    assert validate(ready) == "ready"

    # Linux lets the kernel hold up to tcp_wmem's maximum (4 MiB here) for the stalled socket;
    # 8 MiB of posts is sure to overflow that, the transport's 64 KiB and the 16-frame queue.
    posted = [(await author_client.call("post.create", text=HEAVY))["post"]["id"] for _ in range(1150)]
    got = [(await fast.next_event("post.created"))["data"]["post"]["id"] for _ in posted]
    assert got == posted  # the reader was not held back by the one that stopped

    # Now the slow one reads on: complete events, then the close code, and it kept a cursor.
    cursor = None
    try:
        while True:
            frame = orjson.loads(await asyncio.wait_for(slow.recv(), 10))
            validate(frame)
            cursor = frame["pos"]
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4002
    assert cursor is not None and cursor < posted[-1]

    back = await Client.login(server, slow_fan.token, cursors={"following": cursor})
    assert back.ready is not None and back.ready["recovered"] is True
    expected = [p for p in posted if p > cursor]
    assert back.ready["replayed"] == len(expected)
    replayed = [(await back.next_event())["data"]["post"]["id"] for _ in expected]
    assert replayed == expected
    assert await back.events_now() == []
