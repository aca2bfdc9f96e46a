"""Several gateway processes on one Redis and one storage: delivery across nodes, a node killed
mid-stream, and Redis stopped and restarted — with nothing persisted lost or repeated."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Client, Users
from tests.support.mongo import MongoBackend, expect_stand_in_divergence
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, tsudoi


async def health(node: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
        response = await http.get("/healthz")
    return response.status_code, response.json()


async def test_a_post_made_on_one_node_reaches_followers_on_another(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    author, fan = await users.author_and_fan()
    on_a = await Client.login(a, author.token)
    on_b = await Client.login(b, fan.token)
    also_on_b = await Client.login(b, author.token)  # the author's other device, on the other node
    post = (await on_a.call("post.create", text="ノードをまたいで"))["post"]
    for client in (on_b, also_on_b, on_a):
        assert (await client.next_event("post.created"))["data"]["post"]["id"] == post["id"]
    assert await on_b.events_now() == []  # exactly once
    # A follow made on B subscribes the follower's devices on A too.
    reader = await users.new("reader")
    reader_on_a = await Client.login(a, reader.token)
    reader_on_b = await Client.login(b, reader.token)
    await reader_on_b.call("follow", user_id=author.id)
    await reader_on_a.next_event("follow")
    second = (await on_a.call("post.create", text="followed across nodes"))["post"]
    assert (await reader_on_a.next_event("post.created"))["data"]["post"]["id"] == second["id"]


async def test_a_watched_hashtag_receives_posts_made_on_another_node(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    author, watcher = await users.new("author"), await users.new("watcher")
    on_a = await Client.login(a, author.token)
    on_b = await Client.login(b, watcher.token)
    # The answer comes once node B listens to the tag's channel on Redis: no waiting after it.
    await on_b.call("timeline.tag", tag="給水", live=True)
    post = (await on_a.call("post.create", text="市役所前に #給水 車が来ました"))["post"]
    event = await on_b.next_event("tag.post_created")
    assert event["data"] == {"tag": "給水", "post": post}


async def test_communities_direct_messages_and_mutes_work_across_nodes(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    owner, member = await users.new("owner"), await users.new("member")
    owner_on_a = await Client.login(a, owner.token)
    member_on_b = await Client.login(b, member.token)
    member_on_a = await Client.login(a, member.token)

    # A join made on A subscribes the member's connection on B to the community's channel.
    community = (await owner_on_a.call("community.create", name="Across"))["community"]
    await member_on_a.call("community.join", community_id=community["id"])
    # No waiting for B to subscribe: what the community carries from the join on is backfilled.
    post = (await owner_on_a.call("post.create", text="全ノードへ", community_id=community["id"]))["post"]
    assert (await member_on_b.next_event("post.created"))["data"]["post"]["id"] == post["id"]

    # A direct message sent on A reaches the member's device on B, once.
    conversation = (await owner_on_a.call("dm.open", user_ids=[member.id]))["conversation"]
    sent = (await owner_on_a.call("dm.send", conversation_id=conversation["id"], text="届いた？"))["message"]
    got = [e["data"]["message"]["id"] for e in await member_on_b.events_now() if e["type"] == "dm.message"]
    assert got[-1] == sent["id"] and got.count(sent["id"]) == 1

    # A mute made on A hides the owner from the member's connection on B.
    # No waiting either: node A publishes the control message before the post, and one Redis
    # delivers a publisher's messages in order, so B hides the owner before the post arrives.
    await member_on_a.call("mute.add", user_id=owner.id)
    await owner_on_a.call("post.create", text="聞こえない", community_id=community["id"])
    assert [e for e in await member_on_b.events_now() if e["type"] == "post.created"] == []


async def test_an_announcement_right_after_joining_on_another_node_reaches_the_member(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    owner, member = await users.new("city"), await users.new("resident")
    owner_on_a = await Client.login(a, owner.token)
    member_on_a, member_on_b = await Client.login(a, member.token), await Client.login(b, member.token)
    community = (await owner_on_a.call("community.create", name="Kesennuma"))["community"]
    assert tsudoi("admin", "certify", community["id"], "--data", str(a.data_dir)).returncode == 0

    await member_on_a.call("community.join", community_id=community["id"])
    # No waiting for B to subscribe: the announcement's notification, published once to the
    # community's channel, is backfilled with the community's posts when B's connection listens.
    post = (await owner_on_a.call("community.announce", community_id=community["id"], text="高台へ"))["post"]
    # The post and its notification, in either order (live, or backfilled post first).
    got: dict[str, list[dict[str, Any]]] = {"notification": [], "post.created": []}
    async with asyncio.timeout(10):
        while not (got["notification"] and got["post.created"]):
            event = await member_on_b.next_event()
            got.setdefault(event["type"], []).append(event)
    for event in await member_on_b.events_now():
        got.setdefault(event["type"], []).append(event)
    (notice,) = [event["data"]["notification"] for event in got["notification"]]  # once, whichever way
    assert (notice["kind"], notice["post_id"]) == ("announcement", post["id"])
    assert [event["data"]["post"]["id"] for event in got["post.created"]] == [post["id"]]


async def test_safety_status_and_presence_cross_nodes_and_a_killed_nodes_users_go_offline(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    fast = {
        "TSUDOI_PRESENCE_TICK_MS": "100",
        "TSUDOI_PRESENCE_TTL_MS": "1500",
        "TSUDOI_OFFLINE_GRACE_MS": "500",
    }
    a, b = start_node(redis_server, **fast), start_node(redis_server, **fast)
    users = users_of(a)
    aya, ben = await users.new("aya"), await users.new("ben")
    await users.friends(aya, ben)
    ben_on_b = await Client.login(b, ben.token)
    aya_on_a = await Client.login(a, aya.token)
    # Node B reads what node A registered. (No presence event need come: aya's connection of a
    # moment ago, making friends, closed within the grace period, so to her friends she never
    # went away; a client reads the current state with presence.get after `ready`.)
    async with asyncio.timeout(10):
        while True:
            seen = (await ben_on_b.call("presence.get", user_ids=[aya.id]))["presences"]
            if seen and seen[0]["state"] == "online":
                break
            await asyncio.sleep(0.05)

    status = (await aya_on_a.call("safety.set", state="need_help", note="助けて"))["status"]
    event = await ben_on_b.next_event("safety.status")
    assert event["data"]["status"] == status
    board = (await ben_on_b.call("safety.board"))["entries"]
    assert board[0]["user"]["id"] == aya.id and board[0]["status"]["state"] == "need_help"

    # Node A dies without a word: its connections stop being refreshed, node B reaps them, and
    # aya's friends are told she is offline.
    a.stop(signal.SIGKILL)
    offline = await ben_on_b.next_event("presence", timeout=10)
    while offline["data"]["presence"]["state"] == "online":  # from before, if one was pushed
        offline = await ben_on_b.next_event("presence", timeout=10)
    assert offline["data"]["presence"] == {
        **offline["data"]["presence"],
        "user_id": aya.id,
        "state": "offline",
    }


async def test_clients_of_a_killed_node_resume_on_another_with_nothing_lost_or_repeated(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(b)
    author, fan = await users.author_and_fan()
    writer = await Client.login(b, author.token)
    followers = [await Client.login(a, fan.token) for _ in range(3)]
    made: list[str] = []

    async def keep_posting(count: int) -> None:
        for n in range(count):
            made.append((await writer.call("post.create", text=f"#{n}"))["post"]["id"])
            await asyncio.sleep(0.005)

    posting = asyncio.create_task(keep_posting(150))
    await asyncio.sleep(0.3)
    a.stop(signal.SIGKILL)  # no close frames, no goodbye
    resumed = []
    for follower in followers:
        assert await follower.closed() is not None
        got = [e["data"]["post"]["id"] for e in await follower.events_now(settle=0)]
        back = await Client.login(
            b, fan.token, cursors={"following": follower.cursor} if follower.cursor else None
        )
        resumed.append((got, back))
    await posting
    for got, back in resumed:
        assert back.ready is not None and back.ready["recovered"] is True
        got += [e["data"]["post"]["id"] for e in await back.events_now(settle=0.5)]
        assert got == made  # every post once, in order, across the two connections


async def test_redis_outage_degrades_to_local_delivery_then_fills_the_gap(
    own_redis: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(own_redis), start_node(own_redis)
    users = users_of(a)
    author, fan = await users.author_and_fan()
    writer = await Client.login(a, author.token)
    fan_on_a = await Client.login(a, fan.token)
    fan_on_b = await Client.login(b, fan.token)
    before = (await writer.call("post.create", text="before the outage"))["post"]["id"]
    for client in (fan_on_a, fan_on_b):
        await client.next_event("post.created")

    own_redis.stop()
    for node in (a, b):
        for _ in range(100):
            status, body = await health(node)
            if status == 503:
                break
            await asyncio.sleep(0.05)
        assert status == 503 and body["bus"]["ok"] is False and body["storage"]["ok"] is True
    during = [(await writer.call("post.create", text=f"during {n}"))["post"]["id"] for n in range(5)]
    # Same node: still live. Other node: cannot hear it yet.
    assert [e["data"]["post"]["id"] for e in await fan_on_a.events_now()] == during
    assert await fan_on_b.events_now() == []

    own_redis.start()  # same port
    for node in (a, b):
        for _ in range(200):
            if (await health(node))[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert (await health(node))[0] == 200
    after = (await writer.call("post.create", text="after the outage"))["post"]["id"]
    got_b = [e["data"]["post"]["id"] for e in await fan_on_b.events_now(settle=1.0)]
    assert sorted(got_b) == [*during, after], "the gap was not filled exactly once"
    assert fan_on_b.close_code is None  # filled in place, no reconnect needed
    got_a = [e["data"]["post"]["id"] for e in await fan_on_a.events_now()]
    assert got_a == [after]  # nothing repeated on the node that had them live
    assert before < during[0]


def test_more_than_one_worker_needs_redis(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.server import ROOT, TEST_ENV

    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--workers", "2", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, **TEST_ENV},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers needs Redis" in result.stderr


async def test_workers_share_one_port_and_deliver_across_each_other(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    node = ServerProcess(tmp_path / "data", {"TSUDOI_REDIS_URL": redis_server.url}, workers=2).start()
    users = Users(node)
    try:
        assert node.log().count("No accounts yet") == 1  # the supervisor made the one invite
        author, fan = await users.author_and_fan()
        # The kernel spreads connections over the two workers; eight followers land on both.
        fans = [await Client.login(node, fan.token) for _ in range(8)]
        writer = await Client.login(node, author.token)
        post = (await writer.call("post.create", text="every worker hears it"))["post"]
        for client in fans:
            assert (await client.next_event("post.created"))["data"]["post"]["id"] == post["id"]
        pids = {
            line.split("[")[1].split("]")[0]
            for line in node.log().splitlines()
            if "Started server process" in line
        }
        assert len(pids) == 2
    finally:
        await users.close()  # its HTTP client's connection, else left to the garbage collector
        node.stop()
    assert node.log().count("Finished server process") == 2  # both workers shut down cleanly


@pytest.fixture
def mongo(request: pytest.FixtureRequest, mongo_backend: MongoBackend) -> Iterator[dict[str, str]]:
    """Settings for a fresh MongoDB database; applies the test's stand-in divergence marks."""
    expect_stand_in_divergence(request, mongo_backend)
    name = mongo_backend.new_database()
    yield {"TSUDOI_MONGODB_URL": mongo_backend.url, "TSUDOI_MONGODB_DATABASE": name}
    asyncio.run(mongo_backend.drop_database(name))


@pytest.mark.nx27017_diverges(
    "with a compound index that includes _id (posts by author_id, _id) every insert into posts fails"
)
async def test_two_nodes_on_mongodb_and_redis(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    mongo: dict[str, str],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server, **mongo), start_node(redis_server, **mongo)
    users = users_of(a)
    author, fan = await users.author_and_fan()
    writer = await Client.login(a, author.token)
    reader = await Client.login(b, fan.token)
    first = (await writer.call("post.create", text="on MongoDB"))["post"]
    assert (await reader.next_event("post.created"))["data"]["post"]["id"] == first["id"]
    cursor = reader.cursor
    assert cursor is not None
    await reader.close()
    missed = [(await writer.call("post.create", text=f"missed {n}"))["post"]["id"] for n in range(5)]
    back = await Client.login(a, fan.token, cursors={"following": cursor})  # the other node
    assert back.ready is not None and back.ready["recovered"] is True
    assert [e["data"]["post"]["id"] for e in await back.events_now()] == missed


@pytest.mark.nx27017_diverges(
    "listIndexes reports descending keys as ascending and leaves _id out of compound keys"
)
def test_doctor_checks_mongodb(start_server: Callable[..., ServerProcess], mongo: dict[str, str]) -> None:
    start_server(**mongo)  # creates the indexes and the schema document
    result = tsudoi("doctor", env=mongo)
    storage = next(line for line in result.stdout.splitlines() if line.startswith("storage"))
    assert result.returncode == 0, result.stdout
    assert "ok" in storage and "schema 15" in storage


async def picture_on_one_node_seen_on_another(a: ServerProcess, b: ServerProcess, users: Users) -> None:
    """An avatar uploaded and set through node ``a`` is served by node ``b`` to anyone, and the
    change reaches a follower connected to ``b`` live."""
    from PIL import Image

    from tests.support.images import encode

    author, fan = await users.author_and_fan()
    listener = await Client.login(b, fan.token)
    async with httpx.AsyncClient(timeout=30) as http:
        made = await http.post(
            f"{a.url}/api/media",
            params={"kind": "avatar"},
            content=encode(Image.new("RGB", (64, 48), (30, 120, 200)), "PNG"),
            headers={"Authorization": f"Bearer {author.token}"},
        )
        assert made.status_code == 201, made.text
        writer = await Client.login(a, author.token)
        avatar = (await writer.call("profile.update", avatar=made.json()["media"]["id"]))["user"]["avatar"]
        assert (await listener.next_event("user.updated"))["data"]["user"]["avatar"] == avatar
        for url in (avatar["url"], avatar["thumbnail_url"]):
            served = await http.get(f"{b.url}{url}")
            assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    await writer.close()
    await listener.close()


async def test_every_node_serves_every_picture_on_one_data_folder(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server), start_node(redis_server)
    await picture_on_one_node_seen_on_another(a, b, users_of(a))


@pytest.mark.nx27017_diverges(
    "an equality filter on a binary (bytes) field finds nothing, so no session is found by its "
    "token hash; and with a compound index that includes _id (media by expires_ms, _id) every "
    "insert into media fails"
)
async def test_every_node_serves_every_picture_from_gridfs(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    mongo: dict[str, str],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    a, b = start_node(redis_server, **mongo), start_node(redis_server, **mongo)
    await picture_on_one_node_seen_on_another(a, b, users_of(a))
