"""The Storage contract of the communities area (:class:`server.store.base.CommunityStorage`):
communities, their owner and members, roles and transfer of ownership, join requests and bans.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import pytest

from server.store.base import (
    NotFound,
    Storage,
)
from tests.contract.storage_helpers import (
    NOW,
    NX_BOOL_SET,
    UNKNOWN_ID,
    join,
    make_community,
    make_user,
    make_users,
    member_count,
)


async def test_create_community_makes_the_owner_its_first_member(storage: Storage) -> None:
    owner = await make_user(storage, "owner")
    tea = await storage.create_community(
        owner_id=owner.id,
        name="お茶会",
        description="緑茶と紅茶",
        tags=["tea", "お茶"],
        approval_required=True,
        now_ms=NOW + 5,
    )
    assert (tea.name, tea.description, tea.tags) == ("お茶会", "緑茶と紅茶", ("tea", "お茶"))
    assert (tea.approval_required, tea.certified, tea.owner_id) == (True, False, owner.id)
    assert (tea.created_ms, tea.member_count) == (NOW + 5, 1)
    assert await storage.get_community(tea.id) == tea
    assert await storage.get_communities([tea.id, UNKNOWN_ID]) == {tea.id: tea}
    assert await storage.get_community(UNKNOWN_ID) is None
    membership = await storage.membership(tea.id, owner.id)
    assert membership is not None
    assert (membership.community_id, membership.user_id, membership.role, membership.joined_ms) == (
        tea.id,
        owner.id,
        "owner",
        NOW + 5,
    )
    assert await storage.memberships_of(owner.id) == [membership]
    assert await storage.members(tea.id, after=None, limit=10) == [membership]


@NX_BOOL_SET
async def test_set_certified(storage: Storage) -> None:
    owner = await make_user(storage, "owner")
    tea = await make_community(storage, owner)
    assert await storage.set_certified(tea.id, True) is True
    certified = await storage.get_community(tea.id)
    assert certified is not None and certified.certified is True
    assert await storage.set_certified(tea.id, False) is True
    plain = await storage.get_community(tea.id)
    assert plain == tea
    assert await storage.set_certified(tea.id, False) is True  # False only for no such community
    assert await storage.set_certified(UNKNOWN_ID, True) is False


async def test_search_communities_by_casefolded_name_biggest_first(storage: Storage) -> None:
    owner, *people = await make_users(storage, "owner", "p1", "p2", "p3")
    small_tea = await make_community(storage, owner, "Tea Lovers", tags=("tea", "green"))
    big_tea = await make_community(storage, owner, "TEA time", tags=("tea",))
    street = await make_community(storage, owner, "Straße Club", tags=("walks",))
    coffee = await make_community(storage, owner, "coffee", tags=("green",))
    await join(storage, big_tea, *people)
    await join(storage, coffee, *people[:2])
    # Equal member counts (small_tea, street: 1 each) are in id order.

    async def names(query: str, tag: str | None = None, offset: int = 0, limit: int = 10) -> list[str]:
        found = await storage.search_communities(query=query, tag=tag, offset=offset, limit=limit)
        return [c.name for c in found]

    assert await names("tea") == ["TEA time", "Tea Lovers"]
    assert await names("Tea L") == ["Tea Lovers"]
    assert await names("STRASSE") == ["Straße Club"]  # str.casefold: ß is ss
    assert await names("") == ["TEA time", "coffee", "Tea Lovers", "Straße Club"]
    assert await names("", offset=1, limit=2) == ["coffee", "Tea Lovers"]
    assert await names("", offset=4) == []
    assert await names("", tag="green") == ["coffee", "Tea Lovers"]
    assert await names("tea", tag="green") == ["Tea Lovers"]
    assert await names("", tag="nothing") == []
    assert await names("matcha") == []
    found = await storage.search_communities(query="", tag="walks", offset=0, limit=10)
    assert found == [street]
    big = await storage.search_communities(query="time", tag=None, offset=0, limit=10)
    assert [c.member_count for c in big] == [4]
    assert small_tea.id < street.id


async def test_add_member_drops_their_request_and_leaves_members_alone(storage: Storage) -> None:
    owner, alice = await make_users(storage, "owner", "alice")
    tea = await make_community(storage, owner, approval_required=True)
    assert await storage.add_join_request(tea.id, alice.id, NOW + 1) is True
    added = await storage.add_member(tea.id, alice.id, role="member", now_ms=NOW + 2)
    assert added is not None
    assert (added.community_id, added.user_id, added.role, added.joined_ms) == (
        tea.id,
        alice.id,
        "member",
        NOW + 2,
    )
    assert await storage.has_join_request(tea.id, alice.id) is False
    assert await storage.join_requests(tea.id, limit=10) == []
    assert await storage.membership(tea.id, alice.id) == added
    assert await member_count(storage, tea) == 2

    assert await storage.add_member(tea.id, alice.id, role="moderator", now_ms=NOW + 3) is None
    assert await storage.membership(tea.id, alice.id) == added
    assert await member_count(storage, tea) == 2
    with pytest.raises(NotFound):
        await storage.add_member(UNKNOWN_ID, alice.id, role="member", now_ms=NOW + 4)


async def test_remove_member(storage: Storage) -> None:
    owner, alice = await make_users(storage, "owner", "alice")
    tea = await make_community(storage, owner)
    await join(storage, tea, alice)
    assert await storage.remove_member(tea.id, alice.id) is True
    assert await storage.membership(tea.id, alice.id) is None
    assert await storage.memberships_of(alice.id) == []
    assert await member_count(storage, tea) == 1
    assert await storage.remove_member(tea.id, alice.id) is False
    assert await member_count(storage, tea) == 1


async def test_memberships_of_in_joining_order(storage: Storage) -> None:
    owner, alice = await make_users(storage, "owner", "alice")
    clubs = [await make_community(storage, owner, f"club{n}", now_ms=NOW + n) for n in range(3)]
    for n, club in enumerate((clubs[2], clubs[0], clubs[1])):
        await storage.add_member(club.id, alice.id, role="member", now_ms=NOW + 10 + n)
    assert [m.community_id for m in await storage.memberships_of(alice.id)] == [
        clubs[2].id,
        clubs[0].id,
        clubs[1].id,
    ]


async def test_memberships_page_in_joining_order_by_after(storage: Storage) -> None:
    owner, alice, bob = await make_users(storage, "owner", "alice", "bob")
    clubs = [await make_community(storage, owner, f"club{n}", now_ms=NOW + n) for n in range(5)]
    for n, club in enumerate(reversed(clubs)):
        await storage.add_member(club.id, alice.id, role="member", now_ms=NOW + 10 + n)
    await join(storage, clubs[0], bob, now_ms=NOW + 20)
    await storage.remove_member(clubs[2].id, alice.id)
    await storage.set_role(clubs[1].id, alice.id, "moderator")
    expected = [clubs[4].id, clubs[3].id, clubs[1].id, clubs[0].id]
    first = await storage.memberships_page(alice.id, after=None, limit=3)
    second = await storage.memberships_page(alice.id, after=first[-1].id, limit=3)
    assert [m.community_id for m in first + second] == expected
    assert await storage.memberships_page(alice.id, after=second[-1].id, limit=3) == []
    assert first + second == await storage.memberships_of(alice.id)  # whole records, roles too
    assert [m.role for m in first + second] == ["member", "member", "moderator", "member"]
    owned = await storage.memberships_page(owner.id, after=None, limit=10)
    assert [(m.community_id, m.role) for m in owned] == [(c.id, "owner") for c in clubs]
    assert await storage.memberships_page(UNKNOWN_ID, after=None, limit=10) == []


async def test_members_page_in_joining_order(storage: Storage) -> None:
    owner, *people = await make_users(storage, "owner", "p1", "p2", "p3", "p4")
    tea = await make_community(storage, owner)
    for n, person in enumerate(reversed(people)):
        await storage.add_member(tea.id, person.id, role="member", now_ms=NOW + 1 + n)
    expected = [owner.id, *(p.id for p in reversed(people))]
    first = await storage.members(tea.id, after=None, limit=2)
    second = await storage.members(tea.id, after=first[-1].id, limit=2)
    third = await storage.members(tea.id, after=second[-1].id, limit=2)
    assert [m.user_id for m in first + second + third] == expected
    assert await storage.members(tea.id, after=third[-1].id, limit=2) == []
    ids = [m.id for m in first + second + third]
    assert ids == sorted(ids)


async def test_set_role_and_member_ids_by_role(storage: Storage) -> None:
    owner, mod, alice, bob = await make_users(storage, "owner", "mod", "alice", "bob")
    tea = await make_community(storage, owner)
    await join(storage, tea, mod, alice, bob)
    assert await storage.set_role(tea.id, mod.id, "moderator") is True
    assert await storage.set_role(tea.id, UNKNOWN_ID, "moderator") is False
    membership = await storage.membership(tea.id, mod.id)
    assert membership is not None and membership.role == "moderator"
    assert sorted(await storage.member_ids(tea.id)) == sorted([owner.id, mod.id, alice.id, bob.id])
    assert sorted(await storage.member_ids(tea.id, roles=("owner", "moderator"))) == sorted(
        [owner.id, mod.id]
    )
    assert await storage.member_ids(tea.id, roles=("moderator",)) == [mod.id]
    assert sorted(await storage.member_ids(tea.id, roles=("member",))) == sorted([alice.id, bob.id])
    assert await storage.member_ids(UNKNOWN_ID) == []


async def test_transfer_ownership(storage: Storage) -> None:
    owner, alice, outsider = await make_users(storage, "owner", "alice", "outsider")
    tea = await make_community(storage, owner)
    await join(storage, tea, alice)
    assert await storage.transfer_ownership(tea.id, alice.id, owner.id) is False  # alice is not the owner
    assert await storage.transfer_ownership(tea.id, owner.id, outsider.id) is False  # not a member
    assert await storage.transfer_ownership(UNKNOWN_ID, owner.id, alice.id) is False
    assert await storage.membership(tea.id, outsider.id) is None
    unchanged = await storage.get_community(tea.id)
    assert unchanged is not None and unchanged.owner_id == owner.id
    roles = {m.user_id: m.role for m in await storage.members(tea.id, after=None, limit=10)}
    assert roles == {owner.id: "owner", alice.id: "member"}

    assert await storage.transfer_ownership(tea.id, owner.id, alice.id) is True
    changed = await storage.get_community(tea.id)
    assert changed is not None and changed.owner_id == alice.id
    roles = {m.user_id: m.role for m in await storage.members(tea.id, after=None, limit=10)}
    assert roles == {owner.id: "moderator", alice.id: "owner"}
    assert await member_count(storage, tea) == 2
    assert await storage.transfer_ownership(tea.id, owner.id, alice.id) is False


async def test_join_requests_wait_oldest_first(storage: Storage) -> None:
    owner, *people = await make_users(storage, "owner", "p1", "p2", "p3")
    tea = await make_community(storage, owner, approval_required=True)
    coffee = await make_community(storage, owner, "Coffee", approval_required=True)
    for n, person in enumerate(reversed(people)):  # made in the reverse order of their times
        assert await storage.add_join_request(tea.id, person.id, NOW + 10 - n) is True
    assert await storage.add_join_request(coffee.id, people[0].id, NOW) is True
    assert await storage.add_join_request(tea.id, people[1].id, NOW + 20) is False

    waiting = await storage.join_requests(tea.id, limit=10)
    assert [(r.community_id, r.user_id, r.created_ms) for r in waiting] == [
        (tea.id, people[0].id, NOW + 8),
        (tea.id, people[1].id, NOW + 9),
        (tea.id, people[2].id, NOW + 10),
    ]
    assert [r.user_id for r in await storage.join_requests(tea.id, limit=2)] == [people[0].id, people[1].id]
    assert await storage.has_join_request(tea.id, people[1].id) is True
    assert await storage.remove_join_request(tea.id, people[1].id) is True
    assert await storage.remove_join_request(tea.id, people[1].id) is False
    assert await storage.has_join_request(tea.id, people[1].id) is False
    assert await storage.has_join_request(coffee.id, people[0].id) is True
    assert [r.user_id for r in await storage.join_requests(tea.id, limit=10)] == [people[0].id, people[2].id]


async def test_ban_removes_membership_and_request(storage: Storage) -> None:
    owner, member, asking, passerby = await make_users(storage, "owner", "member", "asking", "passerby")
    tea = await make_community(storage, owner)
    await join(storage, tea, member)
    await storage.add_join_request(tea.id, asking.id, NOW + 1)
    assert await member_count(storage, tea) == 2

    assert await storage.ban(tea.id, member.id, by=owner.id, now_ms=NOW + 2) is True
    assert await storage.membership(tea.id, member.id) is None
    assert await storage.is_banned(tea.id, member.id) is True
    assert await member_count(storage, tea) == 1
    assert await storage.ban(tea.id, asking.id, by=owner.id, now_ms=NOW + 3) is True
    assert await storage.has_join_request(tea.id, asking.id) is False
    assert await storage.ban(tea.id, passerby.id, by=owner.id, now_ms=NOW + 4) is True
    assert await member_count(storage, tea) == 1
    assert await storage.ban(tea.id, member.id, by=owner.id, now_ms=NOW + 5) is False

    assert await storage.unban(tea.id, member.id) is True
    assert await storage.unban(tea.id, member.id) is False
    assert await storage.is_banned(tea.id, member.id) is False
    assert await storage.membership(tea.id, member.id) is None  # an unban does not bring them back
    assert await storage.is_banned(tea.id, asking.id) is True


async def test_a_second_ban_changes_nothing(storage: Storage) -> None:
    owner, alice = await make_users(storage, "owner", "alice")
    tea = await make_community(storage, owner)
    assert await storage.ban(tea.id, alice.id, by=owner.id, now_ms=NOW) is True
    # The storage does not refuse these (the domain does); a second ban must leave them.
    await join(storage, tea, alice)
    await storage.add_join_request(tea.id, alice.id, NOW + 1)
    assert await storage.ban(tea.id, alice.id, by=owner.id, now_ms=NOW + 2) is False
    assert await storage.membership(tea.id, alice.id) is not None
    assert await storage.has_join_request(tea.id, alice.id) is True
    assert await member_count(storage, tea) == 2
