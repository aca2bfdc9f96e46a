"""Resume: a follower that reconnects with its cursor gets every missed item exactly once, in order."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from tests.support.client import Client, Users
from tests.support.server import ServerProcess


async def test_resume_after_50_missed_posts(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    seen = (await author_client.call("post.create", text="before the drop"))["post"]
    assert (await fan_client.next_event("post.created"))["pos"] == seen["id"]
    cursor = fan_client.cursor
    assert cursor is not None
    await fan_client.close()

    missed = [(await author_client.call("post.create", text=f"missed {n}"))["post"]["id"] for n in range(50)]

    back = await Client.login(server, fan.token, cursors={"following": cursor})
    assert back.ready is not None
    assert back.ready["recovered"] is True and back.ready["replayed"] == 50
    replayed = [await back.next_event() for _ in range(50)]
    assert [e["data"]["post"]["id"] for e in replayed] == missed
    assert [e["seq"] for e in replayed] == list(range(1, 51))
    # Live again: the next post arrives once, after the backlog, and nothing else does.
    live = (await author_client.call("post.create", text="live again"))["post"]
    event = await back.next_event()
    assert event["data"]["post"]["id"] == live["id"] and event["seq"] == 51
    assert await back.events_now() == []


async def test_deletions_while_away_are_replayed(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    seen = (await author_client.call("post.create", text="you saw this"))["post"]
    await fan_client.next_event("post.created")
    cursor = fan_client.cursor
    assert cursor is not None
    await fan_client.close()

    await author_client.call("post.delete", post_id=seen["id"])
    ghost = (await author_client.call("post.create", text="posted and deleted while away"))["post"]
    await author_client.call("post.delete", post_id=ghost["id"])
    kept = (await author_client.call("post.create", text="still here"))["post"]

    back = await Client.login(server, fan.token, cursors={"following": cursor})
    assert back.ready is not None and back.ready["replayed"] == 2
    first, second = await back.next_event(), await back.next_event()
    assert (first["type"], first["data"]["post_id"]) == ("post.deleted", seen["id"])
    assert (second["type"], second["data"]["post"]["id"]) == ("post.created", kept["id"])
    assert first["pos"] < second["pos"]


async def test_too_many_missed_means_recovered_false(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_RESUME_MAX_ITEMS="20")
    users = users_of(server)
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    first = (await author_client.call("post.create", text="seen"))["post"]
    for n in range(21):
        await author_client.call("post.create", text=f"missed {n}")
    back = await Client.login(server, fan.token, cursors={"following": first["id"]})
    assert back.ready is not None
    assert back.ready["recovered"] is False and back.ready["replayed"] == 0
    assert await back.events_now() == []
    page = await back.call("timeline.following", limit=100)  # what a client does instead: reload
    assert len(page["posts"]) == 22
    # Exactly at the bound is still recovered.
    back_again = await Client.login(server, fan.token, cursors={"following": page["posts"][20]["id"]})
    assert back_again.ready is not None and back_again.ready["recovered"] is True
    assert back_again.ready["replayed"] == 20


async def test_nothing_missed_is_recovered_with_nothing_replayed(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    post = (await client.call("post.create", text="last one"))["post"]
    back = await Client.login(server, author.token, cursors={"following": post["id"]})
    assert back.ready is not None
    assert (back.ready["recovered"], back.ready["replayed"]) == (True, 0)


async def test_posts_made_during_the_resume_arrive_exactly_once(server: ServerProcess, users: Users) -> None:
    """Subscribing before reading the backlog must neither drop nor repeat concurrent posts."""
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    start = (await author_client.call("post.create", text="cursor"))["post"]["id"]
    for n in range(30):
        await author_client.call("post.create", text=f"backlog {n}")

    async def keep_posting() -> list[str]:
        return [
            (await author_client.call("post.create", text=f"during {n}"))["post"]["id"] for n in range(40)
        ]

    posting = asyncio.create_task(keep_posting())
    resumed = []
    for _ in range(5):  # reconnect repeatedly while the author keeps posting
        await asyncio.sleep(0.01)
        client = await Client.login(server, fan.token, cursors={"following": start})
        assert client.ready is not None and client.ready["recovered"] is True
        resumed.append(client)
    made = await posting
    everything = (await author_client.call("timeline.following", limit=100))["posts"]
    expected = sorted(p["id"] for p in everything if p["id"] > start)
    assert len(expected) == 70 and made == expected[-40:]
    for client in resumed:
        got = [e["data"]["post"]["id"] for e in await client.events_now(settle=0.5)]
        assert got == expected, "missing or repeated posts after resume"


async def test_resume_across_a_server_restart(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    await author_client.call("post.create", text="before restart")
    await fan_client.next_event("post.created")
    cursor = fan_client.cursor
    assert cursor is not None
    server.restart()
    assert await fan_client.closed() == 4000

    users = users_of(server)
    author_client = await Client.login(server, author.token)
    posted = [(await author_client.call("post.create", text=f"after {n}"))["post"]["id"] for n in range(5)]
    back = await Client.login(server, fan.token, cursors={"following": cursor})
    assert [e["data"]["post"]["id"] for e in await back.events_now()] == posted


async def test_a_moment_is_a_cursor_for_a_stream_never_seen(server: ServerProcess, users: Users) -> None:
    """PROTOCOL.md section 6.2: a client with no event of a stream yet resumes from a moment of
    the server's clock, and gets every event made after it."""
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    await author_client.call("post.create", text="before the moment")
    await asyncio.sleep(0.005)  # the moment is a whole millisecond: not the post's
    server_time = (await fan_client.call("heartbeat"))["server_time"]
    await fan_client.close()
    await asyncio.sleep(0.005)  # the moment is a whole millisecond: be past it
    after = [(await author_client.call("post.create", text=f"after {n}"))["post"]["id"] for n in range(3)]
    seconds, _, fraction = server_time.rstrip("Z").partition(".")
    ms = int(dt.datetime.fromisoformat(seconds).replace(tzinfo=dt.UTC).timestamp()) * 1000 + int(fraction)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    moment = "".join(alphabet[(ms >> (5 * (9 - i))) & 31] for i in range(10)) + "0" * 16
    back = await Client.login(server, fan.token, cursors={"following": moment})
    assert back.ready is not None
    assert back.ready["recovered"] is True and back.ready["replayed"] == 3
    assert [(await back.next_event())["data"]["post"]["id"] for _ in range(3)] == after
