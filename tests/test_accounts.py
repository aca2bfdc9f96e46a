"""Invite-only sign-up, log-in limits, sessions and invites, through the real HTTP API."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Client, Users
from tests.support.old_schema import sqlite_with_plain_invites
from tests.support.server import ServerProcess

_after = itertools.count(1)


def years_ago(years: int, days: int = 0) -> str:
    today = dt.date.today()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = today.replace(year=today.year - years, day=28)
    return (then + dt.timedelta(days=days)).isoformat()


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_signup_follows_the_inviter_and_records_the_tree(server: ServerProcess, users: Users) -> None:
    inviter = await users.new("inviter")
    code = await users.invite(inviter)
    response = await users.signup(code, "Newcomer", display_name="  新人さん  ")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["handle"] == "Newcomer"
    assert body["user"]["display_name"] == "新人さん"
    assert body["user"]["following_count"] == 1
    assert body["token"].startswith("tsd_")
    cookie = response.headers["set-cookie"].lower()
    assert "tsudoi_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie

    client = await Client.login(server, body["token"])
    assert (await client.call("user.get", handle=inviter.handle))["user"]["following"] is True
    with sqlite3.connect(server.data_dir / "tsudoi.sqlite3") as db:  # the invite tree
        (invited_by,) = db.execute("SELECT invited_by FROM users WHERE handle = 'Newcomer'").fetchone()
    assert invited_by == inviter.id
    listed = (await Client.login(server, inviter.token)).call("invite.list")
    invites = (await listed)["invites"]
    assert invites[0]["code_prefix"] == code[:4] and invites[0]["used_by"]["handle"] == "Newcomer"
    assert invites[0]["code"] is None and invites[0]["url"] is None  # given once, when made


async def test_an_offline_inviter_finds_the_newcomers_follow_in_their_inbox(
    server: ServerProcess, users: Users
) -> None:
    inviter = await users.new("inviter")  # not connected while the newcomer signs up
    newcomer = await users.new("newcomer", invited_by=inviter)
    client = await Client.login(server, inviter.token)
    page = await client.call("notification.list")
    assert page["unread"] == 1
    (notice,) = page["notifications"]
    assert (notice["kind"], notice["actor"]["id"], notice["read"]) == ("follow", newcomer.id, False)

    online = await Client.login(server, newcomer.token)  # an inviter online is told live as well
    second = await users.new("second", invited_by=newcomer)
    event = await online.next_event("notification")
    assert event["data"]["notification"]["kind"] == "follow"
    assert event["data"]["notification"]["actor"]["id"] == second.id
    assert (await online.call("notification.list"))["unread"] == 1


async def test_the_age_line_is_18_on_the_servers_date(server: ServerProcess, users: Users) -> None:
    code = await users.invite()
    assert error(await users.signup(code, "almost18", birth_date=years_ago(18, days=1))) == (422, "underage")
    assert error(await users.signup(code, "child", birth_date=years_ago(12))) == (422, "underage")
    assert (await users.signup(code, "just18", birth_date=years_ago(18))).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"handle": "ab"}, (422, "handle_invalid")),
        ({"handle": "a" * 21}, (422, "handle_invalid")),
        ({"handle": "ユーザー"}, (422, "handle_invalid")),
        ({"handle": "has space"}, (422, "handle_invalid")),
        ({"display_name": "   "}, (422, "display_name_invalid")),
        ({"display_name": "x" * 51}, (422, "display_name_invalid")),
        ({"password": "short pw!"}, (422, "password_too_short")),
        ({"birth_date": "1990-02-30"}, (422, "birth_date_invalid")),
        ({"birth_date": "next week"}, (422, "birth_date_invalid")),
        ({"accept_terms": False}, (422, "terms_not_accepted")),
        ({"invite_code": "no-such-invite"}, (404, "invite_not_found")),
        ({"surprise": True}, (400, "invalid_request")),
        ({"accept_terms": "yes"}, (400, "invalid_request")),
    ],
)
async def test_signup_refusals(users: Users, overrides: dict[str, Any], expected: tuple[int, str]) -> None:
    code = await users.invite()
    attempt = {"invite_code": code, "handle": "wouldbe", **overrides}
    assert error(await users.signup(attempt.pop("invite_code"), attempt.pop("handle"), **attempt)) == expected
    # The invite was not spent by the refused attempt.
    assert (await users.signup(code, f"after{next(_after)}")).status_code == 201


async def test_an_invite_works_once(users: Users) -> None:
    code = await users.invite()
    assert (await users.signup(code, "first_in")).status_code == 201
    assert error(await users.signup(code, "second_in")) == (410, "invite_used")


async def test_handles_are_unique_regardless_of_case(users: Users) -> None:
    assert (await users.signup(await users.invite(), "CaseUser")).status_code == 201
    assert error(await users.signup(await users.invite(), "caseuser")) == (409, "handle_taken")


async def test_expired_invite(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_INVITE_TTL_MS="1")
    users = users_of(server)
    code = await users.invite()  # made by the root account with the 1 ms lifetime
    assert error(await users.signup(code, "toolate")) == (410, "invite_expired")


async def test_bodies_must_be_json(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert error(await http.post("/api/signup", content=b"handle=x")) == (400, "invalid_request")
        response = await http.post(
            "/api/login", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert error(response) == (400, "invalid_request")
        response = await http.post(
            "/api/login", content=b"x" * 20000, headers={"content-type": "application/json"}
        )
        assert error(response) == (400, "invalid_request")


async def test_a_member_holds_at_most_five_unused_invites(server: ServerProcess, users: Users) -> None:
    member = await users.new("member")
    client = await Client.login(server, member.token)
    codes = [(await client.call("invite.create"))["invite"]["code"] for _ in range(5)]
    assert (await client.call_frame("invite.create"))["code"] == "invite_limit"
    assert (await users.signup(codes[0], "usedone")).status_code == 201
    await client.call("invite.create")  # a used invite frees a place
    assert len((await client.call("invite.list"))["invites"]) == 6


async def test_login_logout_and_the_token_at_rest(server: ServerProcess, users: Users) -> None:
    account = await users.new("login")
    response = await users.http.post(
        "/api/login", json={"handle": account.handle.upper(), "password": account.password}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert error(
        await users.http.post("/api/login", json={"handle": account.handle, "password": "wrong password"})
    ) == (
        401,
        "invalid_credentials",
    )
    assert error(
        await users.http.post("/api/login", json={"handle": "nosuchuser", "password": "whatever123"})
    ) == (
        401,
        "invalid_credentials",
    )
    with sqlite3.connect(server.data_dir / "tsudoi.sqlite3") as db:
        dump = "\n".join(db.iterdump())
        (password_hash,) = db.execute(
            "SELECT password_hash FROM users WHERE id = ?", (account.id,)
        ).fetchone()
    assert token not in dump and token.removeprefix("tsd_") not in dump  # only SHA-256 hashes stored
    assert password_hash.startswith("$argon2id$")

    live = await Client.login(server, token)
    response = await users.http.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204
    assert await live.closed() == 4501  # revoked while connected
    again = await Client.open(server)
    await again.send({"op": "auth", "token": token})
    assert await again.closed() == 4500


async def test_cookie_logout_needs_the_same_origin(server: ServerProcess, users: Users) -> None:
    account = await users.new("cookie")
    async with httpx.AsyncClient(base_url=server.url) as http:
        http.cookies.set("tsudoi_session", account.token)
        assert error(await http.post("/api/logout", headers={"Origin": "https://evil.example"})) == (
            403,
            "origin_rejected",
        )
        assert (await http.post("/api/logout", headers={"Origin": server.url})).status_code == 204


async def test_password_change_revokes_every_session(server: ServerProcess, users: Users) -> None:
    account = await users.new("changer")
    other = await users.http.post("/api/login", json={"handle": account.handle, "password": account.password})
    devices = [await Client.login(server, account.token), await Client.login(server, other.json()["token"])]
    headers = {"Authorization": f"Bearer {account.token}"}
    bad = await users.http.post(
        "/api/password", json={"old_password": "wrong one!!", "new_password": "n" * 12}, headers=headers
    )
    assert error(bad) == (401, "invalid_credentials")
    short = await users.http.post(
        "/api/password", json={"old_password": account.password, "new_password": "short"}, headers=headers
    )
    assert error(short) == (422, "password_too_short")
    response = await users.http.post(
        "/api/password",
        json={"old_password": account.password, "new_password": "a brand new password"},
        headers=headers,
    )
    assert response.status_code == 200
    assert [await device.closed() for device in devices] == [4501, 4501]
    await Client.login(server, response.json()["token"])
    assert error(
        await users.http.post("/api/login", json={"handle": account.handle, "password": account.password})
    ) == (
        401,
        "invalid_credentials",
    )


async def test_login_brakes_guessers_without_locking_the_owner_out(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_LOGIN_ADDRESS_ATTEMPTS="12", TSUDOI_LOGIN_ACCOUNT_FAILURES_TOTAL="8")
    users = users_of(server)
    victim = await users.new("victim")
    # Each client is one device; none has logged in yet, so none holds a device cookie.
    stranger = users_of(server).http
    owners_new_device = users_of(server).http

    async def login(
        password: str, address: str, handle: str = victim.handle, device: httpx.AsyncClient = stranger
    ) -> httpx.Response:
        return await device.post(
            "/api/login", json={"handle": handle, "password": password}, headers=forwarded_for(address)
        )

    for _ in range(5):  # the per-account, per-address default: 5 failures
        assert error(await login("guess guess", "203.0.113.7")) == (401, "invalid_credentials")
    response = await login(victim.password, "203.0.113.7")
    assert error(response) == (429, "rate_limited")
    assert response.json()["error"]["retry_after_ms"] > 0
    assert int(response.headers["retry-after"]) >= 1
    # The owner, from their own address, is not locked out by the guesser.
    owners_device = users_of(server).http
    assert (await login(victim.password, "198.51.100.20", device=owners_device)).status_code == 200
    # Guessing from many addresses meets the per-account ceiling (8 here): unknown devices wait,
    # the owner's included; the device that logged in before does not (see the test below).
    for n in range(3):
        await login("guess guess", f"192.0.2.{n}")
    assert error(await login(victim.password, "198.51.100.20", device=owners_new_device)) == (
        429,
        "rate_limited",
    )
    assert (await login(victim.password, "198.51.100.20", device=owners_device)).status_code == 200
    # Per address: one address trying many accounts is braked too (12 attempts here).
    for n in range(12):
        await login("guess guess", "203.0.113.99", handle=f"someone{n}")
    assert error(await login("guess guess", "203.0.113.99", handle="someone_else")) == (429, "rate_limited")


def forwarded_for(address: str) -> dict[str, str]:
    """uvicorn takes the client address from X-Forwarded-For when the peer is 127.0.0.1 (its
    default ``forwarded_allow_ips``): how these tests log in from many addresses."""
    return {"X-Forwarded-For": address}


async def test_a_known_device_logs_in_while_many_addresses_drain_the_account_budget(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    # The default budgets (5 failures per account and address, 50 per account), over a day rather
    # than 15 minutes, so that none refills while the test runs however slow the machine.
    server = start_server(TSUDOI_LOGIN_ACCOUNT_WINDOW_MS=str(24 * 3600_000))
    users = users_of(server)
    owner = await users.new("owner")
    mallory = await users.new("mallory")
    guessers = users_of(server).http  # never logs in: holds no device cookie

    async def login(
        device: httpx.AsyncClient, password: str, address: str, handle: str = owner.handle, token: str = ""
    ) -> httpx.Response:
        headers = forwarded_for(address) | ({"X-Tsudoi-Device": token} if token else {})
        return await device.post("/api/login", json={"handle": handle, "password": password}, headers=headers)

    phone, laptop, malloys_device = (users_of(server).http for _ in range(3))
    first = await login(phone, owner.password, "198.51.100.20")
    assert first.status_code == 200
    (cookie,) = [c for c in first.headers.get_list("set-cookie") if c.startswith("tsudoi_device=")]
    assert cookie.startswith("tsudoi_device=tsdd_")
    for attribute in ("HttpOnly", "Path=/api/login", "SameSite=strict", "Max-Age=34560000"):
        assert attribute in cookie
    assert "Secure" not in cookie  # http:// here; https:// or TSUDOI_SECURE_COOKIES adds it
    assert (await login(laptop, owner.password, "198.51.100.21")).status_code == 200
    assert (await login(malloys_device, mallory.password, "198.51.100.66", mallory.handle)).status_code == 200
    # Twenty addresses guess slowly; the owner's phone logs in between their rounds throughout.
    refused = 0
    for round_ in range(4):
        for n in range(20):
            refused += (await login(guessers, f"guess {round_}", f"203.0.113.{n + 1}")).status_code == 429
        assert (await login(phone, owner.password, "198.51.100.20")).status_code == 200
    assert refused == 80 - 50  # the account's budget (50) is drained: the rest were braked
    # While it is, an unknown device is refused even with the right password, ...
    new_device = users_of(server).http
    assert error(await login(new_device, owner.password, "198.51.100.20")) == (429, "rate_limited")
    # ... and so is one with another account's device cookie, or a forged one.
    assert error(await login(malloys_device, owner.password, "198.51.100.66")) == (429, "rate_limited")
    token = phone.cookies["tsudoi_device"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert error(await login(new_device, owner.password, "198.51.100.20", token=forged)) == (
        429,
        "rate_limited",
    )
    mallorys = malloys_device.cookies["tsudoi_device"]
    assert error(await login(new_device, owner.password, "198.51.100.20", token=mallorys)) == (
        429,
        "rate_limited",
    )
    # The phone's token works in the header too (bots and the SDK send it there).
    headed = await login(new_device, owner.password, "198.51.100.20", token=token)
    assert headed.status_code == 200
    # A known device that keeps failing is braked on its own (5 failures), and only it.
    for _ in range(5):
        assert error(await login(laptop, "not the password", "198.51.100.21")) == (401, "invalid_credentials")
    assert error(await login(laptop, owner.password, "198.51.100.21")) == (429, "rate_limited")
    assert (await login(phone, owner.password, "198.51.100.20")).status_code == 200
    assert "tsdd_" not in server.log()  # the token is in no log line


async def test_the_device_cookie_is_secure_when_the_server_is_served_over_https(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_PUBLIC_URL="https://tsudoi.example")
    users = users_of(server)
    person = await users.new("secure")
    response = await users.http.post(
        "/api/login", json={"handle": person.handle, "password": person.password}
    )
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith("tsudoi_device=")]
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_wrong_old_passwords_count_as_failed_logins(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    account = await users.new("owner")
    headers = {"Authorization": f"Bearer {account.token}"}
    for _ in range(5):
        body = {"old_password": "not my password", "new_password": "a new password!"}
        assert error(await users.http.post("/api/password", json=body, headers=headers)) == (
            401,
            "invalid_credentials",
        )
    body = {"old_password": account.password, "new_password": "a new password!"}
    assert error(await users.http.post("/api/password", json=body, headers=headers)) == (429, "rate_limited")


async def test_invite_codes_are_stored_as_hashes_and_old_codes_keep_working(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users], tmp_path: Path
) -> None:
    # A data folder as the version before hashed invites left it, with one unused plain code.
    old_code = "J4nR8vPq2sXw6tYk0mLd3g"
    now_ms = int(time.time() * 1000)
    sqlite_with_plain_invites(
        tmp_path / "data0" / "tsudoi.sqlite3", [old_code], created_ms=now_ms, expires_ms=now_ms + 3600_000
    )
    server = start_server()  # opens tmp_path / "data0", and migrates it
    users = users_of(server)
    assert (await users.http.get(f"/api/invites/{old_code}")).status_code == 200
    response = await users.signup(old_code, "oldtimer")
    assert response.status_code == 201, response.text
    client = await Client.login(server, response.json()["token"])
    made = (await client.call("invite.create"))["invite"]
    fresh = made["code"]
    assert made["url"].endswith(f"/i/{fresh}") and made["code_prefix"] == fresh[:4]
    [listed] = (await client.call("invite.list"))["invites"]
    assert (listed["code"], listed["url"], listed["code_prefix"]) == (None, None, fresh[:4])
    assert (await users.signup(fresh, "newcomer")).status_code == 201
    assert error(await users.signup(fresh, "another")) == (410, "invite_used")
    unused = (await client.call("invite.create"))["invite"]["code"]
    await client.close()
    server.stop()
    # No code, old, used or unused, is anywhere in the data folder: only hashes are.
    files = [path for path in (tmp_path / "data0").iterdir() if path.is_file()]
    assert any(path.name == "tsudoi.sqlite3" for path in files)
    for path in files:
        data = path.read_bytes()
        for code in (old_code, fresh, unused, server.bootstrap_invite()):
            assert code.encode() not in data, (code, path.name)
    with sqlite3.connect(tmp_path / "data0" / "tsudoi.sqlite3") as db:
        hashes = {row[0] for row in db.execute("SELECT code_hash FROM invites")}
    assert {hashlib.sha256(c.encode()).digest() for c in (old_code, fresh, unused)} <= hashes


async def test_invite_landing_info(server: ServerProcess, users: Users) -> None:
    inviter = await users.new("host")
    code = await users.invite(inviter)
    info = (await users.http.get(f"/api/invites/{code}")).json()
    assert info["inviter"]["handle"] == inviter.handle
    assert error(await users.http.get("/api/invites/unknown-code")) == (404, "invite_not_found")
