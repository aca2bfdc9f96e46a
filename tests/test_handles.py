"""Changing one's handle against a real server (PROTOCOL.md 4.1.10): the password, sign-up's
rules, the cooldown, former handles kept for the account (lookups and old mentions still find
it, nobody else may take them), ``user.updated`` to followers, and search."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess


async def refused(client: Client, op: str, **args: object) -> ErrorFrame:
    with pytest.raises(ErrorFrame) as caught:
        await client.call(op, **args)
    return caught.value


async def test_changing_the_handle_tells_followers_and_keeps_the_old_one_the_accounts(
    server: ServerProcess, users: Users
) -> None:
    hanako, fan = await users.author_and_fan()
    other = await users.new("other")
    me = await Client.login(server, hanako.token)
    fans = await Client.login(server, fan.token)
    # A post that mentions her by the handle she is about to leave.
    mention = (await fans.call("post.create", text=f"@{hanako.handle} 炊き出しは何時から？"))["post"]
    await fans.events_now()
    # Neither her new handle nor her name holds the old handle: search must not find her by it.
    new = f"mv_{hanako.handle[::-1]}"
    await me.call("profile.update", display_name="山田 花子")
    for client in (me, fans):  # that change's user.updated, out of the way
        assert (await client.next_event("user.updated"))["data"]["user"]["handle"] == hanako.handle

    changed = await me.call("account.handle", handle=new, password=hanako.password)
    assert (changed["user"]["id"], changed["user"]["handle"]) == (hanako.id, new)
    updated = await fans.next_event("user.updated")
    assert updated["data"]["user"]["id"] == hanako.id and updated["data"]["user"]["handle"] == new
    # Her own connection hears it too, and hello-less reads agree.
    assert (await me.next_event("user.updated"))["data"]["user"]["handle"] == new
    assert (await fans.call("user.get", handle=new.lower()))["user"]["id"] == hanako.id

    # The old handle still finds her, so the old mention still leads to the right person.
    old = await fans.call("user.get", handle=hanako.handle)
    assert old["user"]["id"] == hanako.id and old["user"]["handle"] == new
    thread = await fans.call("post.get", post_id=mention["id"])
    assert thread["post"]["text"].startswith(f"@{hanako.handle} ")  # the text stays as written
    # A new mention of the old handle notifies her.
    await fans.call("post.create", text=f"@{hanako.handle.upper()} ありがとう")
    notes = await me.call("notification.list")
    assert any(n["kind"] == "mention" and n["actor"]["id"] == fan.id for n in notes["notifications"])

    # Nobody else may take it, at sign-up or by a change; search finds her by the new handle only.
    signup = await users.signup(await users.invite(), hanako.handle.upper())
    assert signup.status_code == 409 and signup.json()["error"]["code"] == "handle_taken"
    others = await Client.login(server, other.token)
    taken = await refused(others, "account.handle", handle=hanako.handle, password=other.password)
    assert (taken.code, taken.frame.get("path")) == ("handle_taken", "$.handle")
    found = await fans.call("search.users", query=new)
    assert [u["id"] for u in found["users"]][:1] == [hanako.id]
    gone = await fans.call("search.users", query=hanako.handle)
    assert hanako.id not in [u["id"] for u in gone["users"]]
    # Her log-in works with the new handle; her sessions were never touched.
    login = await users.http.post("/api/login", json={"handle": new, "password": hanako.password})
    assert login.status_code == 200
    assert await me.call("heartbeat") is not None
    for client in (me, fans, others):
        await client.close()


async def test_the_password_and_sign_up_rules_are_required(server: ServerProcess, users: Users) -> None:
    taro, someone = await users.new("taro"), await users.new("someone")
    me = await Client.login(server, taro.token)
    wrong = await refused(me, "account.handle", handle="taro_new", password="not my password")
    assert (wrong.code, wrong.frame.get("path")) == ("invalid_credentials", "$.password")
    for bad in ("ab", "with space", "太郎", "x" * 21, "dash-ed"):
        invalid = await refused(me, "account.handle", handle=bad, password=taro.password)
        assert (invalid.code, invalid.frame.get("path")) == ("handle_invalid", "$.handle")
    # Another account's handle, in any case, is refused before the password is looked at.
    taken = await refused(me, "account.handle", handle=someone.handle.upper(), password="wrong again")
    assert taken.code == "handle_taken"
    # Nothing changed; the same handle again is no change and spends no cooldown.
    same = await me.call("account.handle", handle=taro.handle, password="not even checked")
    assert same["user"]["handle"] == taro.handle
    assert (await me.call("account.handle", handle="Taro_New", password=taro.password))["user"][
        "handle"
    ] == "Taro_New"
    await me.close()


async def test_one_change_per_interval(server: ServerProcess, users: Users) -> None:
    yuki = await users.new("yuki")
    me = await Client.login(server, yuki.token)
    assert me.hello is not None and me.hello["limits"]["handle_change_interval_ms"] == 30 * 24 * 3600_000
    await me.call("account.handle", handle=f"{yuki.handle}_a", password=yuki.password)
    soon = await refused(me, "account.handle", handle=f"{yuki.handle}_b", password=yuki.password)
    assert (soon.code, soon.frame.get("path")) == ("rate_limited", "$.handle")
    month = 30 * 24 * 3600_000
    assert soon.frame["retry_after_ms"] is not None
    assert month - 60_000 < soon.frame["retry_after_ms"] <= month
    await me.close()


async def test_taking_a_former_handle_back(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_HANDLE_CHANGE_INTERVAL_MS="0")
    users = users_of(server)
    mika = await users.new("mika")
    me = await Client.login(server, mika.token)
    await me.call("account.handle", handle="mika_moved", password=mika.password)
    back = await me.call("account.handle", handle=mika.handle, password=mika.password)
    assert back["user"]["handle"] == mika.handle
    # Both are hers now: the one she left again finds her.
    assert (await me.call("user.get", handle="mika_moved"))["user"]["id"] == mika.id
    await me.close()


async def test_former_and_current_handles_share_one_budget_of_failed_log_ins(
    server: ServerProcess, users: Users
) -> None:
    """Guessing under a former handle spends the account's budget, not a fresh one per handle:
    five wrong passwords from one address, then even the right one waits (section 11.4)."""
    ren = await users.new("ren")
    me = await Client.login(server, ren.token)
    await me.call("account.handle", handle=f"{ren.handle}_new", password=ren.password)
    for _ in range(5):
        wrong = await users.http.post("/api/login", json={"handle": ren.handle, "password": "a wrong guess"})
        assert wrong.status_code == 401
    held = await users.http.post("/api/login", json={"handle": f"{ren.handle}_new", "password": ren.password})
    assert held.status_code == 429 and held.json()["error"]["code"] == "rate_limited"
    await me.close()
