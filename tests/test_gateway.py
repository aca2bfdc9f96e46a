"""The connection lifecycle and every kind of bad input, against a real server.

Each bad frame gets its documented error code (connection survives) or close code, and nothing
accepted before it is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, Users
from tests.support.server import ServerProcess


async def test_hello_states_the_contract(server: ServerProcess) -> None:
    client = await Client.open(server)
    hello = await client.wait_hello()
    assert hello["protocol"] == "tsudoi.v1"
    assert hello["heartbeat_interval_ms"] < hello["heartbeat_timeout_ms"]
    assert hello["limits"]["max_frame_bytes"] == 65536
    assert hello["limits"]["post_max_clusters"] == 149
    assert client.ws.subprotocol == "tsudoi.v1"


async def test_ready_carries_the_user_and_session(server: ServerProcess, users: Users) -> None:
    alice = await users.new("alice")
    client = await Client.login(server, alice.token)
    assert client.ready is not None
    assert client.ready["user"]["id"] == alice.id
    assert client.ready["user"]["handle"] == alice.handle
    assert client.ready["recovered"] is False and client.ready["replayed"] == 0
    assert len(client.ready["session_id"]) == 26


async def test_heartbeat_answers_with_server_time(server: ServerProcess, users: Users) -> None:
    client = await Client.login(server, (await users.new()).token)
    data = await client.call("heartbeat")
    assert data["server_time"].endswith("Z")


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ({"op": "post.create", "id": "1", "text": "too early"}, "auth"),
        ({"op": "heartbeat", "id": "1"}, "auth"),
        ({"op": "auth", "token": "x", "extra": 1}, "invalid_frame"),
        ({"op": "auth", "token": 42}, "invalid_frame"),
        ({"op": "no.such.op"}, "unknown_op"),
    ],
)
async def test_anything_but_a_valid_auth_first_closes_4502(
    server: ServerProcess, first: dict[str, object], reason: str
) -> None:
    client = await Client.open(server)
    await client.send(first)
    assert await client.closed() == 4502
    assert reason in (client.close_reason or "")


@pytest.mark.parametrize("first", ["not json", b"\x00binary"])
async def test_unreadable_first_frame_closes_4502(server: ServerProcess, first: str | bytes) -> None:
    client = await Client.open(server)
    await client.send_raw(first)
    assert await client.closed() == 4502


async def test_bad_token_closes_4500(server: ServerProcess) -> None:
    client = await Client.open(server)
    await client.send({"op": "auth", "token": "tsd_not-a-real-token"})
    assert await client.closed() == 4500
    client = await Client.open(server)
    await client.send({"op": "auth"})  # neither token nor cookie
    assert await client.closed() == 4500


async def test_missing_subprotocol_closes_4503(server: ServerProcess) -> None:
    client = await Client.open(server, subprotocols=[])
    assert await client.closed() == 4503


async def test_auth_timeout_closes_4004(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(TSUDOI_AUTH_TIMEOUT_MS="300")
    client = await Client.open(server)
    assert await client.closed(timeout=5) == 4004


async def test_silence_past_the_heartbeat_timeout_closes_4001(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_HEARTBEAT_INTERVAL_MS="200", TSUDOI_HEARTBEAT_TIMEOUT_MS="600")
    users = users_of(server)
    client = await Client.login(server, (await users.new()).token)
    for _ in range(4):  # heartbeats keep it open past the timeout
        await asyncio.sleep(0.25)
        await client.call("heartbeat")
    assert await client.closed(timeout=5) == 4001


async def test_frame_flood_closes_4003(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_FRAME_BURST="20", TSUDOI_FRAME_REFILL_MS="1000")
    users = users_of(server)
    client = await Client.login(server, (await users.new()).token)
    for n in range(30):
        try:
            await client.send({"op": "heartbeat", "id": f"h{n}"})
        except ConnectionClosed:
            break
    assert await client.closed() == 4003


async def test_post_rate_limit_answers_with_retry_after(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_POST_BURST="3", TSUDOI_POST_REFILL_MS="60000")
    users = users_of(server)
    client = await Client.login(server, (await users.new()).token)
    for n in range(3):
        await client.call("post.create", text=f"post {n}")
    frame = await client.call_frame("post.create", text="one too many")
    assert frame["code"] == "rate_limited"
    assert 0 < frame["retry_after_ms"] <= 60000


async def test_oversized_frame_closes_1009(server: ServerProcess, users: Users) -> None:
    client = await Client.login(server, (await users.new()).token)
    await client.send({"op": "post.create", "id": "big", "text": "x" * (64 * 1024)})
    assert await client.closed() == 1009


async def test_second_auth_is_refused_and_the_connection_survives(
    server: ServerProcess, users: Users
) -> None:
    account = await users.new()
    client = await Client.login(server, account.token)
    await client.send({"op": "auth", "token": account.token})
    frame = await client.next_frame()
    assert frame["op"] == "error" and frame["code"] == "already_authenticated"
    await client.call("heartbeat")
    # Whatever the second auth holds, even a token of the wrong type: it is a second auth.
    for mistyped in ({"op": "auth", "token": 12345}, {"op": "auth", "token": account.token, "extra": 1}):
        await client.send(mistyped)
        frame = await client.next_frame()
        assert frame["op"] == "error" and frame["code"] == "already_authenticated"
    await client.call("heartbeat")


async def test_a_lone_surrogate_gets_an_error_for_its_request(server: ServerProcess, users: Users) -> None:
    client = await Client.login(server, (await users.new()).token)
    await client.send_raw('{"op":"post.create","id":"lone","text":"\\ud83d"}')
    frame = await client.next_frame()
    assert (frame["op"], frame["id"], frame["code"], frame["path"]) == (
        "error",
        "lone",
        "invalid_frame",
        "$.text",
    )
    await client.call("heartbeat")


async def test_every_bad_frame_gets_its_error_and_nothing_is_lost(
    server: ServerProcess, users: Users
) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    kept = (await client.call("post.create", text="accepted before the storm"))["post"]

    async def expect(
        raw: str | bytes, code: str, *, request_id: str | None = None, path: str | None = None
    ) -> None:
        await client.send_raw(raw)
        frame = await client.next_frame()
        assert frame["op"] == "error", frame
        assert frame["code"] == code, frame
        assert frame["id"] == request_id
        if path is not None:
            assert frame["path"] == path

    await expect("{not json", "invalid_json")
    await expect(b"\x01\x02binary", "unsupported_frame")
    await expect("[1, 2, 3]", "invalid_frame")
    await expect('"just a string"', "invalid_frame")
    await expect('{"id": "x"}', "invalid_frame", request_id="x", path="$.op")
    await expect('{"op": "post.explode", "id": "u1"}', "unknown_op", request_id="u1")
    await expect('{"op": "post.create", "id": "m1"}', "invalid_frame", request_id="m1")
    await expect(
        '{"op": "post.create", "id": "e1", "text": "hi", "colour": "red"}', "invalid_frame", request_id="e1"
    )
    await expect(
        '{"op": "post.create", "id": "t1", "text": 5}', "invalid_frame", request_id="t1", path="$.text"
    )
    await expect('{"op": "timeline.following", "id": "t2", "limit": "10"}', "invalid_frame", request_id="t2")
    await expect('{"op": "timeline.following", "id": "t3", "limit": 1000}', "invalid_frame", request_id="t3")
    await expect('{"op": "heartbeat", "id": 7}', "invalid_frame")
    long_post = orjson.dumps({"op": "post.create", "id": "l1", "text": "あ" * 150}).decode()
    await expect(long_post, "text_too_long", request_id="l1", path="$.text")
    blank = orjson.dumps({"op": "post.create", "id": "b1", "text": " \u3000\u200b\n"}).decode()
    await expect(blank, "text_empty", request_id="b1", path="$.text")
    control = orjson.dumps({"op": "post.create", "id": "c1", "text": "bell\u0007"}).decode()
    await expect(control, "text_invalid", request_id="c1")
    emotext = orjson.dumps({"op": "post.create", "id": "x1", "text": "hi", "emotext": "explode"}).decode()
    await expect(emotext, "invalid_frame", request_id="x1", path="$.emotext")
    await expect(
        '{"op": "post.delete", "id": "d1", "post_id": "not-an-id"}', "invalid_frame", request_id="d1"
    )
    await expect('{"op": "user.get", "id": "g1", "handle": "nobody_here"}', "not_found", request_id="g1")
    await expect('{"op": "user.get", "id": "g2", "handle": "bad handle!"}', "invalid_frame", request_id="g2")

    # The connection is still good and nothing accepted was lost.
    exact = await client.call("post.create", text="x" * 149)
    assert len(exact["post"]["text"]) == 149
    page = await client.call("timeline.following")
    assert [p["id"] for p in page["posts"][-1:]] == [kept["id"]]


async def test_nfc_and_grapheme_counting_on_the_wire(server: ServerProcess, users: Users) -> None:
    client = await Client.login(server, (await users.new()).token)
    family = "👨\u200d👩\u200d👧"
    data = await client.call("post.create", text=family * 149)  # 149 clusters, 745 code points
    assert data["post"]["text"] == family * 149
    decomposed = "か\u3099"  # NFD of が
    data = await client.call("post.create", text=decomposed)
    assert data["post"]["text"] == "が"


async def test_cookie_auth_needs_the_servers_own_origin(server: ServerProcess, users: Users) -> None:
    account = await users.new()
    cookie = {"Cookie": f"tsudoi_session={account.token}"}
    for origin, outcome in [(server.url, "ready"), ("https://evil.example", "<closed>"), (None, "<closed>")]:
        headers = cookie if origin is None else {**cookie, "Origin": origin}
        client = await Client.open(server, additional_headers=headers)
        await client.send({"op": "auth"})
        frame = await client.next_frame()
        assert frame["op"] == outcome, origin
        if outcome == "<closed>":
            assert frame["code"] == 4500


async def test_server_shutdown_closes_with_4000(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    client = await Client.login(server, (await users.new()).token)
    await asyncio.get_running_loop().run_in_executor(None, server.stop)
    assert await client.closed() == 4000
