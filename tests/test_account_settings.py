"""Account settings against a real server: the signed-in sessions list and signing one out
(PROTOCOL.md 4.1.8, 4.1.9)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import Account, Client, ErrorFrame, Users
from tests.support.server import ServerProcess

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
