"""Live delivery: posts, deletions and follows reach every connected follower and device."""

from __future__ import annotations

import asyncio

import orjson

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess


async def test_post_reaches_two_followers_and_the_authors_other_device(
    server: ServerProcess, users: Users
) -> None:
    author = await users.new("author")
    fans = [await users.new("fan", invited_by=author) for _ in range(2)]  # follow-on-join
    stranger = await users.new("stranger")
    author_phone = await Client.login(server, author.token)
    author_laptop = await Client.login(server, author.token)
    fan_clients = [await Client.login(server, fan.token) for fan in fans]
    stranger_client = await Client.login(server, stranger.token)

    result = await author_phone.call("post.create", text="地震だ、みんな無事？", emotext="super_shake")
    post = result["post"]
    assert post["text"] == "地震だ、みんな無事？"
    assert post["emotext"] == "super_shake"

    receivers = [author_phone, author_laptop, *fan_clients]
    events = [await client.next_event("post.created") for client in receivers]
    for event in events:
        assert event["data"]["post"] == post
        assert event["stream"] == "following"
        assert event["pos"] == post["id"]
    # Encoded once: apart from each connection's own seq, every follower got the same bytes.
    tails = {client.raw_events[-1].split(b",", 2)[2] for client in receivers}
    assert len(tails) == 1
    assert await stranger_client.events_now() == []


async def test_deletion_reaches_followers(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    post = (await author_client.call("post.create", text="消します"))["post"]
    await fan_client.next_event("post.created")

    assert await author_client.call("post.delete", post_id=post["id"]) == {"post_id": post["id"]}
    event = await fan_client.next_event("post.deleted")
    assert event["data"] == {"post_id": post["id"], "author_id": author.id, "community_id": None}
    assert event["pos"] > post["id"]
    page = await fan_client.call("timeline.following")
    assert post["id"] not in [p["id"] for p in page["posts"]]


async def test_seq_counts_up_from_one_per_connection(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    for n in range(3):
        await client.call("post.create", text=f"post {n}")
    seqs = [(await client.next_event())["seq"] for _ in range(3)]
    assert seqs == [1, 2, 3]


async def test_inviter_is_told_live_when_the_newcomer_joins(server: ServerProcess, users: Users) -> None:
    inviter = await users.new("inviter")
    inviter_client = await Client.login(server, inviter.token)
    newcomer = await users.new("newcomer", invited_by=inviter)
    event = await inviter_client.next_event("follow")
    assert event["data"]["follower"]["id"] == newcomer.id
    assert event["data"]["followee"]["id"] == inviter.id
    newcomer_client = await Client.login(server, newcomer.token)
    profile = (await newcomer_client.call("user.get", handle=inviter.handle))["user"]
    assert profile["following"] is True
    assert profile["followers_count"] == 1


async def test_follow_on_one_device_subscribes_the_others(server: ServerProcess, users: Users) -> None:
    reader, writer = await users.new("reader"), await users.new("writer")
    phone = await Client.login(server, reader.token)
    laptop = await Client.login(server, reader.token)
    writer_client = await Client.login(server, writer.token)

    profile = (await phone.call("follow", user_id=writer.id))["user"]
    assert profile["following"] is True
    assert (await writer_client.next_event("follow"))["data"]["follower"]["id"] == reader.id
    await laptop.next_event("follow")  # the follower's other device learns of it too
    post = (await writer_client.call("post.create", text="hello followers"))["post"]
    for device in (phone, laptop):
        assert (await device.next_event("post.created"))["data"]["post"]["id"] == post["id"]

    await laptop.call("unfollow", user_id=writer.id)
    await phone.next_event("unfollow")
    await asyncio.sleep(0.2)  # the control message reaches every node before the next post
    await writer_client.call("post.create", text="nobody from reader hears this")
    assert [e["type"] for e in await phone.events_now()] == []
    assert [e["type"] for e in await laptop.events_now()] == ["unfollow"]


async def test_follow_rules(server: ServerProcess, users: Users) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    client = await Client.login(server, alice.token)
    for op, args, code in [
        ("follow", {"user_id": alice.id}, "cannot_follow_self"),
        ("follow", {"user_id": "0" * 26}, "not_found"),
        ("unfollow", {"user_id": bob.id}, "not_following"),
    ]:
        try:
            await client.call(op, **args)
        except ErrorFrame as exc:
            assert exc.code == code
        else:
            raise AssertionError(f"{op} {args} succeeded")
    await client.call("follow", user_id=bob.id)
    frame = await client.call_frame("follow", user_id=bob.id)
    assert frame["code"] == "already_following"


async def test_timeline_is_newest_first_and_paginates(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    ids = [(await client.call("post.create", text=f"n{n}"))["post"]["id"] for n in range(5)]
    first = await client.call("timeline.following", limit=3)
    assert [p["id"] for p in first["posts"]] == ids[::-1][:3]
    second = await client.call("timeline.following", limit=3, before=first["next"])
    assert [p["id"] for p in second["posts"]] == ids[::-1][3:]
    assert second["next"] is None


async def test_reply_must_name_a_standing_post(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    parent = (await client.call("post.create", text="parent"))["post"]
    reply = (await client.call("post.create", text="reply", reply_to=parent["id"]))["post"]
    assert reply["reply_to"] == parent["id"]
    await client.call("post.delete", post_id=parent["id"])
    frame = await client.call_frame("post.create", text="late reply", reply_to=parent["id"])
    assert (frame["code"], frame["path"]) == ("not_found", "$.reply_to")


async def test_only_the_author_deletes(server: ServerProcess, users: Users) -> None:
    author, other = await users.new("author"), await users.new("other")
    author_client = await Client.login(server, author.token)
    other_client = await Client.login(server, other.token)
    post = (await author_client.call("post.create", text="mine"))["post"]
    assert (await other_client.call_frame("post.delete", post_id=post["id"]))["code"] == "forbidden"
    await author_client.call("post.delete", post_id=post["id"])
    assert (await author_client.call_frame("post.delete", post_id=post["id"]))["code"] == "not_found"


def test_event_tail_is_shared_bytes() -> None:
    """The fan-out splice yields valid JSON whatever the seq."""
    from protocol.codec import event_frame, event_tail
    from protocol.messages import PostDeletedEvent

    tail = event_tail(PostDeletedEvent(post_id="0" * 26, author_id="1" * 26, community_id=None), pos="2" * 26)
    for seq in (1, 99, 10**12):
        frame = orjson.loads(event_frame(seq, tail))
        assert frame["seq"] == seq and frame["op"] == "event" and frame["type"] == "post.deleted"


async def test_nothing_falls_between_a_follow_and_its_subscription(
    server: ServerProcess, users: Users
) -> None:
    """While the author posts non-stop, the follower's devices get an unbroken run of posts from
    somewhere around the follow onwards: no holes, no repeats."""
    reader, author = await users.new("reader"), await users.new("author")
    phone = await Client.login(server, reader.token)
    laptop = await Client.login(server, reader.token)
    author_client = await Client.login(server, author.token)
    made: list[str] = []
    stop = asyncio.Event()

    async def keep_posting() -> None:
        while not stop.is_set():
            made.append((await author_client.call("post.create", text=f"n{len(made)}"))["post"]["id"])

    posting = asyncio.create_task(keep_posting())
    await asyncio.sleep(0.1)
    await phone.call("follow", user_id=author.id)
    await asyncio.sleep(0.2)
    stop.set()
    await posting
    for device in (phone, laptop):
        got = [e["data"]["post"]["id"] for e in await device.events_now() if e["type"] == "post.created"]
        assert got, "no posts after the follow"
        start = made.index(got[0])
        assert got == made[start:], "a hole or a repeat in the posts after the follow"
