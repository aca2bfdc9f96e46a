"""The SDK against a live server: typed events and results, errors as exceptions, resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from protocol import messages as m
from protocol.sdk import Client, SessionRevoked, codes, login, login_device_token
from protocol.sdk.errors import FrameError
from protocol.text import Emotext
from tests.support.client import Users
from tests.support.server import ServerProcess

from .support import steady_backoff, until


async def test_handlers_receive_typed_events_and_results_are_typed(
    server: ServerProcess, users: Users
) -> None:
    author, fan = await users.author_and_fan()
    bot = Client(server.url, fan.token)
    posts: list[m.PostCreatedEvent] = []
    readies: list[m.Ready] = []

    @bot.on("post.created")
    async def collect(event: m.PostCreatedEvent) -> None:
        posts.append(event)

    bot.on_ready(readies.append)  # plain functions work as handlers too
    async with bot, Client(server.url, author.token) as writer:
        assert bot.user is not None and bot.user.id == fan.id
        result = await writer.post_create("はじめまして", emotext=Emotext.SHAKE)
        assert isinstance(result, m.PostResult) and result.post.text == "はじめまして"
        await until(lambda: len(posts) == 1, what="the post event")
        assert posts[0].post.id == result.post.id and posts[0].post.author.id == author.id
        assert bot.cursors["following"] == result.post.id  # moved once the handler ran
        profile = await bot.user_get(author.handle)
        assert isinstance(profile.user, m.Profile) and profile.user.following
        assert [r.user.id for r in readies] == [fan.id]


async def test_error_frames_raise_their_exception_class(server: ServerProcess, users: Users) -> None:
    someone = await users.new("errs")
    async with Client(server.url, someone.token) as bot:
        with pytest.raises(codes.NotFoundError) as missing:
            await bot.post_get("0" * 26)
        assert missing.value.op == "post.get" and missing.value.code == "not_found"
        with pytest.raises(codes.CannotFollowSelfError):
            await bot.follow(someone.id)
        with pytest.raises(codes.TextTooLongError) as long:
            await bot.post_create("あ" * 150)
        assert long.value.path == "$.text"
        with pytest.raises(codes.InvalidFrameError) as invalid:  # the decoder's bound, min_length 1
            await bot.post_create("")
        assert isinstance(invalid.value, FrameError) and invalid.value.path == "$.text"
        with pytest.raises(codes.ForbiddenError):
            await bot.incident_start("not an operator")
        with pytest.raises(codes.ReactionNotAllowedError):
            post = (await bot.post_create("react to me")).post
            await bot.post_react(post.id, "🦄")
        assert bot.connected  # errors never cost the connection


async def test_a_dropped_connection_resumes_every_missed_event_once(
    server: ServerProcess, users: Users
) -> None:
    author, fan = await users.author_and_fan()
    bot = Client(server.url, fan.token, backoff=steady_backoff(1.0))
    seen: list[str] = []
    readies: list[m.Ready] = []
    bot.on("post.created")(lambda event: seen.append(event.post.id))
    bot.on_ready(readies.append)
    async with bot, Client(server.url, author.token) as writer:
        before = [(await writer.post_create(f"before {i}")).post.id for i in range(3)]
        await until(lambda: len(seen) == 3, what="the live posts")
        conn = bot._conn
        assert conn is not None
        conn.ws.transport.abort()  # the network drops: no close frame
        await until(lambda: not bot.connected, what="the drop to be noticed")
        during = [(await writer.post_create(f"during {i}")).post.id for i in range(4)]
        await until(lambda: len(seen) == 7, what="the missed posts")
        after = (await writer.post_create("after")).post.id
        await until(lambda: len(seen) == 8, what="the live post after the resume")
        await asyncio.sleep(0.2)
    assert seen == [*before, *during, after]
    assert len(readies) == 2 and readies[1].recovered and readies[1].replayed == 4


async def test_bot_tokens_and_logged_in_sessions_both_authenticate(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot()
    async with Client(server.url, bot.token) as client:
        assert client.user is not None and client.user.bot and client.user.id == bot.id
    person = await users.new("login")
    session = await login(server.url, person.handle, person.password)
    async with Client(server.ws_url, session.token) as client:  # the ws:// form works too
        assert client.user is not None and not client.user.bot and client.user.handle == person.handle


async def test_login_keeps_the_device_token_so_guessers_cannot_lock_the_bot_out(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_LOGIN_ACCOUNT_FAILURES_TOTAL="3")
    users = users_of(server)
    person = await users.new("device")
    assert login_device_token(server.url, person.handle) is None
    await login(server.url, person.handle, person.password)
    token = login_device_token(server.url, person.handle)
    assert token is not None and token.startswith("tsdd_")
    for n in range(3):  # three addresses drain the account's budget (3 here)
        guess = {"handle": person.handle, "password": "a wrong guess"}
        await users.http.post("/api/login", json=guess, headers={"X-Forwarded-For": f"203.0.113.{n}"})
    # Any device the server does not know waits, the right password or not.
    unknown = await users.http.post("/api/login", json={"handle": person.handle, "password": person.password})
    assert unknown.status_code == 429
    session = await login(server.url, person.handle.upper(), person.password)  # sends the token
    assert session.user.handle == person.handle
    # Kept across restarts by the caller: passed back explicitly, it works the same.
    assert (await login(server.url, person.handle, person.password, device_token=token)).token


async def test_a_revoked_session_stops_the_client_for_good(server: ServerProcess, users: Users) -> None:
    person = await users.new("revoked")
    session = await login(server.url, person.handle, person.password)
    bot = Client(server.url, session.token)
    await bot.start()
    response = await users.http.post("/api/logout", headers={"Authorization": f"Bearer {session.token}"})
    assert response.status_code == 204
    with pytest.raises(SessionRevoked):
        await asyncio.wait_for(bot.wait_closed(), 10)
    with pytest.raises(SessionRevoked):  # requests after it say why, rather than hang
        await bot.heartbeat()
