"""A request's answer comes before the events it causes on the requester's own connection
(protocol/PROTOCOL.md section 3.1), so request/response tools (Artillery's WebSocket engine, a
simple bot) can take the first frame with their request's id as the answer.

Each test sends real requests over a real WebSocket to a real server and reads the frames in the
order they arrived (``Client.arrivals``), one request at a time and pipelined: many requests sent
back to back without waiting, which the server reads and answers one after the other.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.support.client import Client, Users
from tests.support.server import ServerProcess

#: Budgets wide enough that the pipelined bursts below are carried out, not rate-limited.
LIMITS = {
    "TSUDOI_POST_BURST": "1000",
    "TSUDOI_MESSAGE_BURST": "1000",
    "TSUDOI_FRAME_BURST": "1000",
}
PIPELINED = 50
_ids = itertools.count(1)

#: Picks, from an ok frame's data, the id that the caused event carries, and finds it in an event.
Key = Callable[[dict[str, Any]], str]


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("data"), LIMITS).start()
    yield process
    process.stop()


@pytest.fixture
async def people(roomy: ServerProcess) -> AsyncIterator[Users]:
    made = Users(roomy)
    yield made
    await made.close()


class Sent(list[str]):
    """The ids of requests sent together, and how many frames had arrived before them."""

    since = 0


def post_id(data: dict[str, Any]) -> str:
    return str(data["post"]["id"])


def posts_in(arrivals: list[dict[str, Any]]) -> list[str]:
    """The ids of the posts in the ``post.created`` events among ``arrivals``."""
    return [post_id(e["data"]) for e in arrivals if e["op"] == "event" and e["type"] == "post.created"]


def named_post(data: dict[str, Any]) -> str:
    return str(data["post_id"])


def reaction(added: bool) -> Key:
    """A reaction's answer (for ``added`` as the request asked) and its event, keyed alike."""
    return lambda data: f"{data['post_id']}:{data.get('added', added)}"


async def send_all(client: Client, op: str, requests: list[dict[str, Any]]) -> Sent:
    """Send requests back to back without waiting for answers."""
    ids = Sent()
    ids.since = len(client.arrivals)
    for args in requests:
        request_id = f"p{next(_ids)}"
        ids.append(request_id)
        await client.send({"op": op, "id": request_id, **args})
    return ids


async def wait_for(client: Client, done: Callable[[list[dict[str, Any]]], bool]) -> None:
    async with asyncio.timeout(20):
        while not done(client.arrivals):
            await asyncio.sleep(0.01)


def answers(arrivals: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    wanted = set(ids)
    return [f for f in arrivals if f["op"] in ("ok", "error") and f.get("id") in wanted]


async def assert_answer_first(
    client: Client, ids: Sent, event_type: str, answer_key: Key, event_key: Key = post_id
) -> list[dict[str, Any]]:
    """Every request in ``ids`` is answered exactly once, in request order, with ``ok``; and
    each answer arrives before the ``event_type`` event it caused on this connection (which
    does arrive). Returns the answers."""

    def caused(arrivals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [f for f in arrivals[ids.since :] if f["op"] == "event" and f["type"] == event_type]

    await wait_for(client, lambda a: len(answers(a, ids)) == len(ids))
    oks = answers(client.arrivals, ids)
    assert [f["id"] for f in oks] == ids, "one answer per request, in request order"
    assert all(f["op"] == "ok" for f in oks), [f for f in oks if f["op"] != "ok"][:1]
    keys = [answer_key(f["data"]) for f in oks]
    await wait_for(client, lambda a: set(keys) <= {event_key(e["data"]) for e in caused(a)})
    position = {id(f): n for n, f in enumerate(client.arrivals)}
    for ok, key in zip(oks, keys, strict=True):
        event = next(e for e in caused(client.arrivals) if event_key(e["data"]) == key)
        assert position[id(ok)] < position[id(event)], f"{event_type} {key} came before its ok"
    seqs = [f["seq"] for f in client.arrivals if f["op"] == "event"]
    assert seqs == list(range(1, len(seqs) + 1)), "seq stays gap-free and increasing"
    return oks


async def test_post_create_answers_before_its_own_post_created_one_at_a_time(
    roomy: ServerProcess, people: Users
) -> None:
    author = await people.new("solo")
    client = await Client.login(roomy, author.token)
    for n in range(30):
        ids = await send_all(client, "post.create", [{"text": f"one at a time {n}"}])
        await assert_answer_first(client, ids, "post.created", post_id, post_id)


async def test_pipelined_post_creates_are_each_answered_once_and_before_their_events(
    roomy: ServerProcess, people: Users
) -> None:
    author, fan = await people.author_and_fan()  # the fan follows the author
    client = await Client.login(roomy, author.token)
    phone = await Client.login(roomy, author.token)  # the author's other device
    fan_client = await Client.login(roomy, fan.token)
    for burst in range(3):
        requests = [{"text": f"burst {burst} post {n}"} for n in range(PIPELINED)]
        ids = await send_all(client, "post.create", requests)
        oks = await assert_answer_first(client, ids, "post.created", post_id, post_id)
        made = [post_id(f["data"]) for f in oks]
        last = made[-1]
        for other in (phone, fan_client):  # others get every post, in order, whenever
            await wait_for(other, lambda a: last in posts_in(a))  # noqa: B023 - awaited here
            assert [p for p in posts_in(other.arrivals) if p in set(made)] == made


async def test_post_delete_and_reactions_answer_before_their_events(
    roomy: ServerProcess, people: Users
) -> None:
    author = await people.new("reacts")
    client = await Client.login(roomy, author.token)
    ids = await send_all(client, "post.create", [{"text": f"react to me {n}"} for n in range(10)])
    posts = [
        post_id(f["data"]) for f in await assert_answer_first(client, ids, "post.created", post_id, post_id)
    ]

    react = await send_all(client, "post.react", [{"post_id": p, "emoji": "👍"} for p in posts])
    await assert_answer_first(client, react, "post.reactions", reaction(True), reaction(True))
    unreact = await send_all(client, "post.unreact", [{"post_id": p, "emoji": "👍"} for p in posts])
    await assert_answer_first(client, unreact, "post.reactions", reaction(False), reaction(False))
    deleted = await send_all(client, "post.delete", [{"post_id": p} for p in posts])
    await assert_answer_first(client, deleted, "post.deleted", named_post, named_post)


async def test_dm_send_answers_before_its_own_dm_message(roomy: ServerProcess, people: Users) -> None:
    aya, ben = await people.new("aya"), await people.new("ben")
    await people.friends(aya, ben)
    client = await Client.login(roomy, aya.token)
    ben_client = await Client.login(roomy, ben.token)

    def message_id(data: dict[str, Any]) -> str:
        return str(data["message"]["id"])

    opened = await send_all(client, "dm.open", [{"user_ids": [ben.id]}])
    await wait_for(client, lambda a: len(answers(a, opened)) == 1)
    conversation = answers(client.arrivals, opened)[0]["data"]["conversation"]["id"]
    for n in range(10):  # one at a time
        ids = await send_all(client, "dm.send", [{"conversation_id": conversation, "text": f"single {n}"}])
        await assert_answer_first(client, ids, "dm.message", message_id, message_id)
    requests = [{"conversation_id": conversation, "text": f"pipelined {n}"} for n in range(PIPELINED)]
    ids = await send_all(client, "dm.send", requests)
    oks = await assert_answer_first(client, ids, "dm.message", message_id, message_id)
    made = [message_id(f["data"]) for f in oks]
    last = made[-1]
    await wait_for(
        ben_client, lambda a: last in {e["data"]["message"]["id"] for e in a if e.get("type") == "dm.message"}
    )


async def test_follow_unfollow_and_safety_answer_before_their_events(
    roomy: ServerProcess, people: Users
) -> None:
    me, them = await people.new("follows"), await people.new("followed")
    client = await Client.login(roomy, me.token)

    def followee(data: dict[str, Any]) -> str:
        return str(data["user"]["id"] if "user" in data else data["followee"]["id"])

    for _ in range(5):
        await assert_answer_first(
            client, await send_all(client, "follow", [{"user_id": them.id}]), "follow", followee, followee
        )
        await assert_answer_first(
            client, await send_all(client, "unfollow", [{"user_id": them.id}]), "unfollow", followee, followee
        )

    def status(data: dict[str, Any]) -> str:
        return str(data["status"]["id"])

    notes = [{"state": "safe", "note": f"fine {n}"} for n in range(20)]
    await assert_answer_first(
        client, await send_all(client, "safety.set", notes), "safety.status", status, status
    )
