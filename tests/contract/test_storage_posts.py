"""The Storage contract of the posts area (:class:`server.store.base.PostStorage`): posts and their
fields, deletion at a fresh stream position, the following timeline and stream (with communities),
user and community timelines, replies, reposts, Discover candidates, reactions, and clients' nonces
for posts (one post per author and nonce, decided by the database).

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio

import pytest

from server.store.base import (
    NonceTaken,
    PostRecord,
    Storage,
    StreamItem,
)
from tests.contract.storage_helpers import (
    DAY,
    NOW,
    NX_GROUP_KEY,
    SMALLEST_ID,
    UNKNOWN_ID,
    join,
    make_community,
    make_user,
    make_users,
    post,
    say,
    say_with_nonce,
    stream,
    timeline,
    user_timeline,
)


async def test_create_and_get_post(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first = await post(storage, alice, "はじめまして")
    reply = await storage.create_post(
        author_id=alice.id, text="👨‍👩‍👧 hi", emotext="super_shake", reply_to=first.id, now_ms=NOW + 1
    )
    assert (reply.author_id, reply.text, reply.emotext, reply.reply_to) == (
        alice.id,
        "👨‍👩‍👧 hi",
        "super_shake",
        first.id,
    )
    assert reply.created_ms == NOW + 1
    assert reply.deleted_pos is None
    assert len(reply.id) == 26
    assert await storage.get_post(reply.id) == reply
    assert await storage.get_post(first.id) == first
    assert await storage.get_post("01JD0M7Q5W3K4T9V2X8Y6Z1ABC") is None


async def test_post_ids_strictly_increase_in_creation_order(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    ids = []
    for n in range(50):
        # The same millisecond, and a clock that steps back, must not break the order.
        now_ms = NOW + 100 - (n % 7)
        ids.append((await post(storage, alice if n % 2 else bob, f"post {n}", now_ms)).id)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_delete_post_marks_it_at_a_fresh_position_once(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    doomed = await post(storage, alice, "消します")
    later = await post(storage, alice, "later", NOW + 1)
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None
    assert deleted.id == doomed.id
    assert deleted.text == doomed.text
    assert deleted.deleted_pos is not None
    assert deleted.deleted_pos > doomed.id
    assert deleted.deleted_pos > later.id  # a fresh position: after everything written before
    assert await storage.get_post(doomed.id) == deleted
    assert await storage.delete_post(doomed.id) is None
    assert await storage.delete_post("01JD0M7Q5W3K4T9V2X8Y6Z1ABC") is None
    after = await post(storage, alice, "after", NOW + 2)
    assert after.id > deleted.deleted_pos


async def test_following_timeline_newest_first_with_own_and_followees_posts(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    stranger = await make_user(storage, "stranger")
    await storage.follow(me.id, friend.id, NOW)
    mine = await post(storage, me, "mine", NOW + 1)
    theirs = await post(storage, friend, "theirs", NOW + 2)
    await post(storage, stranger, "not for me", NOW + 3)
    gone = await post(storage, friend, "gone", NOW + 4)
    await storage.delete_post(gone.id)
    latest = await post(storage, friend, "latest", NOW + 5)

    timeline = await storage.following_timeline(me.id, before=None, limit=20)
    assert [p.id for p in timeline] == [latest.id, theirs.id, mine.id]
    assert timeline[1] == theirs
    # The friend does not follow me: my posts are not on their timeline.
    assert [p.id for p in await storage.following_timeline(friend.id, before=None, limit=20)] == [
        latest.id,
        theirs.id,
    ]


async def test_following_timeline_pages_with_before(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, me if n % 2 else friend, f"p{n}", NOW + n) for n in range(7)]
    newest_first = [p.id for p in reversed(posts)]

    pages: list[list[str]] = []
    before = None
    while True:
        page = await storage.following_timeline(me.id, before=before, limit=3)
        if not page:
            break
        pages.append([p.id for p in page])
        before = page[-1].id
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]
    assert await storage.following_timeline(me.id, before=posts[0].id, limit=3) == []


async def test_following_timeline_forgets_unfollowed_authors(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    await post(storage, friend, "hello", NOW + 1)
    await storage.unfollow(me.id, friend.id)
    assert await storage.following_timeline(me.id, before=None, limit=20) == []


async def test_following_timeline_includes_the_inviter_followed_on_joining(storage: Storage) -> None:
    inviter = await make_user(storage, "inviter")
    hello = await post(storage, inviter, "ようこそ", NOW + 1)
    newcomer = await make_user(storage, "newcomer", inviter=inviter, now_ms=NOW + 2)
    assert await storage.following_timeline(newcomer.id, before=None, limit=20) == [hello]


async def test_stream_after_a_cursor_is_oldest_first(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    seen = await post(storage, friend, "seen", NOW + 1)
    missed = [await post(storage, me if n == 1 else friend, f"missed {n}", NOW + 2 + n) for n in range(3)]

    items = await storage.following_stream_after(me.id, after=seen.id, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(p.id, False) for p in missed]
    assert [item.post for item in items] == missed


async def test_stream_from_the_beginning_includes_everything(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, friend, f"p{n}", NOW + n) for n in range(3)]
    items = await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100)
    assert [item.post.id for item in items] == [p.id for p in posts]


async def test_stream_shows_the_deletion_of_a_post_seen_before_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    doomed = await post(storage, friend, "doomed", NOW + 1)
    cursor = (await post(storage, friend, "cursor", NOW + 2)).id
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None and deleted.deleted_pos is not None
    after = await post(storage, friend, "after", NOW + 3)

    items = await storage.following_stream_after(me.id, after=cursor, limit=100)
    assert [(item.pos, item.post.id, item.deleted) for item in items] == [
        (deleted.deleted_pos, doomed.id, True),
        (after.id, after.id, False),
    ]
    assert items[0].post.deleted_pos == deleted.deleted_pos


async def test_stream_shows_the_deletion_of_the_cursor_post_itself(storage: Storage) -> None:
    me = await make_user(storage, "me")
    doomed = await post(storage, me, "doomed", NOW + 1)
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None
    items = await storage.following_stream_after(me.id, after=doomed.id, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(deleted.deleted_pos, True)]


async def test_stream_leaves_out_a_post_created_and_deleted_after_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    cursor = (await post(storage, friend, "cursor", NOW + 1)).id
    fleeting = await post(storage, friend, "fleeting", NOW + 2)
    kept = await post(storage, friend, "kept", NOW + 3)
    await storage.delete_post(fleeting.id)

    items = await storage.following_stream_after(me.id, after=cursor, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(kept.id, False)]
    assert fleeting.id not in {item.post.id for item in items}


async def test_stream_leaves_out_deletions_before_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    old = await post(storage, me, "old", NOW + 1)
    deleted = await storage.delete_post(old.id)
    assert deleted is not None and deleted.deleted_pos is not None
    items = await storage.following_stream_after(me.id, after=deleted.deleted_pos, limit=100)
    assert items == []
    new = await post(storage, me, "new", NOW + 2)
    assert [
        item.pos for item in await storage.following_stream_after(me.id, after=deleted.deleted_pos, limit=100)
    ] == [new.id]


async def test_stream_respects_limit_and_resumes_exactly(storage: Storage) -> None:
    me = await make_user(storage, "me")
    posts = [await post(storage, me, f"p{n}", NOW + n) for n in range(7)]
    cursor = SMALLEST_ID
    got: list[str] = []
    for _ in range(10):
        items = await storage.following_stream_after(me.id, after=cursor, limit=3)
        assert len(items) <= 3
        if not items:
            break
        got.extend(item.pos for item in items)
        cursor = items[-1].pos
    assert got == [p.id for p in posts]
    assert len(await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=3)) == 3


async def test_stream_excludes_unfollowed_authors_and_strangers(storage: Storage) -> None:
    me = await make_user(storage, "me")
    former = await make_user(storage, "former")
    stranger = await make_user(storage, "stranger")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, former.id, NOW)
    await storage.follow(me.id, friend.id, NOW)
    await post(storage, former, "before unfollow", NOW + 1)
    await post(storage, stranger, "never followed", NOW + 2)
    kept = await post(storage, friend, "friend", NOW + 3)
    await storage.unfollow(me.id, former.id)
    await post(storage, former, "after unfollow", NOW + 4)

    items = await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100)
    assert [item.post.id for item in items] == [kept.id]


async def test_stream_matches_the_timeline(storage: Storage) -> None:
    """Replaying the stream from the start rebuilds the timeline: same posts, reverse order."""
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, me if n % 3 == 0 else friend, f"p{n}", NOW + n) for n in range(9)]
    for doomed in (posts[2], posts[5]):
        await storage.delete_post(doomed.id)
    standing: dict[str, PostRecord] = {}
    for item in await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100):
        if item.deleted:
            standing.pop(item.post.id, None)
        else:
            standing[item.post.id] = item.post
    timeline = await storage.following_timeline(me.id, before=None, limit=100)
    assert [p.id for p in timeline] == sorted(standing, reverse=True)


async def test_posts_by_author_after_is_one_authors_standing_posts_oldest_first(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    before = await post(storage, alice, "before", NOW)
    kept = [await post(storage, alice, f"kept {n}", NOW + 1 + n) for n in range(3)]
    await post(storage, bob, "someone else's", NOW + 10)
    gone = await post(storage, alice, "deleted", NOW + 11)
    await storage.delete_post(gone.id)
    found = await storage.posts_by_author_after(alice.id, after=before.id, limit=10)
    assert [p.id for p in found] == [p.id for p in kept]
    assert [p.id for p in await storage.posts_by_author_after(alice.id, after=before.id, limit=2)] == [
        p.id for p in kept[:2]
    ]


async def test_post_fields_round_trip(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    tea = await make_community(storage, alice)
    original = await say(storage, alice, "original", NOW)
    assert (original.community_id, original.repost_of, original.quote_of, original.announcement) == (
        None,
        None,
        None,
        False,
    )
    news = await say(storage, alice, "news", NOW + 1, community=tea, announcement=True)
    assert (news.community_id, news.announcement) == (tea.id, True)
    repost = await say(storage, bob, "", NOW + 2, repost_of=original)
    assert (repost.repost_of, repost.text, repost.quote_of) == (original.id, "", None)
    quote = await say(storage, bob, "look", NOW + 3, quote_of=news)
    assert (quote.quote_of, quote.repost_of) == (news.id, None)
    for made in (original, news, repost, quote):
        assert await storage.get_post(made.id) == made


async def test_get_posts_returns_those_that_exist_deleted_included(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    kept = await say(storage, alice, "kept", NOW)
    gone = await say(storage, alice, "gone", NOW + 1)
    deleted = await storage.delete_post(gone.id)
    found = await storage.get_posts([kept.id, gone.id, UNKNOWN_ID, kept.id])
    assert found == {kept.id: kept, gone.id: deleted}
    assert await storage.get_posts([]) == {}


async def test_find_repost_is_the_users_newest_standing_repost(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    original = await say(storage, alice, "original", NOW)
    other = await say(storage, alice, "other", NOW + 1)
    assert await storage.find_repost(bob.id, original.id) is None
    await say(storage, bob, "a quote is not a repost", NOW + 2, quote_of=original)
    await say(storage, carol, "", NOW + 3, repost_of=original)
    await say(storage, bob, "", NOW + 4, repost_of=other)
    assert await storage.find_repost(bob.id, original.id) is None
    first = await say(storage, bob, "", NOW + 5, repost_of=original)
    assert await storage.find_repost(bob.id, original.id) == first
    # The domain refuses a second repost; storage keeps both, and finds the newest.
    second = await say(storage, bob, "", NOW + 6, repost_of=original)
    assert await storage.find_repost(bob.id, original.id) == second
    await storage.delete_post(second.id)
    assert await storage.find_repost(bob.id, original.id) == first
    await storage.delete_post(first.id)
    assert await storage.find_repost(bob.id, original.id) is None


async def test_posts_by_author_after_leaves_out_community_posts(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    tea = await make_community(storage, alice)
    outside = await say(storage, alice, "outside", NOW + 1)
    await say(storage, alice, "inside", NOW + 2, community=tea)
    later = await say(storage, alice, "later", NOW + 3)
    found = await storage.posts_by_author_after(alice.id, after=SMALLEST_ID, limit=10)
    assert [p.id for p in found] == [outside.id, later.id]


async def test_user_timeline_has_all_the_authors_standing_posts_newest_first(storage: Storage) -> None:
    alice, bob, viewer = await make_users(storage, "alice", "bob", "viewer")
    tea = await make_community(storage, bob)
    await join(storage, tea, alice)
    original = await say(storage, bob, "bob's", NOW + 1)
    expected = [
        await say(storage, alice, "original", NOW + 2),
        await say(storage, alice, "reply", NOW + 3, reply_to=original),
        await say(storage, alice, "", NOW + 4, repost_of=original),
        await say(storage, alice, "quote", NOW + 5, quote_of=original),
        await say(storage, alice, "in an open community", NOW + 6, community=tea),
    ]
    gone = await say(storage, alice, "deleted", NOW + 7)
    await storage.delete_post(gone.id)
    await say(storage, bob, "someone else's", NOW + 8)
    newest_first = [p.id for p in reversed(expected)]
    assert await user_timeline(storage, alice, viewer) == newest_first
    assert await user_timeline(storage, alice, alice) == newest_first
    page = await storage.user_timeline(alice.id, viewer_id=viewer.id, before=None, limit=1)
    assert page == [expected[-1]]  # the whole record


async def test_user_timeline_shows_closed_communities_to_their_members_only(storage: Storage) -> None:
    alice, member, outsider = await make_users(storage, "alice", "member", "outsider")
    closed = await make_community(storage, alice, "Closed", approval_required=True)
    opened = await make_community(storage, member, "Open")
    await join(storage, closed, member)
    await join(storage, opened, alice)
    outside = await say(storage, alice, "outside", NOW + 1)
    secret = await say(storage, alice, "members only", NOW + 2, community=closed)
    public = await say(storage, alice, "open to all", NOW + 3, community=opened)
    assert await user_timeline(storage, alice, outsider) == [public.id, outside.id]
    assert await user_timeline(storage, alice, member) == [public.id, secret.id, outside.id]
    assert await user_timeline(storage, alice, alice) == [public.id, secret.id, outside.id]
    # Membership as it is now: leaving hides the community's posts again.
    assert await storage.remove_member(closed.id, member.id) is True
    assert await user_timeline(storage, alice, member) == [public.id, outside.id]


async def test_user_timeline_pages_by_before_across_communities(storage: Storage) -> None:
    alice, viewer, owner = await make_users(storage, "alice", "viewer", "owner")
    tea = await make_community(storage, owner, "Tea")
    closed = await make_community(storage, owner, "Closed", approval_required=True)
    await join(storage, tea, alice)
    await join(storage, closed, alice)
    visible = []
    for n in range(9):
        where = (None, tea, closed)[n % 3]
        post = await say(storage, alice, f"p{n}", NOW + n, community=where)
        if where is not closed:
            visible.append(post.id)
    newest_first = list(reversed(visible))
    pages: list[list[str]] = []
    before = None
    while page := await storage.user_timeline(alice.id, viewer_id=viewer.id, before=before, limit=4):
        pages.append([p.id for p in page])
        before = page[-1].id
    assert pages == [newest_first[0:4], newest_first[4:6]]


async def test_timeline_has_own_and_followees_posts_outside_communities_and_my_communities(
    storage: Storage,
) -> None:
    me, friend, stranger = await make_users(storage, "me", "friend", "stranger")
    await storage.follow(me.id, friend.id, NOW)
    mine = await make_community(storage, stranger, "Mine")
    theirs = await make_community(storage, friend, "Theirs")
    await join(storage, mine, me)
    expected = [
        await say(storage, me, "my own", NOW + 1),
        await say(storage, friend, "friend outside", NOW + 2),
        await say(storage, stranger, "stranger in my community", NOW + 3, community=mine),
        await say(storage, me, "me in my community", NOW + 4, community=mine),
    ]
    await say(storage, stranger, "stranger outside", NOW + 5)
    friends_club = await say(storage, friend, "friend in a community I am not in", NOW + 6, community=theirs)
    gone = await say(storage, stranger, "deleted in my community", NOW + 7, community=mine)
    await storage.delete_post(gone.id)
    assert await timeline(storage, me) == [p.id for p in reversed(expected)]
    # The friend is in "theirs", not in "mine", and does not follow me.
    assert await timeline(storage, friend) == [friends_club.id, expected[1].id]


async def test_timeline_pages_across_authors_and_communities(storage: Storage) -> None:
    me, friend, stranger = await make_users(storage, "me", "friend", "stranger")
    await storage.follow(me.id, friend.id, NOW)
    tea = await make_community(storage, stranger)
    await join(storage, tea, me)
    posts = [
        await say(
            storage, (friend, stranger, me)[n % 3], f"p{n}", NOW + n, community=tea if n % 3 == 1 else None
        )
        for n in range(10)
    ]
    newest_first = [p.id for p in reversed(posts)]
    pages: list[list[str]] = []
    before = None
    while page := await storage.following_timeline(me.id, before=before, limit=4):
        pages.append([p.id for p in page])
        before = page[-1].id
    assert pages == [newest_first[0:4], newest_first[4:8], newest_first[8:10]]


async def test_stream_has_community_posts_and_deletions_in_position_order(storage: Storage) -> None:
    me, friend, stranger = await make_users(storage, "me", "friend", "stranger")
    await storage.follow(me.id, friend.id, NOW)
    tea = await make_community(storage, stranger)
    await join(storage, tea, me)
    seen_in_tea = await say(storage, stranger, "seen in tea", NOW + 1, community=tea)
    cursor = (await say(storage, friend, "cursor", NOW + 2)).id
    in_tea = await say(storage, stranger, "in tea", NOW + 3, community=tea)
    fleeting = await say(storage, stranger, "fleeting", NOW + 4, community=tea)
    outside = await say(storage, friend, "outside", NOW + 5)
    deleted = await storage.delete_post(seen_in_tea.id)
    await storage.delete_post(fleeting.id)
    last = await say(storage, stranger, "last", NOW + 6, community=tea)
    assert deleted is not None and deleted.deleted_pos is not None

    items = await storage.following_stream_after(me.id, after=cursor, limit=100)
    assert [(item.pos, item.post.id, item.deleted) for item in items] == [
        (in_tea.id, in_tea.id, False),
        (outside.id, outside.id, False),
        (deleted.deleted_pos, seen_in_tea.id, True),
        (last.id, last.id, False),
    ]
    assert items[0].post == in_tea
    assert items[2].post == deleted


async def test_stream_pages_resume_exactly_across_sources(storage: Storage) -> None:
    me, friend, stranger = await make_users(storage, "me", "friend", "stranger")
    await storage.follow(me.id, friend.id, NOW)
    tea = await make_community(storage, stranger)
    coffee = await make_community(storage, stranger, "Coffee")
    await join(storage, tea, me)
    await join(storage, coffee, me)
    posts = [
        await say(
            storage,
            (friend, stranger, stranger, me)[n % 4],
            f"p{n}",
            NOW + n,
            community=(None, tea, coffee, None)[n % 4],
        )
        for n in range(11)
    ]
    cursor = posts[5].id
    deleted = [await storage.delete_post(posts[n].id) for n in (1, 4)]
    later = await say(storage, stranger, "after the deletions", NOW + 20, community=tea)

    async def pages(after: str) -> list[str]:
        got: list[str] = []
        while items := await storage.following_stream_after(me.id, after=after, limit=3):
            assert len(items) <= 3
            got.extend(item.pos for item in items)
            after = items[-1].pos
        return got

    deletions = [d.deleted_pos for d in deleted if d is not None]
    assert await pages(cursor) == [p.id for p in posts[6:]] + deletions + [later.id]
    # From the start, the pages pass the deleted posts' ids before reaching their deletions, so
    # the deletions come too (one of a post the client never saw is harmless to it).
    standing = [p.id for n, p in enumerate(posts) if n not in (1, 4)]
    assert await pages(SMALLEST_ID) == standing + deletions + [later.id]


async def test_joining_and_leaving_a_community_changes_what_the_stream_returns(storage: Storage) -> None:
    me, owner = await make_users(storage, "me", "owner")
    tea = await make_community(storage, owner)
    cursor = (await say(storage, me, "cursor", NOW)).id
    before_joining = [await say(storage, owner, f"t{n}", NOW + 1 + n, community=tea) for n in range(2)]
    assert await stream(storage, me, cursor) == []

    await join(storage, tea, me, now_ms=NOW + 10)
    # Membership is read as it is now: the community's earlier posts after the cursor come too.
    assert await stream(storage, me, cursor) == [(p.id, False) for p in before_joining]
    assert await timeline(storage, me) == [before_joining[1].id, before_joining[0].id, cursor]

    assert await storage.remove_member(tea.id, me.id) is True
    await say(storage, owner, "after leaving", NOW + 20, community=tea)
    assert await stream(storage, me, cursor) == []
    assert await timeline(storage, me) == [cursor]


async def test_a_ban_takes_the_community_out_of_the_stream(storage: Storage) -> None:
    me, owner = await make_users(storage, "me", "owner")
    tea = await make_community(storage, owner)
    await join(storage, tea, me)
    post = await say(storage, owner, "hello", NOW + 1, community=tea)
    assert await stream(storage, me) == [(post.id, False)]
    assert await storage.ban(tea.id, me.id, by=owner.id, now_ms=NOW + 2) is True
    assert await stream(storage, me) == []
    assert await timeline(storage, me) == []


async def test_stream_matches_the_timeline_with_communities(storage: Storage) -> None:
    """Replaying the stream from the start rebuilds the timeline: same posts, reverse order."""
    me, friend, stranger = await make_users(storage, "me", "friend", "stranger")
    await storage.follow(me.id, friend.id, NOW)
    tea = await make_community(storage, stranger)
    other = await make_community(storage, stranger, "Other")
    await join(storage, tea, me)
    posts = [
        await say(
            storage, (me, friend, stranger)[n % 3], f"p{n}", NOW + n, community=(None, tea, other)[n % 4 % 3]
        )
        for n in range(12)
    ]
    for doomed in (posts[1], posts[6], posts[9]):
        await storage.delete_post(doomed.id)
    standing: dict[str, PostRecord] = {}
    for item in await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100):
        if item.deleted:
            standing.pop(item.post.id, None)
        else:
            standing[item.post.id] = item.post
    assert await timeline(storage, me) == sorted(standing, reverse=True)
    assert all(p.community_id in (None, tea.id) for p in standing.values())
    assert len(standing) > 3


async def test_stream_items_carry_the_whole_post(storage: Storage) -> None:
    me = await make_user(storage, "me")
    tea = await make_community(storage, me)
    original = await say(storage, me, "original", NOW)
    news = await say(storage, me, "news", NOW + 1, community=tea, announcement=True)
    repost = await say(storage, me, "", NOW + 2, repost_of=original)
    items = await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=10)
    assert items == [
        StreamItem(original.id, original, False),
        StreamItem(news.id, news, False),
        StreamItem(repost.id, repost, False),
    ]


async def test_replies_are_direct_standing_replies_oldest_first_paged_by_after(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    parent = await say(storage, alice, "parent", NOW)
    replies = []
    for n in range(5):
        replies.append(await say(storage, (alice, bob)[n % 2], f"reply {n}", NOW + 1 + n, reply_to=parent))
        await say(storage, bob, f"unrelated {n}", NOW + 1 + n)
    nested = await say(storage, bob, "reply to a reply", NOW + 10, reply_to=replies[0])
    await storage.delete_post(replies[2].id)
    standing = [r.id for r in replies if r is not replies[2]]

    assert [p.id for p in await storage.replies(parent.id, after=None, limit=10)] == standing
    first = await storage.replies(parent.id, after=None, limit=2)
    assert [p.id for p in first] == standing[:2]
    second = await storage.replies(parent.id, after=first[-1].id, limit=2)
    assert [p.id for p in second] == standing[2:4]
    assert await storage.replies(parent.id, after=second[-1].id, limit=2) == []
    assert [p.id for p in await storage.replies(replies[0].id, after=None, limit=10)] == [nested.id]
    assert await storage.replies(nested.id, after=None, limit=10) == []


async def test_community_timeline_newest_first_paged_by_before(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    tea = await make_community(storage, alice)
    coffee = await make_community(storage, alice, "Coffee")
    posts = []
    for n in range(5):
        posts.append(await say(storage, (alice, bob)[n % 2], f"tea {n}", NOW + n, community=tea))
        await say(storage, alice, f"coffee {n}", NOW + n, community=coffee)
        await say(storage, alice, f"outside {n}", NOW + n)
    await storage.delete_post(posts[3].id)
    newest_first = [p.id for p in reversed(posts) if p is not posts[3]]

    assert [p.id for p in await storage.community_timeline(tea.id, before=None, limit=10)] == newest_first
    page = await storage.community_timeline(tea.id, before=None, limit=2)
    assert [p.id for p in page] == newest_first[:2]
    rest = await storage.community_timeline(tea.id, before=page[-1].id, limit=10)
    assert [p.id for p in rest] == newest_first[2:]
    assert page[0] == posts[4]


async def test_community_posts_after_oldest_first(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    tea = await make_community(storage, alice)
    coffee = await make_community(storage, alice, "Coffee")
    first = await say(storage, alice, "first", NOW, community=tea)
    later = [await say(storage, alice, f"later {n}", NOW + 1 + n, community=tea) for n in range(4)]
    await say(storage, alice, "elsewhere", NOW + 10, community=coffee)
    await say(storage, alice, "outside", NOW + 11)
    await storage.delete_post(later[1].id)
    found = await storage.community_posts_after(tea.id, after=first.id, limit=10)
    assert [p.id for p in found] == [later[0].id, later[2].id, later[3].id]
    assert [p.id for p in await storage.community_posts_after(tea.id, after=first.id, limit=1)] == [
        later[0].id
    ]


async def test_discover_candidates_are_recent_originals_from_outside_the_circle(storage: Storage) -> None:
    me, friend, stranger, other = await make_users(storage, "me", "friend", "stranger", "other")
    await storage.follow(me.id, friend.id, NOW)
    open_club = await make_community(storage, stranger, "Open")
    closed_club = await make_community(storage, stranger, "Closed", approval_required=True)
    my_club = await make_community(storage, stranger, "Mine")
    await join(storage, my_club, me)
    since = NOW + 1000

    too_old = await say(storage, stranger, "too old", since - 1)
    at_start = await say(storage, stranger, "exactly at the start", since)
    root = await say(storage, other, "a root", since + 1)
    await say(storage, stranger, "a reply", since + 2, reply_to=root)
    await say(storage, stranger, "", since + 3, repost_of=root)
    quote = await say(storage, stranger, "a quote is an original", since + 4, quote_of=root)
    await say(storage, friend, "my followee outside", since + 5)
    friend_in_open = await say(storage, friend, "my followee in an open club", since + 6, community=open_club)
    await say(storage, me, "my own", since + 7)
    in_open = await say(storage, stranger, "in an open club", since + 8, community=open_club)
    await say(storage, stranger, "in a closed club", since + 9, community=closed_club)
    await say(storage, stranger, "in my club", since + 10, community=my_club)
    gone = await say(storage, other, "deleted", since + 11)
    await storage.delete_post(gone.id)

    found = await storage.discover_candidates(me.id, since_ms=since, limit=100)
    assert [p.id for p in found] == [in_open.id, friend_in_open.id, quote.id, root.id, at_start.id]
    assert found[0] == in_open
    assert too_old.id not in {p.id for p in found}
    assert [p.id for p in await storage.discover_candidates(me.id, since_ms=since, limit=2)] == [
        in_open.id,
        friend_in_open.id,
    ]
    # For a member of the closed club its posts are inside the circle, not candidates.
    await join(storage, closed_club, other)
    others = await storage.discover_candidates(other.id, since_ms=since, limit=100)
    assert {p.text for p in others} == {
        "exactly at the start",
        "a quote is an original",
        "my followee outside",
        "my followee in an open club",
        "my own",
        "in an open club",
        "in my club",
    }


async def test_discover_candidates_follow_membership_and_follows_as_they_are_now(storage: Storage) -> None:
    me, author = await make_users(storage, "me", "author")
    club = await make_community(storage, author)
    outside = await say(storage, author, "outside", NOW + 1)
    inside = await say(storage, author, "inside", NOW + 2, community=club)
    assert [p.id for p in await storage.discover_candidates(me.id, since_ms=NOW, limit=10)] == [
        inside.id,
        outside.id,
    ]
    await storage.follow(me.id, author.id, NOW + 3)
    assert [p.id for p in await storage.discover_candidates(me.id, since_ms=NOW, limit=10)] == [inside.id]
    await join(storage, club, me)
    assert await storage.discover_candidates(me.id, since_ms=NOW, limit=10) == []
    await storage.remove_member(club.id, me.id)
    await storage.unfollow(me.id, author.id)
    assert len(await storage.discover_candidates(me.id, since_ms=NOW, limit=10)) == 2


async def test_discover_window_of_a_week(storage: Storage) -> None:
    """``since_ms`` a week back, as Discover asks: posts from the window's first millisecond on."""
    me, author = await make_users(storage, "me", "author")
    now = NOW + 8 * DAY
    await say(storage, author, "eight days old", NOW)
    week_old = await say(storage, author, "a week old", now - 7 * DAY)
    fresh = await say(storage, author, "fresh", now)
    found = await storage.discover_candidates(me.id, since_ms=now - 7 * DAY, limit=500)
    assert [p.id for p in found] == [fresh.id, week_old.id]


@NX_GROUP_KEY
async def test_reactions_are_idempotent(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    post = await say(storage, alice, "hello")
    assert await storage.add_reaction(post.id, bob.id, "👍", NOW + 1) is True
    assert await storage.add_reaction(post.id, bob.id, "👍", NOW + 2) is False
    assert await storage.reaction_counts([post.id]) == {post.id: [("👍", 1)]}
    assert await storage.remove_reaction(post.id, bob.id, "👍") is True
    assert await storage.remove_reaction(post.id, bob.id, "👍") is False
    assert await storage.remove_reaction(post.id, bob.id, "🎉") is False
    assert await storage.reaction_counts([post.id]) == {}
    assert await storage.my_reactions(bob.id, [post.id]) == {}
    assert await storage.add_reaction(post.id, bob.id, "👍", NOW + 3) is True


@NX_GROUP_KEY
async def test_reaction_counts_in_order_of_first_standing_use(storage: Storage) -> None:
    a, b, c, d = await make_users(storage, "usera", "userb", "userc", "userd")
    post = await say(storage, a, "hello")
    quiet = await say(storage, a, "quiet")
    await storage.add_reaction(post.id, a.id, "🎉", NOW + 1)
    await storage.add_reaction(post.id, b.id, "👍", NOW + 2)
    await storage.add_reaction(post.id, c.id, "👍", NOW + 3)
    await storage.add_reaction(post.id, d.id, "🎉", NOW + 4)
    await storage.add_reaction(post.id, a.id, "👍", NOW + 5)
    await storage.add_reaction(post.id, b.id, "❤️", NOW + 6)
    assert await storage.reaction_counts([post.id, quiet.id]) == {post.id: [("🎉", 2), ("👍", 3), ("❤️", 1)]}
    # Once the first 🎉 is gone, 🎉 counts from d's, after the first 👍.
    await storage.remove_reaction(post.id, a.id, "🎉")
    assert await storage.reaction_counts([post.id]) == {post.id: [("👍", 3), ("🎉", 1), ("❤️", 1)]}


@NX_GROUP_KEY
async def test_reaction_counts_break_ties_of_time_by_emoji(storage: Storage) -> None:
    a, b = await make_users(storage, "usera", "userb")
    post = await say(storage, a, "hello")
    other = await say(storage, a, "other")
    # Added 👍 first, but in the same millisecond: "❤️" (U+2764) sorts before "👍" (U+1F44D).
    await storage.add_reaction(post.id, a.id, "👍", NOW + 1)
    await storage.add_reaction(post.id, b.id, "❤️", NOW + 1)
    await storage.add_reaction(other.id, b.id, "😂", NOW + 2)
    assert await storage.reaction_counts([post.id, other.id]) == {
        post.id: [("❤️", 1), ("👍", 1)],
        other.id: [("😂", 1)],
    }


async def test_my_reactions_in_the_order_added(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    post = await say(storage, alice, "hello")
    other = await say(storage, alice, "other")
    untouched = await say(storage, alice, "untouched")
    for n, emoji in enumerate(["🎉", "👍", "❤️"]):
        await storage.add_reaction(post.id, bob.id, emoji, NOW + 1 + n)
    await storage.add_reaction(other.id, bob.id, "😂", NOW + 10)
    await storage.add_reaction(post.id, alice.id, "😂", NOW + 11)
    assert await storage.my_reactions(bob.id, [post.id, other.id, untouched.id]) == {
        post.id: ["🎉", "👍", "❤️"],
        other.id: ["😂"],
    }
    assert await storage.my_reactions(alice.id, [post.id, other.id]) == {post.id: ["😂"]}
    assert await storage.my_reactions(bob.id, []) == {}


@NX_GROUP_KEY
async def test_reaction_counts_by_counts_each_user_once(storage: Storage) -> None:
    author, f1, f2, stranger = await make_users(storage, "author", "friend1", "friend2", "stranger")
    p1 = await say(storage, author, "p1")
    p2 = await say(storage, author, "p2")
    p3 = await say(storage, author, "p3")
    await storage.add_reaction(p1.id, f1.id, "👍", NOW + 1)
    await storage.add_reaction(p1.id, f1.id, "🎉", NOW + 2)
    await storage.add_reaction(p1.id, f2.id, "👍", NOW + 3)
    await storage.add_reaction(p2.id, f2.id, "❤️", NOW + 4)
    await storage.add_reaction(p2.id, stranger.id, "❤️", NOW + 5)
    await storage.add_reaction(p3.id, stranger.id, "❤️", NOW + 6)
    friends = [f1.id, f2.id]
    assert await storage.reaction_counts_by(friends, [p1.id, p2.id, p3.id]) == {p1.id: 2, p2.id: 1}
    assert await storage.reaction_counts_by(friends, [p2.id]) == {p2.id: 1}
    assert await storage.reaction_counts_by([], [p1.id]) == {}


async def test_a_post_nonce_is_taken_once_per_author(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    first = await say_with_nonce(storage, alice, "地震だ", "n-1")
    assert await storage.post_by_nonce(alice.id, "n-1") == first
    with pytest.raises(NonceTaken):
        await say_with_nonce(storage, alice, "地震だ", "n-1", NOW + 1)
    # Nothing was written by the refused call.
    assert [p.id for p in await storage.following_timeline(alice.id, before=None, limit=10)] == [first.id]
    # Another author's nonce, and the author's other nonces, are their own.
    other = await say_with_nonce(storage, bob, "地震だ", "n-1", NOW + 2)
    assert other.id != first.id and await storage.post_by_nonce(bob.id, "n-1") == other
    assert (await say_with_nonce(storage, alice, "二つ目", "n-2", NOW + 3)).id != first.id
    assert await storage.post_by_nonce(alice.id, "n-3") is None


async def test_posts_without_a_nonce_never_collide(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    ids = {(await say_with_nonce(storage, alice, "同じ", None, NOW + n)).id for n in range(3)}
    assert len(ids) == 3


async def test_a_deleted_post_keeps_its_nonce(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first = await say_with_nonce(storage, alice, "消す", "gone")
    assert await storage.delete_post(first.id) is not None
    found = await storage.post_by_nonce(alice.id, "gone")
    assert found is not None and found.id == first.id and found.deleted_pos is not None
    with pytest.raises(NonceTaken):
        await say_with_nonce(storage, alice, "消す", "gone", NOW + 1)


async def test_concurrent_posts_with_one_nonce_store_one(storage: Storage, second_storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    stores = (storage, second_storage) * 4
    outcomes = await asyncio.gather(
        *(say_with_nonce(store, alice, "once", "race", NOW + 1) for store in stores), return_exceptions=True
    )
    stored = [o for o in outcomes if isinstance(o, PostRecord)]
    assert len(stored) == 1
    assert all(isinstance(o, NonceTaken) for o in outcomes if not isinstance(o, PostRecord))
    assert await storage.post_by_nonce(alice.id, "race") == stored[0]
    assert [p.id for p in await storage.following_timeline(alice.id, before=None, limit=10)] == [stored[0].id]


async def test_share_counts_are_standing_replies_reposts_and_quotes(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    original = await post(storage, alice, "original")
    quiet = await post(storage, alice, "nobody answers")
    replies = [
        await storage.create_post(
            author_id=bob.id, text=f"re {i}", emotext=None, reply_to=original.id, now_ms=NOW
        )
        for i in range(3)
    ]
    repost = await storage.create_post(
        author_id=bob.id, text="", emotext=None, reply_to=None, now_ms=NOW, repost_of=original.id
    )
    await storage.create_post(
        author_id=alice.id, text="", emotext=None, reply_to=None, now_ms=NOW, repost_of=original.id
    )
    quote = await storage.create_post(
        author_id=bob.id, text="look", emotext=None, reply_to=None, now_ms=NOW, quote_of=original.id
    )
    # A reply to a reply counts for its own parent only.
    await storage.create_post(
        author_id=alice.id, text="deep", emotext=None, reply_to=replies[0].id, now_ms=NOW
    )
    counts = await storage.share_counts([original.id, quiet.id, replies[0].id, UNKNOWN_ID])
    assert counts == {original.id: (3, 2, 1), replies[0].id: (1, 0, 0)}

    await storage.delete_post(replies[1].id)
    await storage.delete_post(repost.id)
    await storage.delete_post(quote.id)
    assert await storage.share_counts([original.id]) == {original.id: (2, 1, 0)}
    assert await storage.share_counts([]) == {}
