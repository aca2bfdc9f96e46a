"""Items stored out of order by several writers (PROTOCOL.md section 6.5): a resume that sends
``recent`` receives an item stored after one with a greater position, exactly once.

The interleaving is real, not simulated: the test process opens the server's SQLite file as a
second writer — a second worker, say — whose clock runs behind the server's, and stores a post
after the follower has seen (and disconnected with) a later one. Nothing publishes it live: the
follower was away, and only a resume can bring it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from server.config import Settings
from server.ids import timestamp_ms
from server.store import open_storage
from server.store.base import Storage
from tests.support.client import Client, Users
from tests.support.server import ServerProcess


@pytest.fixture
async def second_writer(server: ServerProcess) -> AsyncIterator[Storage]:
    store = await open_storage(Settings(data_dir=server.data_dir))
    yield store
    await store.close()


async def test_an_item_stored_late_behind_the_cursor_is_resumed_once_with_recent(
    server: ServerProcess, users: Users, second_writer: Storage
) -> None:
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    hello = fan_client.hello
    assert hello is not None and hello["limits"]["resume_window_ms"] == 5000
    seen = (await writer.call("post.create", text="seen"))["post"]["id"]
    assert (await fan_client.next_event("post.created"))["pos"] == seen
    await fan_client.close()

    # The second writer made its id two seconds "earlier" and stores it only now.
    late = await second_writer.create_post(
        author_id=author.id, text="late", emotext=None, reply_to=None, now_ms=timestamp_ms(seen) - 2000
    )
    assert late.id < seen
    after = (await writer.call("post.create", text="after"))["post"]["id"]

    back = await Client.login(server, fan.token, cursors={"following": seen}, recent=[seen])
    assert back.ready is not None and back.ready["recovered"] is True
    replayed = [e["data"]["post"]["id"] for e in await back.events_now()]
    assert replayed == [late.id, after]  # the late one first, once; not the one it holds

    # Without `recent`, a resume starts strictly after the cursor, as before 1.8.0.
    await back.close()
    old = await Client.login(server, fan.token, cursors={"following": seen})
    assert [e["data"]["post"]["id"] for e in await old.events_now()] == [after]


async def test_the_look_back_ends_at_the_window(
    server: ServerProcess, users: Users, second_writer: Storage
) -> None:
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)
    seen = (await writer.call("post.create", text="seen"))["post"]["id"]
    # Oldest first: one writer's ids only grow, so a later call with an earlier clock would
    # get an id just after the previous one.
    outside = await second_writer.create_post(
        author_id=author.id, text="5.1 s late", emotext=None, reply_to=None, now_ms=timestamp_ms(seen) - 5100
    )
    inside = await second_writer.create_post(
        author_id=author.id, text="4.9 s late", emotext=None, reply_to=None, now_ms=timestamp_ms(seen) - 4900
    )
    back = await Client.login(server, fan.token, cursors={"following": seen}, recent=[seen])
    got = [e["data"]["post"]["id"] for e in await back.events_now()]
    assert got == [inside.id] and outside.id not in got


async def test_the_bound_counts_the_window_and_what_follows_the_cursor(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    """With ``recent``, a stream's window and what follows its cursor are read together: the
    client reloads when either holds more than ``resume_max_items``, or when what it would be
    given (what it lacks of the window, and everything after the cursor) is more than that."""
    server = start_server(TSUDOI_RESUME_MAX_ITEMS="3")
    users = users_of(server)
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)

    async def post(n: int) -> str:
        return str((await writer.call("post.create", text=f"post {n}"))["post"]["id"])

    async def resume(cursor: str, recent: list[str]) -> tuple[bool, list[str]]:
        back = await Client.login(server, fan.token, cursors={"following": cursor}, recent=recent)
        assert back.ready is not None
        given = [e["data"]["post"]["id"] for e in await back.events_now()]
        await back.close()
        assert back.ready["replayed"] == len(given)
        return back.ready["recovered"], given

    p = [await post(n) for n in range(4)]  # all within the window of each other
    # Lacking p0 of the window, with two after the cursor: three given, the late one first.
    assert await resume(p[1], [p[1]]) == (True, [p[0], p[2], p[3]])
    p += [await post(n) for n in range(4, 6)]
    # Three in the window (held), three after the cursor: exactly the bound.
    assert await resume(p[2], p[:3]) == (True, p[3:])
    # Four in the window, though the client holds them all: more than the bound.
    assert await resume(p[3], p[:4]) == (False, [])
    # Four after the cursor.
    assert await resume(p[1], p[:2]) == (False, [])
    # Three in the window and three after, but lacking one of the window: four to give.
    assert await resume(p[2], [p[0], p[2]]) == (False, [])


async def test_too_many_recent_positions_close_the_handshake(server: ServerProcess, users: Users) -> None:
    author, _ = await users.author_and_fan()
    client = await Client.open(server)
    await client.send({"op": "auth", "token": author.token, "recent": ["01M7Z3MWDW88G9C4QTT0N7GYSQ"] * 1001})
    assert await client.closed() == 4502
