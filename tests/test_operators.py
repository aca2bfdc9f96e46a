"""Operators' commands go through the domain and reach the open clients of running servers: a
verified badge and a certification live, an incident declared from the shell, and a bot's new
token closing the connections its old one holds (PROTOCOL.md sections 5.15, 5.16, 4.9, 11.10).

Two set-ups, as operators run them (server/relay.py):

- the embedded default: ``tsudoi admin`` is a process of its own beside ``tsudoi serve`` and
  shares only the SQLite file with it; the server learns of the change from storage;
- two nodes sharing Redis, with the storage poll set to an hour, so that only the bus can have
  carried the change to either node's clients.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.client import Client, Users
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, tsudoi

#: Long enough that nothing a test waits for can come from the storage poll.
NO_POLL = {"TSUDOI_OPERATOR_POLL_MS": str(3600_000)}
OPERATOR_EVENTS = ("user.updated", "community.certified")


def admin(*args: str, data: Path, env: dict[str, str] | None = None) -> str:
    """Run ``tsudoi admin ARGS`` against ``data``; its stdout, once it has succeeded quietly."""
    result = tsudoi("admin", *args, "--data", str(data), env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout


@pytest.fixture
def start_node(start_node: Callable[..., ServerProcess]) -> Callable[[RedisProcess], ServerProcess]:
    """conftest's shared-folder nodes, polling storage hourly: what reaches them live came
    through the bus, not from a poll."""
    return lambda redis: start_node(redis, **NO_POLL)


# --- the embedded default: the command beside `tsudoi serve`, through storage --------------------


async def test_a_badge_and_a_certification_reach_open_clients_live(
    server: ServerProcess, users: Users
) -> None:
    author, fan = await users.author_and_fan()  # the fan follows the author
    stranger = await users.new("stranger")
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    stranger_client = await Client.login(server, stranger.token)
    community = (await author_client.call("community.create", name="防災ボランティア"))["community"]
    await fan_client.call("community.join", community_id=community["id"])

    assert admin("verify", f"@{author.handle}", data=server.data_dir) == f"@{author.handle}: verified\n"
    for client in (author_client, fan_client):  # the user, and their follower
        user = (await client.next_event("user.updated"))["data"]["user"]
        assert (user["id"], user["handle"], user["verified"]) == (author.id, author.handle, True)

    admin("certify", community["id"], data=server.data_dir)
    for client in (author_client, fan_client):  # the owner and the member
        event = await client.next_event("community.certified")
        assert event["data"] == {"community_id": community["id"], "certified": True}
    # Announcing needs the certification: the rule reads it from storage, as before.
    await author_client.call("community.announce", community_id=community["id"], text="訓練のお知らせ")

    admin("verify", author.handle, "--undo", data=server.data_dir)
    user = (await fan_client.next_event("user.updated"))["data"]["user"]
    assert (user["id"], user["verified"]) == (author.id, False)
    admin("certify", community["id"], "--undo", data=server.data_dir)
    event = await fan_client.next_event("community.certified")
    assert event["data"] == {"community_id": community["id"], "certified": False}

    # Someone who neither follows the author nor belongs to the community is not told; the same
    # fan-out reached the others, so anything meant for the stranger would be here by now.
    told = [e["type"] for e in await stranger_client.events_now() if e["type"] in OPERATOR_EVENTS]
    assert told == []


async def test_a_bots_new_token_closes_the_connection_its_old_one_holds(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot()
    live = await Client.login(server, bot.token)
    rotated = orjson.loads(admin("bot", "token", bot.handle, "--json", data=server.data_dir))
    assert await live.closed() == 4501  # session_revoked, as after a password change
    fresh = await Client.login(server, rotated["token"])
    assert fresh.ready is not None and fresh.ready["user"]["id"] == bot.id
    await fresh.call("heartbeat")  # and the new token's connection stays


async def test_a_command_whose_redis_does_not_answer_goes_through_storage_and_says_so(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot()
    live = await Client.login(server, bot.token)
    nothing_listens = {"TSUDOI_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = tsudoi("admin", "bot", "token", bot.handle, "--data", str(server.data_dir), env=nothing_listens)
    assert result.returncode == 0, result.stderr
    [warning] = result.stderr.splitlines()
    assert warning.startswith("tsudoi: Redis did not answer") and "through storage" in warning
    assert "Traceback" not in result.stderr
    assert await live.closed() == 4501  # the leaked token does not keep working


# --- two nodes sharing Redis: through the bus, at once ------------------------------------------


async def test_through_redis_an_operator_reaches_every_node_without_the_poll(
    redis_server: RedisProcess,
    start_node: Callable[[RedisProcess], ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    author, fan = await users.author_and_fan()
    bot = await users.bot()
    on_a, on_b = await Client.login(a, fan.token), await Client.login(b, fan.token)
    bot_on_a, bot_on_b = await Client.login(a, bot.token), await Client.login(b, bot.token)
    with_redis = {"TSUDOI_REDIS_URL": redis_server.url}

    started = admin(
        "incident", "start", "--title", "津波警報", "--area", "三陸沿岸", data=a.data_dir, env=with_redis
    )
    assert started.startswith("started: ") and "津波警報 (三陸沿岸)" in started
    incidents = [(await client.next_event("incident.started"))["data"]["incident"] for client in (on_a, on_b)]
    assert incidents[0] == incidents[1] and incidents[0]["title"] == "津波警報"
    admin("incident", "end", data=a.data_dir, env=with_redis)
    for client in (on_a, on_b):
        assert (await client.next_event("incident.ended"))["data"]["incident"]["id"] == incidents[0]["id"]

    admin("verify", author.handle, data=a.data_dir, env=with_redis)
    for client in (on_a, on_b):
        assert (await client.next_event("user.updated"))["data"]["user"]["verified"] is True

    rotated = orjson.loads(admin("bot", "token", bot.handle, "--json", data=a.data_dir, env=with_redis))
    assert [await bot_on_a.closed(), await bot_on_b.closed()] == [4501, 4501]
    assert (await Client.login(b, rotated["token"])).ready is not None
