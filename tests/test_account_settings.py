"""Account settings against a real server: the signed-in sessions list and signing one out
(PROTOCOL.md 4.1.8, 4.1.9)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from server.config import Settings
from server.store import open_storage
from tests.support.client import Account, Client, ErrorFrame, Users
from tests.support.server import ServerProcess, tsudoi

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


async def login_from(server: ServerProcess, account: Account, user_agent: str) -> str:
    async with httpx.AsyncClient(base_url=server.url, headers={"User-Agent": user_agent}) as http:
        response = await http.post(
            "/api/login", json={"handle": account.handle, "password": account.password}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def test_sessions_list_their_device_and_which_is_this_one(server: ServerProcess, users: Users) -> None:
    account = await users.new("sessions")
    windows = await login_from(server, account, FIREFOX_WINDOWS)
    iphone = await login_from(server, account, SAFARI_IPHONE)
    phone = await Client.login(server, iphone)

    frame = await phone.call_frame("session.list")
    sessions = frame["data"]["sessions"]
    assert [s["device"] for s in sessions] == [
        "Safari on iPhone",
        "Firefox on Windows",
        "python-httpx/" + httpx.__version__,
    ]
    assert [s["current"] for s in sessions] == [True, False, False]
    assert sessions[0]["id"] == phone.ready["session_id"] if phone.ready else False
    # The phone's session has just authenticated this connection; the others are unused since.
    assert sessions[0]["last_used_at"] is not None
    assert [s["last_used_at"] for s in sessions[1:]] == [None, None]
    text = str(frame)
    for token in (account.token, windows, iphone):  # never a token, nor any part of one
        assert token not in text and token.removeprefix("tsd_")[:16] not in text


async def test_signing_a_session_out_closes_its_connections_at_once(
    server: ServerProcess, users: Users
) -> None:
    account = await users.new("signout")
    other = await users.new("other")
    windows = await login_from(server, account, FIREFOX_WINDOWS)
    laptop = await Client.login(server, windows)
    phone = await Client.login(server, account.token)
    strangers = await Client.login(server, other.token)
    laptop_session = laptop.ready["session_id"] if laptop.ready else ""

    # Another user's session is not found, as if it did not exist: nothing is revoked.
    with pytest.raises(ErrorFrame) as refused:
        await strangers.call("session.revoke", session_id=laptop_session)
    assert refused.value.code == "not_found" and refused.value.frame["path"] == "$.session_id"
    assert await laptop.call("heartbeat")

    assert await phone.call("session.revoke", session_id=laptop_session) == {}
    assert await laptop.closed() == 4501
    again = await Client.open(server)
    await again.send({"op": "auth", "token": windows})
    assert await again.closed() == 4500
    listed = await phone.call("session.list")
    assert laptop_session not in [s["id"] for s in listed["sessions"]]
    with pytest.raises(ErrorFrame) as twice:
        await phone.call("session.revoke", session_id=laptop_session)
    assert twice.value.code == "not_found"

    # This connection's own session is signed out by /api/logout, not here: its close would
    # overtake the answer.
    own = phone.ready["session_id"] if phone.ready else ""
    with pytest.raises(ErrorFrame) as own_refused:
        await phone.call("session.revoke", session_id=own)
    assert own_refused.value.code == "forbidden"
    assert own in [s["id"] for s in (await phone.call("session.list"))["sessions"]]
    await strangers.close()


async def test_export_holds_ones_own_data_and_nothing_private_of_others(
    server: ServerProcess, users: Users
) -> None:
    aya = await users.new("aya")
    ben = await users.new("ben", invited_by=aya)  # follows Aya
    carol = await users.new("carol")
    spam, loud = await users.new("spam"), await users.new("loud")
    await users.friends(aya, carol)
    a, b, c = [await Client.login(server, x.token) for x in (aya, ben, carol)]
    await a.call("post.create", text="あやの最初の投稿")
    await a.call("post.create", text="Aya's second post")
    await b.call("post.create", text="ベンの投稿")
    conversation = (await a.call("dm.open", user_ids=[ben.id]))["conversation"]
    await a.call("dm.send", conversation_id=conversation["id"], text="無事ですか")
    await b.call("dm.send", conversation_id=conversation["id"], text="無事です")
    # A conversation Aya is not in: none of it may reach her archive.
    elsewhere = (await c.call("dm.open", user_ids=[ben.id]))["conversation"]
    await c.call("dm.send", conversation_id=elsewhere["id"], text="キャロルからベンへの秘密")
    await a.call("block.add", user_id=spam.id)
    await a.call("mute.add", user_id=loud.id)
    await a.call("safety.set", state="safe", note="避難所にいます")
    await a.call("community.create", name="仙台の防災", description="", tags=["防災"])

    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        response = await http.get("/api/export", headers={"Authorization": f"Bearer {aya.token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert f'filename="tsudoi-{aya.handle}-' in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["format"] == "tsudoi.export.v1" and body["truncated"] == []
    assert body["profile"]["id"] == aya.id
    assert [p["text"] for p in body["posts"]] == ["Aya's second post", "あやの最初の投稿"]
    assert [u["id"] for u in body["followers"]] == [carol.id, ben.id]
    root = await users.operator()  # Aya joined through the operator's invite
    assert [u["id"] for u in body["following"]] == [carol.id, root.id]
    assert [u["id"] for u in body["blocks"]] == [spam.id]
    assert [u["id"] for u in body["mutes"]] == [loud.id]
    assert [s["note"] for s in body["safety_statuses"]] == ["避難所にいます"]
    assert [x["name"] for x in body["communities"]] == ["仙台の防災"]
    assert len(body["invites"]) == 1  # the one Ben used
    [dm] = body["conversations"]
    assert dm["conversation"]["id"] == conversation["id"]
    assert [m["text"] for m in dm["messages"] if m["text"]] == ["無事です", "無事ですか"]
    text = response.text
    for secret in ("キャロルからベンへの秘密", "ベンの投稿", aya.token, "$argon2", "password"):
        assert secret not in text
    await a.close()
    await b.close()
    await c.close()


async def test_export_needs_the_user_and_refuses_other_sites(server: ServerProcess, users: Users) -> None:
    aya = await users.new("aya")
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as anonymous:
        assert (await anonymous.get("/api/export")).status_code == 401
        bad = await anonymous.get("/api/export", headers={"Authorization": "Bearer tsd_nothing"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "not_authenticated"
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        http.cookies.set("tsudoi_session", aya.token)
        foreign = await http.get("/api/export", headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_rejected"
        cross = await http.get("/api/export", headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        # A download link of this site's page: the cookie, no Origin, same-origin.
        own = await http.get("/api/export", headers={"Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 200 and own.json()["profile"]["id"] == aya.id


async def test_deleting_the_account(server: ServerProcess, users: Users) -> None:
    leaving = await users.new("leaving")
    fan = await users.new("fan", invited_by=leaving)  # follows the one leaving
    mod, member = await users.new("mod"), await users.new("member")
    device = await Client.login(server, leaving.token)
    fans = await Client.login(server, fan.token)
    post = (await device.call("post.create", text="さようならの前の投稿"))["post"]
    await fans.events_now()
    conversation = (await device.call("dm.open", user_ids=[fan.id]))["conversation"]
    await device.call("dm.send", conversation_id=conversation["id"], text="お元気で")
    owned = (await device.call("community.create", name="残る集い", description="", tags=[]))["community"]
    alone = (await device.call("community.create", name="ひとりの集い", description="", tags=[]))["community"]
    for person in (member, mod):  # the member joined first; the moderator is still the heir
        client = await Client.login(server, person.token)
        await client.call("community.join", community_id=owned["id"])
        await client.close()
    await device.call("community.set_role", community_id=owned["id"], user_id=mod.id, role="moderator")

    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        bearer = {"Authorization": f"Bearer {leaving.token}"}
        wrong = await http.post("/api/account/delete", json={"password": "not the password"}, headers=bearer)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
        assert await device.call("heartbeat")  # nothing happened
        done = await http.post("/api/account/delete", json={"password": leaving.password}, headers=bearer)
        assert done.status_code == 204, done.text

    assert await device.closed() == 4501
    deleted = await fans.next_event("post.deleted")
    assert deleted["data"]["post_id"] == post["id"]
    # Nobody can log in to it again; its handle stays taken; it has no profile.
    login = await users.http.post("/api/login", json={"handle": leaving.handle, "password": leaving.password})
    assert login.status_code == 401
    again = await users.signup(await users.invite(), leaving.handle)
    assert again.status_code == 409 and again.json()["error"]["code"] == "handle_taken"
    with pytest.raises(ErrorFrame) as no_profile:
        await fans.call("user.get", handle=leaving.handle)
    assert no_profile.value.code == "not_found"
    # The fan keeps the conversation; the message is shown as written by a deleted account.
    history = await fans.call("dm.history", conversation_id=conversation["id"])
    [kept] = [m for m in history["messages"] if m["text"] == "お元気で"]
    assert kept["author"]["id"] == leaving.id and kept["author"]["display_name"] == ""
    # The fan no longer follows it; the community passed to the moderator; the one it was
    # alone in is left empty.
    following = await fans.call("user.following", user_id=fan.id)
    assert leaving.id not in [u["id"] for u in following["users"]]
    members = await fans.call("community.members", community_id=owned["id"])
    roles = {m["user"]["id"]: m["role"] for m in members["members"]}
    assert roles == {mod.id: "owner", member.id: "member"}
    empty = await fans.call("community.members", community_id=alone["id"])
    assert empty["members"] == []
    timeline = await fans.call("timeline.user", user_id=leaving.id)
    assert timeline["posts"] == []
    with pytest.raises(ErrorFrame) as no_follow:
        await fans.call("follow", user_id=leaving.id)
    assert no_follow.value.code == "not_found"
    found = await fans.call("search.users", query=leaving.handle)
    assert leaving.id not in [u["id"] for u in found["users"]]
    await fans.close()


async def test_a_deletion_left_half_way_is_finished_by_the_servers_and_by_the_operator(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    """The state a node leaves when it dies right after closing the account (the tombstone and
    its unfinished mark written, nothing else), built in storage with the server stopped; then
    ``tsudoi admin finish-deletions`` finishes one such deletion, and a server's own sweep, at
    start, another."""
    server = start_server(TSUDOI_DELETION_SWEEP_MS="3600000")
    users = users_of(server)
    leaving = [await users.new("leaving"), await users.new("leaving")]
    fan = await users.new("fan")
    fans = await Client.login(server, fan.token)
    posts = []
    for account in leaving:
        await fans.call("follow", user_id=account.id)
        client = await Client.login(server, account.token)
        posts.append((await client.call("post.create", text="消える投稿"))["post"]["id"])
        await client.call("community.create", name=f"集い {account.handle}", description="", tags=[])
        await client.close()
    await fans.close()
    server.stop(signal.SIGKILL)

    async def closed_and_no_more(account: Account) -> None:
        store = await open_storage(Settings(data_dir=server.data_dir))
        try:
            await store.revoke_user_sessions(account.id, 0)
            assert await store.delete_user(account.id)
        finally:
            await store.close()

    def left(account: Account, following: list[dict[str, Any]]) -> bool:
        return account.id in [u["id"] for u in following]

    await closed_and_no_more(leaving[0])
    finished = tsudoi("admin", "finish-deletions", "--data", str(server.data_dir))
    assert finished.returncode == 0, finished.stderr
    assert "1 account deletion(s) finished" in finished.stdout
    # The next start's sweep finishes the other one, without anyone asking.
    await closed_and_no_more(leaving[1])
    server.start()
    fans = await Client.login(server, fan.token)
    for account, post_id in zip(leaving, posts, strict=True):
        for _ in range(100):
            following = (await fans.call("user.following", user_id=fan.id))["users"]
            if not left(account, following):
                break
            await asyncio.sleep(0.1)
        assert not left(account, following)
        with pytest.raises(ErrorFrame) as gone:
            await fans.call("post.get", post_id=post_id)
        assert gone.value.code == "not_found"
    again = tsudoi("admin", "finish-deletions", "--data", str(server.data_dir))
    assert again.returncode == 0 and "0 account deletion(s) finished" in again.stdout
    await fans.close()


async def test_a_sessions_last_use_is_written_behind_in_batches(server: ServerProcess, users: Users) -> None:
    """Requests note a session's use; the node writes what it noted every few seconds, in one
    write, and never on a request's path. Another process (here the test, on the same SQLite
    database) then reads it."""
    account = await users.new("busy")
    client = await Client.login(server, account.token)
    for _ in range(5):
        await client.call("heartbeat")
        await client.call("settings.get")
    session_id = client.ready["session_id"] if client.ready else ""
    store = await open_storage(Settings(data_dir=server.data_dir))
    try:
        for _ in range(150):  # the writer runs every 5 s
            [stored] = [
                s
                for s in await store.list_sessions(account.id, int(time.time() * 1000), limit=10)
                if s.id == session_id
            ]
            if stored.last_used_ms is not None:
                break
            await asyncio.sleep(0.1)
        assert stored.last_used_ms is not None
    finally:
        await store.close()
    await client.close()


async def test_a_node_killed_mid_deletion_leaves_it_to_be_finished_at_the_next_start(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    """kill -9 while the posts are being deleted one by one (the first post.deleted has reached
    a follower): the account is a tombstone, some posts still stand; the next start's sweep
    deletes the rest and ends the follows. The dead node's claim lapses after its lease (short
    here), and the sweep (frequent here) takes the deletion up."""
    server = start_server(TSUDOI_DELETION_LEASE_MS="2000", TSUDOI_DELETION_SWEEP_MS="500")
    users = users_of(server)
    leaving = await users.new("leaving")
    fan = await users.new("fan", invited_by=leaving)  # follows the one leaving
    writer = await Client.login(server, leaving.token)
    for i in range(400):
        await writer.call("post.create", text=f"投稿 {i}")
    await writer.close()
    fans = await Client.login(server, fan.token)
    await fans.events_now()

    async def delete() -> int:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            bearer = {"Authorization": f"Bearer {leaving.token}"}
            try:
                answer = await http.post(
                    "/api/account/delete", json={"password": leaving.password}, headers=bearer
                )
            except httpx.HTTPError:
                return 0  # the node died under the request
            return answer.status_code

    request = asyncio.create_task(delete())
    await fans.next_event("post.deleted", timeout=30)
    server.stop(signal.SIGKILL)
    await request
    await fans.close()

    store = await open_storage(Settings(data_dir=server.data_dir))
    try:
        tombstone = await store.get_user(leaving.id)
        standing = await store.user_timeline(leaving.id, viewer_id=fan.id, before=None, limit=500)
    finally:
        await store.close()
    assert tombstone is not None and tombstone.deleted
    if not standing:
        pytest.skip("the deletion finished before the kill: nothing left half-way to recover")

    server.start()
    fans = await Client.login(server, fan.token)
    for _ in range(300):  # the sweep runs at start; 400 deletions take a moment
        following = (await fans.call("user.following", user_id=fan.id))["users"]
        if leaving.id not in [u["id"] for u in following]:
            break
        await asyncio.sleep(0.1)
    assert leaving.id not in [u["id"] for u in following]
    assert (await fans.call("timeline.user", user_id=leaving.id))["posts"] == []
    await fans.close()
