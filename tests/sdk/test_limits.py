"""Limits the SDK honours by itself: rate limits, heartbeats, admission control (4007)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import orjson
import pytest

from protocol.sdk import Client, codes
from tests.support.client import Users
from tests.support.server import ServerProcess

from .support import steady_backoff, until

LIMITED = {
    "TSUDOI_POST_BURST": "2",
    "TSUDOI_POST_REFILL_MS": "300",
    "TSUDOI_BOT_POST_BURST": "2",
    "TSUDOI_BOT_POST_REFILL_MS": "300",
    # Short enough that the heartbeat test waits a few seconds, long enough that a bot whose
    # heartbeat is late on a loaded machine is not closed in the middle of another test.
    "TSUDOI_HEARTBEAT_INTERVAL_MS": "250",
    "TSUDOI_HEARTBEAT_TIMEOUT_MS": "1500",
    "TSUDOI_RESUME_MAX_ITEMS": "3",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("limited"), LIMITED).start()
    yield process
    process.stop()


@pytest.fixture
async def limited_users(limited: ServerProcess) -> AsyncIterator[Users]:
    made = Users(limited)
    yield made
    await made.close()


async def test_rate_limited_requests_wait_as_told_and_succeed(
    limited: ServerProcess, limited_users: Users
) -> None:
    poster = await limited_users.new("poster")
    async with Client(limited.url, poster.token) as bot:
        started = time.monotonic()
        posts = [(await bot.post_create(f"post {i}")).post for i in range(5)]
        elapsed = time.monotonic() - started
    assert len({p.id for p in posts}) == 5
    assert elapsed >= 0.7  # two at once, then three more at one per 300 ms


async def test_without_retries_the_rate_limit_is_raised_with_its_hint(
    limited: ServerProcess, limited_users: Users
) -> None:
    poster = await limited_users.new("eager")
    async with Client(limited.url, poster.token, rate_limit_retries=0) as bot:
        with pytest.raises(codes.RateLimitedError) as limited_error:
            for i in range(4):
                await bot.post_create(f"post {i}")
    assert 0 < (limited_error.value.retry_after_ms or 0) <= 300
    assert limited_error.value.op == "post.create"


async def test_a_stream_too_far_behind_is_reported_to_the_bot_then_followed_live(
    limited: ServerProcess, limited_users: Users, tmp_path: Path
) -> None:
    author, fan = await limited_users.author_and_fan()
    store = tmp_path / "cursors.json"
    async with Client(limited.url, author.token) as writer:
        async with Client(limited.url, fan.token, cursor_store=store) as first:
            await writer.post_create("seen")
            await until(lambda: "following" in first.cursors, what="a following cursor")
        for i in range(4):  # more than resume_max_items (3) while the bot is down
            await writer.post_create(f"missed {i}")
        bot = Client(limited.url, fan.token, cursor_store=store)
        reloads: list[list[str]] = []
        seen: list[str] = []
        bot.on_reload(reloads.append)
        bot.on("post.created")(lambda event: seen.append(event.post.text))
        async with bot:
            await until(lambda: reloads == [["following"]], what="the reload")
            assert bot.ready is not None and not bot.ready.recovered
            await until(lambda: "following" in bot.cursors, what="a fresh cursor")
            await writer.post_create("live again")
            await until(lambda: seen == ["live again"], what="the live post")
        assert orjson.loads(store.read_bytes())["following"] == bot.cursors["following"]


async def test_heartbeats_keep_an_idle_bot_connected(limited: ServerProcess, limited_users: Users) -> None:
    idle = await limited_users.new("idle")
    async with Client(limited.url, idle.token) as bot:
        await asyncio.sleep(3.2)  # more than twice the server's 1.5 s silence timeout
        assert bot.connected and bot.connections == 1


async def test_a_busy_server_is_waited_for_as_its_close_4007_says(
    start_server: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One handshake held at a time: of three bots starting together, two are told to come back.
    server = start_server(TSUDOI_ADMISSION_RATE="1", TSUDOI_ADMISSION_WAIT_MS="1000")
    someone = await users_of(server).new("crowd")
    caplog.set_level(logging.INFO, logger="tsudoi.sdk")
    bots = [Client(server.url, someone.token, backoff=steady_backoff(5.0)) for _ in range(3)]
    try:
        await asyncio.wait_for(asyncio.gather(*(bot.start() for bot in bots)), 20)
        assert all(bot.connected for bot in bots)
    finally:
        await asyncio.gather(*(bot.close() for bot in bots))
    assert "server busy (4007)" in caplog.text
