"""Compact events (``auth.compact``, PROTOCOL.md section 3.5): a client that asks gets every event
without its null, false and empty members, live and on a resume, and reads back exactly what a
client that did not ask gets. The test client checks each compact frame is compact before it
reads it back whole (``tests/support/client.py``); the SDK, the page and the load test ask for
compact events, so their own tests run on them too."""

from __future__ import annotations

from tests.support.client import Client, Users
from tests.support.server import ServerProcess


def tail(raw: bytes) -> bytes:
    """A frame without its ``{"op":"event","seq":N,`` prefix."""
    return raw.split(b",", 2)[2]


async def test_compact_and_full_clients_get_the_same_events_in_fewer_bytes_for_compact(
    server: ServerProcess, users: Users
) -> None:
    author = await users.new("author")
    fans = [await users.new("fan", invited_by=author) for _ in range(3)]  # follow-on-join
    writer = await Client.login(server, author.token)
    full = await Client.login(server, fans[0].token)
    compact = [await Client.login(server, fan.token, compact=True) for fan in fans[1:]]
    assert full.hello is not None and full.hello["features"] == ["compact"]

    post = (await writer.call("post.create", text="地震だ、みんな無事？"))["post"]
    reply = (await writer.call("post.create", text="こちらは無事", reply_to=post["id"]))["post"]
    await writer.call("post.react", post_id=post["id"], emoji="🙏")
    for made in (post, reply):
        seen = [await client.next_event("post.created") for client in (full, *compact)]
        assert [event["data"]["post"] for event in seen] == [made] * 3
        assert {event["pos"] for event in seen} == {made["id"]}
    reactions = [await client.next_event("post.reactions") for client in (full, *compact)]
    assert reactions[0]["data"] == reactions[1]["data"] == reactions[2]["data"]

    # Made once per node and shared: both compact clients got the same bytes, fewer than the
    # full client's, without the author's false badges or the post's nulls and empty lists.
    full_raw, one, other = full.raw_events, *(client.raw_events for client in compact)
    assert [tail(raw) for raw in one] == [tail(raw) for raw in other]
    for long, short in zip(full_raw, one, strict=True):
        # A post.counts event has nothing to leave out; a post.created has much.
        assert len(short) < len(long) if b'"post.created"' in long else len(short) == len(long)
    first = one[0]
    assert b'"verified"' not in first and b'"reply_to"' not in first and b'"media"' not in first
    assert b'"reply_to":"' + post["id"].encode() in one[1]
    assert b'"replies_count":0' in first  # numbers are always sent, 0 included


async def test_a_compact_resume_replays_compact_events(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    writer = await Client.login(server, author.token)
    reader = await Client.login(server, fan.token, compact=True)
    first = (await writer.call("post.create", text="一"))["post"]
    await reader.next_event("post.created")
    cursors = dict(reader.cursors)
    await reader.close()

    missed = [(await writer.call("post.create", text=text))["post"] for text in ("二", "三")]
    back = await Client.login(server, fan.token, cursors=cursors, compact=True)
    assert back.ready is not None and back.ready["recovered"] and back.ready["replayed"] == 2
    replayed = [await back.next_event("post.created") for _ in missed]
    assert [event["data"]["post"] for event in replayed] == missed
    assert all(b'"verified"' not in raw for raw in back.raw_events)
    assert first["id"] not in [event["pos"] for event in replayed]


async def test_compact_false_is_the_full_form(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.open(server)
    await client.send({"op": "auth", "token": author.token, "compact": False})
    assert (await client.next_frame())["op"] == "ready"
    await client.call("post.create", text="ふつう")
    event = await client.next_event("post.created")
    assert event["data"]["post"]["reply_to"] is None and b'"verified":false' in client.raw_events[-1]
