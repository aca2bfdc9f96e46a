"""The Storage contract of the relations area (:class:`server.store.base.RelationStorage`): follows
(and the friends and followers read from them), blocks that end follows both ways, and mutes.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

from server.store.base import Storage, Surroundings
from tests.contract.storage_helpers import (
    NOW,
    UNKNOWN_ID,
    befriend,
    join,
    make_community,
    make_user,
    make_users,
)


async def test_follow_and_unfollow_report_whether_anything_changed(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    assert await storage.follow(alice.id, bob.id, NOW) is True
    assert await storage.follow(alice.id, bob.id, NOW + 1) is False
    assert await storage.followee_ids(alice.id) == [bob.id]
    assert await storage.unfollow(alice.id, bob.id) is True
    assert await storage.unfollow(alice.id, bob.id) is False
    assert await storage.followee_ids(alice.id) == []
    assert await storage.follow(alice.id, bob.id, NOW + 2) is True


async def test_follow_state_from_both_sides(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    assert await storage.follow_state(alice.id, bob.id) == (False, False)
    await storage.follow(alice.id, bob.id, NOW)
    assert await storage.follow_state(alice.id, bob.id) == (True, False)
    assert await storage.follow_state(bob.id, alice.id) == (False, True)
    await storage.follow(bob.id, alice.id, NOW)
    assert await storage.follow_state(alice.id, bob.id) == (True, True)


async def test_follow_counts_and_followee_ids(storage: Storage) -> None:
    alice, bob, carol, dave = [await make_user(storage, name) for name in ("alice", "bob", "carol", "dave")]
    for follower in (bob, carol, dave):
        await storage.follow(follower.id, alice.id, NOW)
    await storage.follow(alice.id, bob.id, NOW)
    assert await storage.follow_counts(alice.id) == (3, 1)
    assert await storage.follow_counts(bob.id) == (1, 1)
    assert await storage.follow_counts(carol.id) == (0, 1)
    await storage.follow(bob.id, carol.id, NOW)
    assert sorted(await storage.followee_ids(bob.id)) == sorted([alice.id, carol.id])
    await storage.unfollow(dave.id, alice.id)
    assert await storage.follow_counts(alice.id) == (2, 1)


async def test_block_ends_follows_both_ways(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    await storage.follow(alice.id, bob.id, NOW)
    await storage.follow(bob.id, alice.id, NOW)
    await storage.follow(alice.id, carol.id, NOW)
    await storage.follow(carol.id, bob.id, NOW)
    outcome = await storage.block(alice.id, bob.id, NOW + 1)
    assert outcome.created is True
    assert sorted(outcome.unfollowed) == sorted([(alice.id, bob.id), (bob.id, alice.id)])
    assert await storage.follow_state(alice.id, bob.id) == (False, False)
    assert await storage.followee_ids(alice.id) == [carol.id]
    assert await storage.followee_ids(carol.id) == [bob.id]

    again = await storage.block(alice.id, bob.id, NOW + 2)
    assert (again.created, again.unfollowed) == (False, [])
    one_way = await storage.block(carol.id, bob.id, NOW + 3)
    assert (one_way.created, one_way.unfollowed) == (True, [(carol.id, bob.id)])
    reverse = await storage.block(bob.id, alice.id, NOW + 4)  # the other direction is a block of its own
    assert (reverse.created, reverse.unfollowed) == (True, [])


async def test_blocks_list_most_recent_first_and_unblock(storage: Storage) -> None:
    me, a, b, c = await make_users(storage, "me", "usera", "userb", "userc")
    for n, user in enumerate((b, a, c)):
        await storage.block(me.id, user.id, NOW + n)
    await storage.block(a.id, me.id, NOW + 10)
    assert await storage.blocked_ids(me.id) == [c.id, a.id, b.id]
    assert await storage.blocks_between(me.id, a.id) is True
    assert await storage.blocks_between(b.id, me.id) is True
    assert await storage.blocks_between(b.id, c.id) is False
    assert await storage.unblock(me.id, c.id) is True
    assert await storage.unblock(me.id, c.id) is False
    assert await storage.blocked_ids(me.id) == [a.id, b.id]
    assert await storage.blocks_between(me.id, c.id) is False
    await storage.unblock(me.id, a.id)
    assert await storage.blocks_between(me.id, a.id) is True  # a still blocks me
    assert await storage.blocked_ids(a.id) == [me.id]


async def test_mutes_are_one_way_and_listed_most_recent_first(storage: Storage) -> None:
    me, a, b = await make_users(storage, "me", "usera", "userb")
    assert await storage.mute(me.id, b.id, NOW) is True
    assert await storage.mute(me.id, a.id, NOW + 1) is True
    assert await storage.mute(me.id, a.id, NOW + 2) is False
    assert await storage.muted_ids(me.id) == [a.id, b.id]
    assert await storage.muted_ids(a.id) == []
    assert await storage.unmute(me.id, b.id) is True
    assert await storage.unmute(me.id, b.id) is False
    assert await storage.muted_ids(me.id) == [a.id]


async def test_relation_and_hidden_ids(storage: Storage) -> None:
    me, muted, blocked, blocker, both, bystander = await make_users(
        storage, "me", "muted", "blocked", "blocker", "both", "bystander"
    )
    await storage.mute(me.id, muted.id, NOW)
    await storage.block(me.id, blocked.id, NOW)
    await storage.block(blocker.id, me.id, NOW)
    await storage.mute(me.id, both.id, NOW)
    await storage.block(me.id, both.id, NOW)
    await storage.block(bystander.id, muted.id, NOW)  # between others: not mine
    await storage.mute(muted.id, me.id, NOW)  # being muted hides nothing from me

    assert await storage.hidden_ids(me.id) == {muted.id, blocked.id, blocker.id, both.id}
    assert await storage.hidden_ids(blocked.id) == {me.id}
    assert await storage.hidden_ids(muted.id) == {me.id, bystander.id}
    assert await storage.hidden_ids(bystander.id) == {muted.id}
    assert await storage.relation(me.id, muted.id) == (False, True)
    assert await storage.relation(me.id, blocked.id) == (True, False)
    assert await storage.relation(me.id, both.id) == (True, True)
    assert await storage.relation(me.id, blocker.id) == (False, False)
    assert await storage.relation(blocker.id, me.id) == (True, False)
    assert await storage.relation(me.id, bystander.id) == (False, False)


async def test_friend_ids_are_mutual_follows_only(storage: Storage) -> None:
    alice, bob, carol, dave, erin = await make_users(storage, "alice", "bob", "carol", "dave", "erin")
    assert await storage.friend_ids(alice.id) == []
    await befriend(storage, alice, bob)
    await befriend(storage, alice, erin)
    await storage.follow(alice.id, carol.id, NOW)  # alice follows carol, not back
    await storage.follow(dave.id, alice.id, NOW)  # dave follows alice, not back
    await storage.follow(bob.id, carol.id, NOW)
    assert sorted(await storage.friend_ids(alice.id)) == sorted([bob.id, erin.id])
    assert await storage.friend_ids(bob.id) == [alice.id]
    assert await storage.friend_ids(carol.id) == []
    assert await storage.friend_ids(dave.id) == []
    await storage.unfollow(bob.id, alice.id)
    assert await storage.friend_ids(alice.id) == [erin.id]
    assert await storage.friend_ids(bob.id) == []
    assert await storage.friend_ids(UNKNOWN_ID) == []


async def test_follower_ids_are_everyone_following_the_user(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    # A sign-up through alice's invite follows her.
    bob = await make_user(storage, "bob", inviter=alice)
    carol, dave = await make_users(storage, "carol", "dave")
    assert await storage.follower_ids(alice.id) == [bob.id]
    await storage.follow(carol.id, alice.id, NOW)
    await storage.follow(alice.id, carol.id, NOW)  # friends are followers too
    await storage.follow(alice.id, dave.id, NOW)  # whom alice follows is not a follower
    assert sorted(await storage.follower_ids(alice.id)) == sorted([bob.id, carol.id])
    assert await storage.follower_ids(dave.id) == [alice.id]
    assert await storage.follower_ids(bob.id) == []
    await storage.unfollow(bob.id, alice.id)
    assert await storage.follower_ids(alice.id) == [carol.id]
    assert await storage.follower_ids(UNKNOWN_ID) == []


async def test_follower_and_following_pages_are_newest_first_with_ties_by_id(storage: Storage) -> None:
    star, a, b, c, d = await make_users(storage, "star", "a", "b", "c", "d")
    # b and c follow at the same millisecond: the greater id comes first.
    await storage.follow(a.id, star.id, NOW)
    await storage.follow(b.id, star.id, NOW + 5)
    await storage.follow(c.id, star.id, NOW + 5)
    await storage.follow(d.id, star.id, NOW + 9)
    tied = sorted([b.id, c.id], reverse=True)
    expected = [d.id, *tied, a.id]
    whole = await storage.followers_page(star.id, before=None, limit=10)
    assert [(e.user_id, e.created_ms) for e in whole] == [
        (d.id, NOW + 9),
        (tied[0], NOW + 5),
        (tied[1], NOW + 5),
        (a.id, NOW),
    ]
    first = await storage.followers_page(star.id, before=None, limit=2)
    assert [e.user_id for e in first] == expected[:2]
    last = first[-1]
    rest = await storage.followers_page(star.id, before=(last.created_ms, last.user_id), limit=2)
    assert [e.user_id for e in rest] == expected[2:]
    assert (
        await storage.followers_page(star.id, before=(rest[-1].created_ms, rest[-1].user_id), limit=2) == []
    )
    assert await storage.followers_page(a.id, before=None, limit=5) == []

    await storage.follow(star.id, c.id, NOW + 1)
    await storage.follow(star.id, a.id, NOW + 2)
    following = await storage.following_page(star.id, before=None, limit=5)
    assert [(e.user_id, e.created_ms) for e in following] == [(a.id, NOW + 2), (c.id, NOW + 1)]
    after_a = await storage.following_page(star.id, before=(NOW + 2, a.id), limit=5)
    assert [e.user_id for e in after_a] == [c.id]
    await storage.unfollow(d.id, star.id)
    assert d.id not in [e.user_id for e in await storage.followers_page(star.id, before=None, limit=10)]


async def test_surroundings_are_what_the_separate_reads_give(storage: Storage) -> None:
    me, friend, fan, muted, blocker, owner = await make_users(
        storage, "me", "friend", "fan", "muted", "blocker", "owner"
    )
    assert await storage.surroundings(me.id) == Surroundings(
        followee_ids=[], community_ids=[], hidden_ids=set(), followers=0, following=0
    )
    for followee in (friend, muted):
        await storage.follow(me.id, followee.id, NOW)
    await storage.follow(fan.id, me.id, NOW)
    await storage.mute(me.id, muted.id, NOW)
    await storage.block(blocker.id, me.id, NOW)
    second = await make_community(storage, owner, "Second")
    first = await make_community(storage, owner, "First")
    await join(storage, second, me, now_ms=NOW)
    await join(storage, first, me, now_ms=NOW + 1)

    around = await storage.surroundings(me.id)
    assert (
        sorted(around.followee_ids)
        == sorted(await storage.followee_ids(me.id))
        == sorted([friend.id, muted.id])
    )
    assert around.community_ids == [m.community_id for m in await storage.memberships_of(me.id)]
    assert around.community_ids == [second.id, first.id]  # in the order joined
    assert around.hidden_ids == await storage.hidden_ids(me.id) == {muted.id, blocker.id}
    assert (around.followers, around.following) == await storage.follow_counts(me.id) == (1, 2)
