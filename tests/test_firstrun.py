"""The first-run guide (``onboarding.get``) end to end, on a real server: the inviter, people
from the inviter's follows and the newcomer's communities ranked by shared ties (never by
popularity), communities by interest and the inviter's, nobody hidden, nothing recorded."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.client import Account, Client, ErrorFrame, Users
from tests.support.server import ServerProcess


def fresh_tag() -> str:
    """A tag no other test's community carries: what makes this test's communities the only
    ones an interest finds."""
    return f"firstrun{secrets.token_hex(4)}"


async def guide(client: Client, **args: Any) -> dict[str, Any]:
    result: dict[str, Any] = await client.call("onboarding.get", **args)
    return result


def handles(result: dict[str, Any]) -> list[str]:
    return [p["user"]["handle"] for p in result["people"]]


async def inviter_of(server: ServerProcess, users: Users) -> Account:
    """A member whose follows are only the test's: joining followed whoever invited them, and
    they unfollow that account (shared by every test)."""
    inviter = await users.new("inviter")
    root = await users.operator()
    client = await Client.login(server, inviter.token)
    await client.call("unfollow", user_id=root.id)
    await client.close()
    return inviter


async def follow(server: ServerProcess, who: Account, *whom: Account) -> None:
    client = await Client.login(server, who.token)
    for other in whom:
        await client.call("follow", user_id=other.id)
    await client.close()


async def test_the_inviter_and_the_people_they_follow_never_popular_strangers(
    server: ServerProcess, users: Users
) -> None:
    inviter = await inviter_of(server, users)
    friend, acquaintance = await users.new("friend"), await users.new("acq")
    popular = await users.new("popular")
    await users.friends(inviter, friend)
    await follow(server, inviter, acquaintance)
    # Popular across the server, and followed by nobody in the newcomer's circle.
    for _ in range(3):
        await follow(server, await users.new("fan"), popular)
    newcomer = await users.new("newcomer", invited_by=inviter)
    client = await Client.login(server, newcomer.token)

    result = await guide(client)
    assert result["inviter"]["id"] == inviter.id
    # Joining follows the inviter; the inviter has not followed back yet.
    assert (result["following_inviter"], result["inviter_follows_you"]) == (True, False)
    assert set(handles(result)) == {friend.handle, acquaintance.handle}
    assert all(p["inviter_follows"] and p["shared_communities"] == 0 for p in result["people"])
    # Equal ties: the inviter's most recent follow first.
    assert handles(result) == [acquaintance.handle, friend.handle]

    await follow(server, inviter, newcomer)
    await client.call("follow", user_id=friend.id)
    result = await guide(client, limit=1)
    assert result["inviter_follows_you"] is True
    assert handles(result) == [acquaintance.handle]


async def test_people_who_share_more_ties_come_first(server: ServerProcess, users: Users) -> None:
    inviter, owner, neighbour = (
        await inviter_of(server, users),
        await users.new("owner"),
        await users.new("nb"),
    )
    close = await users.new("close")
    owner_client = await Client.login(server, owner.token)
    community = (
        await owner_client.call("community.create", name="町内会", description="", tags=[fresh_tag()])
    )["community"]
    for member in (neighbour, close):
        await (await Client.login(server, member.token)).call("community.join", community_id=community["id"])
    # ``close`` is both followed by the inviter and in the newcomer's community: two ties.
    await follow(server, inviter, close)
    newcomer = await users.new("newcomer", invited_by=inviter)
    client = await Client.login(server, newcomer.token)
    await client.call("community.join", community_id=community["id"])

    people = (await guide(client))["people"]
    assert [p["user"]["handle"] for p in people] == [close.handle, owner.handle, neighbour.handle]
    assert [(p["inviter_follows"], p["shared_communities"]) for p in people] == [
        (True, 1),
        (False, 1),
        (False, 1),
    ]


async def test_nobody_hidden_either_way_and_nothing_recorded(server: ServerProcess, users: Users) -> None:
    inviter = await inviter_of(server, users)
    shown, blocked, blocker, muted = [await users.new(p) for p in ("shown", "blocked", "blocker", "muted")]
    await follow(server, inviter, shown, blocked, blocker, muted)
    newcomer = await users.new("newcomer", invited_by=inviter)
    client = await Client.login(server, newcomer.token)
    await client.call("block.add", user_id=blocked.id)
    await client.call("mute.add", user_id=muted.id)
    await (await Client.login(server, blocker.token)).call("block.add", user_id=newcomer.id)
    shown_client = await Client.login(server, shown.token)
    before = await shown_client.call("notification.list")

    assert handles(await guide(client)) == [shown.handle]
    # Being suggested leaves no trace with the person suggested.
    assert await shown_client.call("notification.list") == before

    # An inviter the newcomer blocks is not shown, nor anyone through them.
    await client.call("block.add", user_id=inviter.id)
    result = await guide(client)
    assert (result["inviter"], result["following_inviter"], result["people"]) == (None, False, [])


async def test_communities_by_interest_and_the_inviters(server: ServerProcess, users: Users) -> None:
    inviter, owner = await inviter_of(server, users), await users.new("owner")
    interest, other = fresh_tag(), fresh_tag()
    owner_client = await Client.login(server, owner.token)

    async def community(name: str, tags: list[str], **args: Any) -> str:
        made = await owner_client.call("community.create", name=name, description="", tags=tags, **args)
        community_id: str = made["community"]["id"]
        return community_id

    both = await community("炊き出し 仙台", [interest])
    closed = await community("防災 会議", [interest], approval_required=True)
    joined = await community("参加済み", [interest])
    unrelated = await community("無関係", [other])
    inviters = await community("友だちの会", [other])
    await (await Client.login(server, inviter.token)).call("community.join", community_id=inviters)
    await (await Client.login(server, inviter.token)).call("community.join", community_id=both)
    newcomer = await users.new("newcomer", invited_by=inviter)
    client = await Client.login(server, newcomer.token)
    await client.call("profile.update", interests=[interest])
    await client.call("community.join", community_id=joined)
    await client.call("community.join", community_id=closed)  # a request, not a membership

    found = (await guide(client))["communities"]
    assert [c["community"]["id"] for c in found] == [both, closed, inviters]
    assert unrelated not in {c["community"]["id"] for c in found}
    assert [(c["interests"], c["inviter_member"]) for c in found] == [
        ([interest], True),
        ([interest], False),
        ([], True),
    ]
    # Shown without its posts: a members-only community appears with the request pending.
    assert found[1]["community"]["approval_required"] is True
    assert found[1]["community"]["request_pending"] is True
    assert all(c["community"]["my_role"] is None for c in found)


async def test_an_operators_invite_has_no_inviter_and_bad_limits_are_refused(
    server: ServerProcess, users: Users
) -> None:
    root = await users.operator()
    client = await Client.login(server, root.token)
    result = await guide(client)
    assert (result["inviter"], result["following_inviter"], result["inviter_follows_you"]) == (
        None,
        False,
        False,
    )
    for bad in (0, 51, "10"):
        with pytest.raises(ErrorFrame) as refused:
            await client.call("onboarding.get", limit=bad)
        assert refused.value.code == "invalid_frame"
