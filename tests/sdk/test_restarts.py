"""Restarts on either side: the server's (same data, same port) and the bot's own process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import messages as m
from protocol.sdk import AuthFailed, Client
from tests.support.client import Users
from tests.support.server import ServerProcess

from .support import steady_backoff, until


async def test_keeps_receiving_across_a_server_restart_without_missing_or_repeating(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    author, fan = await users_of(server).author_and_fan()
    bot = Client(server.url, fan.token, backoff=steady_backoff(0.5))
    seen: list[str] = []
    readies: list[m.Ready] = []
    bot.on("post.created")(lambda event: seen.append(event.post.id))
    bot.on_ready(readies.append)
    posted: list[str] = []
    async with bot:
        async with Client(server.url, author.token) as writer:
            posted += [(await writer.post_create(f"before {i}")).post.id for i in range(5)]
            await until(lambda: len(seen) == 5, what="the first posts")
        await asyncio.to_thread(server.restart)
        async with Client(server.url, author.token) as writer:  # races the bot's reconnect
            posted += [(await writer.post_create(f"after {i}")).post.id for i in range(5)]
        await until(lambda: len(seen) >= 10 and bot.connected, what="the posts made after the restart")
        async with Client(server.url, author.token) as writer:
            posted.append((await writer.post_create("last")).post.id)
        await until(lambda: len(seen) >= 11, what="the last post")
        await asyncio.sleep(0.2)  # room for a duplicate to show up
    assert seen == posted
    assert len(readies) == 2 and readies[1].recovered


async def test_a_restarted_bot_resumes_from_its_cursor_file(
    server: ServerProcess, users: Users, tmp_path: Path
) -> None:
    author, fan = await users.author_and_fan()
    store = tmp_path / "cursors.json"
    seen: list[str] = []

    def make_bot() -> Client:
        bot = Client(server.url, fan.token, cursor_store=store)
        bot.on("post.created")(lambda event: seen.append(event.post.text))
        return bot

    async with Client(server.url, author.token) as writer:
        async with make_bot():
            await writer.post_create("one")
            await until(lambda: seen == ["one"], what="the first post")
        assert store.exists()
        for text in ("two", "three"):  # while the bot is down
            await writer.post_create(text)
        restarted = make_bot()
        async with restarted:
            await until(lambda: len(seen) == 3, what="the posts made while down")
            await writer.post_create("four")
            await until(lambda: len(seen) == 4, what="a live post")
        assert restarted.ready is not None and restarted.ready.recovered
    assert seen == ["one", "two", "three", "four"]


async def test_a_first_run_without_events_still_resumes_what_came_while_it_was_down(
    server: ServerProcess, users: Users, tmp_path: Path
) -> None:
    """A stream with no event yet gets a cursor from the server's clock, so nothing sent to a
    brand-new bot between its first run and its second is lost."""
    author, fan = await users.author_and_fan()
    store = tmp_path / "cursors.json"
    async with Client(server.url, fan.token, cursor_store=store) as first:
        await until(lambda: set(first.cursors) == set(m.STREAMS), what="cursors for every stream")
    seen: list[str] = []
    async with Client(server.url, author.token) as writer:
        await writer.post_create("while you were away")
        bot = Client(server.url, fan.token, cursor_store=store)
        bot.on("post.created")(lambda event: seen.append(event.post.text))
        async with bot:
            await until(lambda: seen == ["while you were away"], what="the missed post")


async def test_an_unknown_token_is_a_terminal_error(server: ServerProcess) -> None:
    bot = Client(server.url, "tsd_not-a-token")
    with pytest.raises(AuthFailed) as refused:
        await asyncio.wait_for(bot.start(), 10)
    assert refused.value.code == 4500
    with pytest.raises(AuthFailed):
        await bot.wait_closed()
