"""Web Push against a real server (PROTOCOL.md 4.13, docs/topics/push.md): a push service played
by a local HTTP server receives the requests, and the tests decrypt them with the subscription's
private key, as the browser would, and check the VAPID signature, as the push service would."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Account, Client, ErrorFrame, Users
from tests.support.push import Browser, PushService, Received, push_service, vapid_claims
from tests.support.server import ServerProcess, tsudoi

PUSH_ENV = {
    "TSUDOI_PUSH_ALLOW_LOOPBACK": "1",
    "TSUDOI_PUSH_SUBJECT": "mailto:ops@tsudoi.example",
    "TSUDOI_PUSH_LEASE_MS": "1500",
    "TSUDOI_PUSH_POLL_MS": "100",
    "TSUDOI_PUSH_MAX_SUBSCRIPTIONS": "3",
}


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    async with push_service() as running:
        yield running


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server(**PUSH_ENV)


async def subscribed(server: ServerProcess, account: Account, browser: Browser) -> str:
    """Subscribe ``browser`` for ``account`` from a connection that then closes (the page is shut)."""
    client = await Client.login(server, account.token)
    try:
        return str((await client.call("push.subscribe", **browser.subscription()))["id"])
    finally:
        await client.close()


async def call(server: ServerProcess, account: Account, op: str, **args: Any) -> dict[str, Any]:
    client = await Client.login(server, account.token)
    try:
        return await client.call(op, **args)
    finally:
        await client.close()


async def metric(server: ServerProcess, kind: str, outcome: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.url}/metrics")).text
    line = f'tsudoi_push_total{{kind="{kind}",outcome="{outcome}"}} '
    found = [float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


async def until(check: Callable[[], Any], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def payload_of(browser: Browser, request: Received) -> dict[str, Any]:
    return browser.decrypt(request.body)


async def test_config_subscribe_preferences_and_unsubscribe(server: ServerProcess, users: Users) -> None:
    alice = await users.new("alice")
    client = await Client.login(server, alice.token)
    config = await client.call("push.config")
    assert config["kinds"] == dict.fromkeys(("safety", "announcement", "dm", "mention", "incident"), True)
    assert config["previews"] is False and config["subscriptions"] == []
    assert len(config["public_key"]) == 87  # 65 bytes, base64url without padding
    browser = Browser("http://127.0.0.1:9/push/abc")
    first = (await client.call("push.subscribe", **browser.subscription()))["id"]
    again = (await client.call("push.subscribe", **browser.subscription(), expiration_time=None))["id"]
    assert again == first  # idempotent per endpoint
    [sub] = (await client.call("push.config"))["subscriptions"]
    assert sub["id"] == first and sub["origin"] == "http://127.0.0.1:9" and isinstance(sub["created_at"], int)
    changed = await client.call("push.preferences", kinds={"dm": False}, previews=True)
    assert (
        changed["kinds"]["dm"] is False and changed["kinds"]["safety"] is True and changed["previews"] is True
    )
    assert (await client.call("push.preferences", kinds={"dm": True}))["previews"] is True  # left as it was
    # Refusals, each with its code.
    refusals = [
        ({"endpoint": "http://push.example/x"}, "push_endpoint_not_allowed"),  # http to a public host
        ({"endpoint": "https://10.1.2.3/x"}, "push_endpoint_not_allowed"),  # a private address
        ({"endpoint": "https://u:p@push.example/x"}, "push_endpoint_not_allowed"),
    ]
    for change, code in refusals:
        with pytest.raises(ErrorFrame) as refused:
            await client.call("push.subscribe", **{**browser.subscription(), **change})
        assert refused.value.code == code, change
    with pytest.raises(ErrorFrame) as bad_key:
        await client.call(
            "push.subscribe", endpoint="https://push.example/k", keys={"p256dh": "AAAA", "auth": "AAAA"}
        )
    assert bad_key.value.code == "invalid_frame"
    for n in range(2):  # three devices at most on this server
        await client.call("push.subscribe", **Browser(f"https://push.example/{n}").subscription())
    with pytest.raises(ErrorFrame) as full:
        await client.call("push.subscribe", **Browser("https://push.example/4").subscription())
    assert full.value.code == "push_limit"
    assert (await client.call("push.unsubscribe", subscription_id=first)) == {}
    with pytest.raises(ErrorFrame) as gone:
        await client.call("push.unsubscribe", subscription_id=first)
    assert gone.value.code == "not_found"
    await client.close()


async def test_a_friends_need_help_arrives_encrypted_signed_urgent_and_first(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    await users.friends(alice, bob)
    browser = Browser(service.endpoint("bob"))
    await subscribed(server, bob, browser)
    public_key = (await call(server, bob, "push.config"))["public_key"]
    sent_at = int(time.time())
    status = (await call(server, alice, "safety.set", state="need_help", note="足を怪我した"))["status"]
    [request] = await service.wait_for(1)
    payload = payload_of(browser, request)
    assert payload == {
        "v": 1,
        "kind": "safety",
        "id": status["id"],
        "at": payload["at"],
        "urgent": True,
        "actor": {"handle": alice.handle, "display_name": alice.handle.capitalize()},
        "status": "need_help",
        "url": "/#/safety",
    }
    assert len(request.body) < 1024 + 103  # the payload under 1 KiB, plus RFC 8291's header and tag
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["urgency"] == "high"
    assert 86_000 < int(request.headers["ttl"]) <= 86_400
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", request.headers["topic"])  # RFC 8030 section 5.4
    claims, key = vapid_claims(request.headers["authorization"])
    assert key == public_key  # signed with the key the browser subscribed with
    assert claims["aud"] == service.origin
    assert claims["sub"] == "mailto:ops@tsudoi.example"
    assert sent_at < claims["exp"] <= sent_at + 24 * 3600 + 5


async def test_dms_mentions_and_announcements_respect_preferences_and_previews(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    browser = Browser(service.endpoint("bob"))
    await subscribed(server, bob, browser)
    a = await Client.login(server, alice.token)
    conversation = (await a.call("dm.open", user_ids=[bob.id]))["conversation"]
    hidden = (await a.call("dm.send", conversation_id=conversation["id"], text="秘密の話"))["message"]
    [first] = await service.wait_for(1)
    dm = payload_of(browser, first)
    assert (dm["kind"], dm["id"], dm["conversation_id"]) == ("dm", hidden["id"], conversation["id"])
    assert "text" not in dm and dm["url"] == f"/#/dm/{conversation['id']}"
    assert first.headers["urgency"] == "normal"
    await call(server, bob, "push.preferences", previews=True, kinds={"safety": False})
    shown = (await a.call("dm.send", conversation_id=conversation["id"], text="見える話"))["message"]
    await service.wait_for(2)
    preview = payload_of(browser, service.received[1])
    assert (preview["id"], preview["text"]) == (shown["id"], "見える話")
    # A mention, its text cut to 100 characters.
    text = f"@{bob.handle} " + "あ" * 140
    post = (await a.call("post.create", text=text))["post"]
    mention = payload_of(browser, (await service.wait_for(3))[2])
    assert (mention["kind"], mention["post_id"], mention["url"]) == (
        "mention",
        post["id"],
        f"/#/post/{post['id']}",
    )
    assert len(mention["text"]) == 100 and mention["text"].endswith("…")
    # An announcement of a certified community bob is a member of.
    community = (await a.call("community.create", name="仙台市 公式", description="", tags=[]))["community"]
    await call(server, bob, "community.join", community_id=community["id"])
    certified = tsudoi("admin", "certify", community["id"], "--data", str(server.data_dir))
    assert certified.returncode == 0, certified.stderr
    announced = (await a.call("community.announce", community_id=community["id"], text="給水所は市役所前"))[
        "post"
    ]
    notice = payload_of(browser, (await service.wait_for(4))[3])
    assert notice["kind"] == "announcement" and notice["post_id"] == announced["id"]
    assert notice["community"] == {"id": community["id"], "name": "仙台市 公式"}
    assert notice["text"] == "給水所は市役所前"
    await a.close()


async def test_nothing_is_pushed_while_the_person_is_online(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    await subscribed(server, bob, Browser(service.endpoint("bob")))
    browser = Browser(service.endpoint("bob"))
    await subscribed(server, bob, browser)  # the same endpoint: new keys
    online = await Client.login(server, bob.token)
    a = await Client.login(server, alice.token)
    conversation = (await a.call("dm.open", user_ids=[bob.id]))["conversation"]
    await a.call("dm.send", conversation_id=conversation["id"], text="見てる？")
    await until(lambda: _at_least(server, "dm", "online", 1))
    await online.close()
    later = (await a.call("dm.send", conversation_id=conversation["id"], text="もう閉じた？"))["message"]
    [request] = await service.wait_for(1)
    assert payload_of(browser, request)["id"] == later["id"]  # only the one sent while offline
    assert len(service.received) == 1
    await a.close()


async def _at_least(server: ServerProcess, kind: str, outcome: str, count: float) -> bool:
    return await metric(server, kind, outcome) >= count


async def test_410_removes_the_subscription_and_429_waits_for_retry_after(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    alice, bob, carol = await users.new("alice"), await users.new("bob"), await users.new("carol")
    await users.friends(alice, bob)
    await users.friends(alice, carol)
    gone, busy = Browser(service.endpoint("gone")), Browser(service.endpoint("busy"))
    service.answers["/push/gone"] = [(410, {})]
    service.answers["/push/busy"] = [(429, {"Retry-After": "2"})]
    await subscribed(server, bob, gone)
    await subscribed(server, carol, busy)
    await call(server, alice, "safety.set", state="safe")
    [refused] = await service.wait_for(1, "/push/gone")

    async def unsubscribed() -> bool:
        config = await call(server, bob, "push.config")
        return not config["subscriptions"]

    await until(unsubscribed)
    assert refused.status == 410
    first, second = await service.wait_for(2, "/push/busy")
    assert (first.status, second.status) == (429, 201)
    assert payload_of(busy, first) == payload_of(busy, second)  # the same push, the same id
    assert first.headers["topic"] == second.headers["topic"]  # which a push service collapses
    await until(lambda: _at_least(server, "safety", "gone", 1))  # counted once its row is gone
    assert await metric(server, "safety", "retry") == 1


async def test_retry_after_is_honoured_not_before(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    await users.friends(alice, bob)
    browser = Browser(service.endpoint("slow"))
    service.answers["/push/slow"] = [(503, {"Retry-After": "3"})]
    await subscribed(server, bob, browser)
    await call(server, alice, "safety.set", state="safe")
    await service.wait_for(1, "/push/slow")
    refused_at = time.monotonic()
    await service.wait_for(2, "/push/slow")
    assert time.monotonic() - refused_at >= 2.9  # Retry-After: 3, and never sooner


async def test_kill_9_of_the_pushing_node_leaves_no_push_unsent(
    start_server: Callable[..., ServerProcess], tmp_path: Path, service: PushService
) -> None:
    server = start_server(**PUSH_ENV)
    users = Users(server)
    alice = await users.new("alice")
    friends = [await users.new(f"friend{n}") for n in range(12)]
    browsers = {}
    for friend in friends:
        await users.friends(alice, friend)
        browsers[friend.id] = Browser(service.endpoint(friend.handle))
        await subscribed(server, friend, browsers[friend.id])
    service.open.clear()  # the push service takes the requests and answers none yet
    status = (await call(server, alice, "safety.set", state="need_help"))["status"]
    in_flight = await service.wait_for(1)
    server.stop(signal.SIGKILL)
    await asyncio.sleep(1)  # requests already in this process's sockets are read meanwhile
    hung = {r.path for r in service.received}  # sent, never answered: the node died first
    assert 0 < len(hung) < len(friends)  # some in flight, the others still queued
    service.open.set()
    server.start()  # a new node id: it sends once the dead node's lease has run out
    await service.wait_for(len(friends) + len(hung))
    await users.close()
    by_path: dict[str, list[str]] = {}
    for request in service.received:
        friend = next(f for f in friends if request.path == f"/push/{f.handle}")
        by_path.setdefault(request.path, []).append(payload_of(browsers[friend.id], request)["id"])
    assert set(by_path) == {f"/push/{f.handle}" for f in friends}  # nothing lost
    assert all(set(ids) == {status["id"]} for ids in by_path.values())
    for path in hung:  # each sent again under the topic it had: a push service keeps one
        assert len({r.headers["topic"] for r in service.to(path)}) == 1
    twice = {path for path, ids in by_path.items() if len(ids) > 1}
    assert twice == hung and all(len(by_path[p]) == 2 for p in twice)  # only what was in flight, same id
    assert in_flight[0].path in hung


async def test_an_incident_reaches_every_device_but_one_signed_out(
    server: ServerProcess, users: Users, service: PushService
) -> None:
    operator, bob = await users.operator(), await users.new("bob")
    kept, revoked = Browser(service.endpoint("kept")), Browser(service.endpoint("revoked"))
    await subscribed(server, bob, kept)
    login = await users.http.post("/api/login", json={"handle": bob.handle, "password": bob.password})
    other = Account(bob.id, bob.handle, bob.password, login.json()["token"])
    await subscribed(server, other, revoked)
    assert len((await call(server, bob, "push.config"))["subscriptions"]) == 2
    sessions = (await call(server, bob, "session.list"))["sessions"]
    other_session = next(s["id"] for s in sessions if not s["current"])
    await call(server, bob, "session.revoke", session_id=other_session)
    [left] = (await call(server, bob, "push.config"))["subscriptions"]
    incident = (await call(server, operator, "incident.start", title="宮城県沖地震"))["incident"]
    [request] = await service.wait_for(1)
    assert request.path == "/push/kept"
    payload = payload_of(kept, request)
    assert (payload["kind"], payload["id"], payload["text"]) == ("incident", incident["id"], "宮城県沖地震")
    assert request.headers["urgency"] == "high"
    assert left["origin"] == service.origin
    assert service.to("/push/revoked") == []  # its subscription went with its session
