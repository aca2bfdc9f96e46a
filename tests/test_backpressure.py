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
from tests.support.metrics import scrape
from tests.support.schema import validate
from tests.support.server import ServerProcess

#: 149 user-perceived characters in about 7 KB of UTF-8 (1,937 code points: a letter carrying 12
#: four-byte combining marks, each cluster), so big frames fill the socket buffers quickly.
HEAVY = ("e" + "\U0001d165" * 12) * 149
#: At most this many posts (about 30 MiB) before the test gives up waiting for the overflow.
POSTS_MAX = 4000


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
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    slow = await connect(server.ws_url, sock=sock, subprotocols=["tsudoi.v1"], max_queue=1)  # type: ignore[list-item]
    validate(orjson.loads(await slow.recv()))  # hello
    await slow.send(orjson.dumps({"op": "auth", "token": slow_fan.token}).decode())
    ready = orjson.loads(await slow.recv())
    assert validate(ready) == "ready"

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
