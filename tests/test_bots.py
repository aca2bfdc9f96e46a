"""Bot accounts and webhooks, over a real server: ``tsudoi admin bot``, bots marked in every
payload and limited by their own buckets, and signed, retried, resumable webhook deliveries to
a real HTTP endpoint (tests/support/webhooks.py verifies each one with the SDK's verifier)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from tests.support.client import Account, Client, Users
from tests.support.server import ServerProcess, tsudoi
from tests.support.webhooks import receiving

#: Webhooks to loopback only, quick polls and short leases, so the tests wait little.
WEBHOOK_ENV = {
    "TSUDOI_WEBHOOK_ALLOWED": "127.0.0.0/8",
    "TSUDOI_WEBHOOK_POLL_MS": "50",
    "TSUDOI_WEBHOOK_LEASE_MS": "3000",
    "TSUDOI_WEBHOOK_RETRY_MAX_MS": "400",
}


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def test_a_bot_is_created_by_an_operator_and_marked_everywhere(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot("weather_bot")
    person = await users.new("aya")
    client = await Client.login(server, bot.token)
    assert client.ready is not None
    assert client.ready["user"]["bot"] is True and client.ready["user"]["handle"] == "weather_bot"
    await client.call("follow", user_id=person.id)
    reader = await Client.login(server, person.token)
    assert (await reader.call("user.get", handle=bot.handle))["user"]["bot"] is True
    assert (await reader.call("user.get", handle=person.handle))["user"]["bot"] is False
    post = (await client.call("post.create", text="晴れ、最高気温18度"))["post"]
    assert post["author"]["bot"] is True
    # One bot per handle; a bot has no password to log in with.
    again = tsudoi("admin", "bot", "create", "weather_bot", "--data", str(server.data_dir))
    assert again.returncode == 1 and "taken" in again.stderr
    login = await users.http.post("/api/login", json={"handle": "weather_bot", "password": "!"})
    assert login.status_code == 401


async def test_a_new_bot_token_retires_the_old_one(server: ServerProcess, users: Users) -> None:
    bot = await users.bot()
    rotated = tsudoi("admin", "bot", "token", bot.handle, "--json", "--data", str(server.data_dir))
    assert rotated.returncode == 0, rotated.stderr
    old = await Client.open(server)
    await old.wait_hello()
    await old.send({"op": "auth", "token": bot.token})
    assert await old.closed() == 4500
    new_token = httpx.Response(200, content=rotated.stdout).json()["token"]
    renewed = await Client.login(server, new_token)
    assert renewed.ready is not None and renewed.ready["user"]["id"] == bot.id
    person = await users.new()
    refused = tsudoi("admin", "bot", "token", person.handle, "--data", str(server.data_dir))
    assert refused.returncode == 1 and "no bot" in refused.stderr


async def test_bots_draw_on_their_own_rate_limits(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_POST_BURST="2", TSUDOI_BOT_POST_BURST="5")
    users = users_of(server)
    person, bot = await users.new(), await users.bot()
    person_client, bot_client = (
        await Client.login(server, person.token),
        await Client.login(server, bot.token),
    )
    limits = (await person_client.wait_hello())["limits"]
    assert (limits["post_burst"], limits["bot_post_burst"]) == (2, 5)

    async def posts_before_limited(client: Client) -> int:
        for made in range(10):
            frame = await client.call_frame("post.create", text=f"#{made}")
            if frame["op"] == "error":
                assert frame["code"] == "rate_limited" and frame["retry_after_ms"] > 0
                return made
        return 10

    assert await posts_before_limited(person_client) == 2
    assert await posts_before_limited(bot_client) == 5


async def test_webhook_registration_is_for_bots_and_allowed_destinations(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(**WEBHOOK_ENV)
    users = users_of(server)
    bot, person = await users.bot(), await users.new()
    http = users.http
    key = (await http.get("/api/webhook/key")).json()
    assert key["algorithm"] == "ed25519" and len(key["public_key"]) == 43
    async with httpx.AsyncClient(base_url=server.url) as anonymous:  # no session cookie
        assert (
            await anonymous.put("/api/webhook", json={"url": "http://127.0.0.1:9/hook"})
        ).status_code == 401
    refused = await http.put("/api/webhook", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(person))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_a_bot"
    for url, why in [
        ("http://10.0.0.7/hook", "not on this server's list"),
        ("https://169.254.169.254/latest/meta-data", "not on this server's list"),
        ("http://localhost.invalid/hook", "not on this server's list"),
        ("ftp://127.0.0.1/hook", "https://"),
        ("http://user:secret@127.0.0.1:9/hook", "user name or password"),
    ]:
        answer = await http.put("/api/webhook", json={"url": url}, headers=bearer(bot))
        assert answer.status_code == 422, url
        error = answer.json()["error"]
        assert error["code"] == "webhook_not_allowed" and why in error["message"], (url, error)
    assert (await http.get("/api/webhook", headers=bearer(bot))).json()["url"] is None
    put = await http.put("/api/webhook", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(bot))
    assert put.status_code == 200 and put.json()["url"] == "http://127.0.0.1:9/hook"
    assert put.json()["public_key"] == key["public_key"]
    assert (await http.delete("/api/webhook", headers=bearer(bot))).json()["url"] is None


async def test_webhooks_are_off_unless_the_operator_lists_destinations(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot()
    answer = await users.http.put(
        "/api/webhook", json={"url": "https://example.com/hook"}, headers=bearer(bot)
    )
    assert answer.status_code == 422 and "TSUDOI_WEBHOOK_ALLOWED" in answer.json()["error"]["message"]


async def test_a_bot_receives_each_stream_signed_in_order_and_retried_until_accepted(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(**WEBHOOK_ENV)
    users = users_of(server)
    bot, aya = await users.bot("relay_bot"), await users.new("aya")
    bot_client = await Client.login(server, bot.token)
    await bot_client.call("follow", user_id=aya.id)
    await bot_client.close()
    key = (await users.http.get("/api/webhook/key")).json()["public_key"]
    async with receiving(key) as receiver:
        receiver.fail_next = 2  # the first two attempts fail: the same event comes again
        registered = await users.http.put("/api/webhook", json={"url": receiver.url}, headers=bearer(bot))
        assert registered.status_code == 200
        aya_client = await Client.login(server, aya.token)
        first = (await aya_client.call("post.create", text="おはよう"))["post"]
        mention = (await aya_client.call("post.create", text="@relay_bot 今日の天気は？"))["post"]
        conversation = (await aya_client.call("dm.open", user_ids=[bot.id]))["conversation"]
        message = (await aya_client.call("dm.send", conversation_id=conversation["id"], text="こんにちは"))[
            "message"
        ]
        # Five events: two posts, a mention, the conversation's opening and the message.
        deliveries = await receiver.wait_for(5)
        assert receiver.rejected == []
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            assert delivery.id == f"{delivery.stream}:{delivery.event['pos']}"
            assert delivery.event["stream"] == delivery.stream
            by_stream.setdefault(delivery.stream, []).append(delivery.event["type"])
        assert by_stream["following"] == ["post.created", "post.created"]
        assert by_stream["direct"] == ["dm.message", "dm.message"]
        assert by_stream["notifications"] == ["notification"]
        following = [d.event["data"]["post"]["id"] for d in deliveries if d.stream == "following"]
        assert following == [first["id"], mention["id"]]  # in stream order
        direct = [d.event["data"]["message"] for d in deliveries if d.stream == "direct"]
        assert direct[0]["conversation_id"] == conversation["id"] and direct[1]["id"] == message["id"]
        notice = next(d for d in deliveries if d.stream == "notifications")
        assert notice.event["data"]["notification"]["kind"] == "mention"
        assert len(deliveries) == 5  # each accepted once; the failed attempts were not recorded
        status = (await users.http.get("/api/webhook", headers=bearer(bot))).json()
        assert (status["failures"], status["last_error"]) == (0, None)


async def test_webhook_delivery_survives_a_server_restart_and_reports_failures(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(**WEBHOOK_ENV)
    users = users_of(server)
    bot, aya = await users.bot(), await users.new("aya")
    key = (await users.http.get("/api/webhook/key")).json()["public_key"]
    async with receiving(key) as receiver:
        receiver.fail_next, receiver.fail_status = 10**6, 503  # the endpoint is down
        await users.http.put("/api/webhook", json={"url": receiver.url}, headers=bearer(bot))
        aya_client = await Client.login(server, aya.token)
        conversation = (await aya_client.call("dm.open", user_ids=[bot.id]))["conversation"]
        sent = [
            (await aya_client.call("dm.send", conversation_id=conversation["id"], text=f"{n}"))["message"][
                "id"
            ]
            for n in range(3)
        ]
        await aya_client.close()
        async with asyncio.timeout(10):
            while (status := (await users.http.get("/api/webhook", headers=bearer(bot))).json())[
                "failures"
            ] < 2:
                await asyncio.sleep(0.05)
        assert status["last_error"] == "HTTP 503"
        server.restart()
        assert (await users.http.get("/api/webhook/key")).json()["public_key"] == key  # one key, kept
        receiver.fail_next = 0  # the endpoint is back: everything arrives, in order, once
        deliveries = await receiver.wait_for(4)  # the conversation's opening, then the three
        assert [d.event["data"]["message"]["id"] for d in deliveries][1:] == sent
