"""The Storage contract for the gatherings (server/store/base.py): communities, reposts and quotes,
reactions, direct messages, notifications, blocks, mutes, reports, Discover.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py), like
test_storage.py; nothing here may depend on which database is behind the port. All times are
explicit ``now_ms`` values, increasing through each test unless a test says otherwise.
"""

from __future__ import annotations

import asyncio

import pytest

from server.store.base import (
    CommunityRecord,
    ConversationRecord,
    NewNotification,
    NotFound,
    PostRecord,
    Storage,
    StreamItem,
    UserRecord,
)
from tests.contract.test_storage import DAY, NOW, SMALLEST_ID, make_user

UNKNOWN_ID = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"

# Where the nx-27017 stand-in diverges from MongoDB (each
# reproduced with plain pymongo in tests/support/mongo.py). Marked tests are expected to fail on
# nx-27017 only: the same assertions hold on SQLite and on a real MongoDB.
NX_GROUP_KEY = pytest.mark.nx27017_diverges(
    "$group by a document _id ({post_id: '$post_id', ...}) does not evaluate its field paths: one group"
)
NX_BOOL_SET = pytest.mark.nx27017_diverges("$set stores a boolean as the integer 1 or 0")


async def make_users(storage: Storage, *handles: str) -> list[UserRecord]:
    return [await make_user(storage, handle) for handle in handles]


async def say(
    storage: Storage,
    author: UserRecord,
    text: str,
    now_ms: int = NOW,
    *,
    community: CommunityRecord | None = None,
    reply_to: PostRecord | None = None,
    repost_of: PostRecord | None = None,
    quote_of: PostRecord | None = None,
    announcement: bool = False,
) -> PostRecord:
    if announcement:
        assert community is not None
        announced = await storage.create_announcement(
            author_id=author.id, community_id=community.id, text=text, emotext=None, now_ms=now_ms
        )
        return announced.post
    return await storage.create_post(
        author_id=author.id,
        text=text,
        emotext=None,
        reply_to=reply_to.id if reply_to else None,
        now_ms=now_ms,
        community_id=community.id if community else None,
        repost_of=repost_of.id if repost_of else None,
        quote_of=quote_of.id if quote_of else None,
    )


async def make_community(
    storage: Storage,
    owner: UserRecord,
    name: str = "Tea",
    *,
    tags: tuple[str, ...] = (),
    approval_required: bool = False,
    now_ms: int = NOW,
) -> CommunityRecord:
    return await storage.create_community(
        owner_id=owner.id,
        name=name,
        description=f"about {name}",
        tags=list(tags),
        approval_required=approval_required,
        now_ms=now_ms,
    )


async def join(storage: Storage, community: CommunityRecord, *users: UserRecord, now_ms: int = NOW) -> None:
    for user in users:
        assert await storage.add_member(community.id, user.id, role="member", now_ms=now_ms) is not None


async def stream(storage: Storage, user: UserRecord, after: str = SMALLEST_ID) -> list[tuple[str, bool]]:
    """The user's following stream after ``after`` as (post id, deleted) pairs."""
    items = await storage.following_stream_after(user.id, after=after, limit=1000)
    return [(item.post.id, item.deleted) for item in items]


async def timeline(storage: Storage, user: UserRecord) -> list[str]:
    return [p.id for p in await storage.following_timeline(user.id, before=None, limit=1000)]


async def member_count(storage: Storage, community: CommunityRecord) -> int:
    found = await storage.get_community(community.id)
    assert found is not None
    return found.member_count


# --- users -----------------------------------------------------------------------------------


async def test_dm_policy_starts_as_everyone_and_is_stored(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert alice.dm_policy == "everyone"
    assert (await storage.get_user(alice.id)) == alice
    await storage.set_dm_policy(alice.id, "following")
    stored = await storage.get_user(alice.id)
    assert stored is not None and stored.dm_policy == "following"
    by_handle = await storage.get_user_by_handle("ALICE")
    assert by_handle is not None and by_handle.dm_policy == "following"
    await storage.set_dm_policy(alice.id, "nobody")
    found = await storage.get_users([alice.id, bob.id])
    assert (found[alice.id].dm_policy, found[bob.id].dm_policy) == ("nobody", "everyone")


@NX_BOOL_SET
async def test_set_verified_sets_and_clears_the_badge(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert alice.verified is False
    assert await storage.set_verified(alice.id, True) is True
    stored = await storage.get_user(alice.id)
    assert stored is not None and stored.verified is True
    assert stored.handle == "alice" and stored.password_hash == alice.password_hash
    untouched = await storage.get_user(bob.id)
    assert untouched is not None and untouched.verified is False
    assert await storage.set_verified(alice.id, False) is True
    cleared = await storage.get_user(alice.id)
    assert cleared is not None and cleared.verified is False
    assert await storage.set_verified(alice.id, False) is True  # False only for no such user
    assert await storage.set_verified(UNKNOWN_ID, True) is False


# --- posts -----------------------------------------------------------------------------------


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


# --- a user's own posts (profile pages) -------------------------------------------------------


async def user_timeline(storage: Storage, author: UserRecord, viewer: UserRecord) -> list[str]:
    found = await storage.user_timeline(author.id, viewer_id=viewer.id, before=None, limit=1000)
    return [p.id for p in found]


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


# --- the circle: following timeline and stream ------------------------------------------------


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


# --- threads and community timelines ------------------------------------------------------------


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


# --- Discover ----------------------------------------------------------------------------------


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


# --- reactions -----------------------------------------------------------------------------------


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


# --- communities ---------------------------------------------------------------------------------


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


# --- conversations ---------------------------------------------------------------------------------


async def open_direct(
    storage: Storage, a: UserRecord, b: UserRecord, now_ms: int = NOW
) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="direct", owner_id=a.id, member_ids=[a.id, b.id], title=None, now_ms=now_ms
    )
    return record


async def open_group(
    storage: Storage, owner: UserRecord, *others: UserRecord, title: str = "group", now_ms: int = NOW
) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="group",
        owner_id=owner.id,
        member_ids=[owner.id, *(o.id for o in others)],
        title=title,
        now_ms=now_ms,
    )
    return record


async def text(
    storage: Storage, conversation: ConversationRecord, author: UserRecord, body: str, now_ms: int
) -> str:
    message = await storage.add_message(
        conversation.id, author_id=author.id, kind="text", text=body, subject_id=None, now_ms=now_ms
    )
    return message.id


async def test_direct_conversation_is_one_per_pair(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    record, created = await storage.create_conversation(
        kind="direct", owner_id=alice.id, member_ids=[alice.id, bob.id], title=None, now_ms=NOW + 1
    )
    assert (record.kind, record.title, record.owner_id, record.created_ms) == ("direct", None, None, NOW + 1)
    assert created is not None
    assert (created.conversation_id, created.author_id, created.kind, created.subject_id) == (
        record.id,
        alice.id,
        "created",
        None,
    )
    assert created.created_ms == NOW + 1
    assert record.last_message_id == created.id
    assert await storage.get_conversation(record.id) == record
    assert [m.user_id for m in await storage.conversation_members(record.id)] == [alice.id, bob.id]

    again, none = await storage.create_conversation(
        kind="direct", owner_id=bob.id, member_ids=[bob.id, alice.id], title=None, now_ms=NOW + 2
    )
    assert (again, none) == (record, None)
    other = await open_direct(storage, alice, carol, NOW + 3)
    assert other.id != record.id
    assert await storage.messages(record.id, before=None, limit=10) == [created]


async def test_concurrent_opens_of_a_pair_make_one_conversation(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    pairs = [(alice, bob), (bob, alice)] * 4
    results = await asyncio.gather(
        *(
            storage.create_conversation(
                kind="direct", owner_id=a.id, member_ids=[a.id, b.id], title=None, now_ms=NOW
            )
            for a, b in pairs
        )
    )
    assert len({record.id for record, _ in results}) == 1
    assert sum(created is not None for _, created in results) == 1
    (record, _) = results[0]
    assert len(await storage.messages(record.id, before=None, limit=10)) == 1
    assert len(await storage.conversations_of(alice.id, before=None, limit=10)) == 1


async def test_opens_of_a_pair_from_two_processes_make_one_conversation(
    storage: Storage, second_storage: Storage
) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    stores = (storage, second_storage)
    results = await asyncio.gather(
        *(
            stores[n % 2].create_conversation(
                kind="direct", owner_id=alice.id, member_ids=[alice.id, bob.id], title=None, now_ms=NOW + n
            )
            for n in range(8)
        )
    )
    assert len({record.id for record, _ in results}) == 1
    assert sum(created is not None for _, created in results) == 1
    assert len(await second_storage.conversations_of(bob.id, before=None, limit=10)) == 1


async def test_group_conversation_has_its_owner_title_and_members_in_order(storage: Storage) -> None:
    owner, alice, bob = await make_users(storage, "owner", "alice", "bob")
    record, created = await storage.create_conversation(
        kind="group", owner_id=owner.id, member_ids=[owner.id, bob.id, alice.id], title="Trip", now_ms=NOW + 1
    )
    assert (record.kind, record.title, record.owner_id) == ("group", "Trip", owner.id)
    assert created is not None and created.kind == "created" and created.author_id == owner.id
    members = await storage.conversation_members(record.id)
    assert [m.user_id for m in members] == [owner.id, bob.id, alice.id]
    assert all((m.conversation_id, m.joined_ms, m.last_read) == (record.id, NOW + 1, None) for m in members)
    assert await storage.conversation_member(record.id, bob.id) == members[1]
    assert await storage.conversation_member(record.id, UNKNOWN_ID) is None
    # Groups of the same people are distinct conversations.
    second, made = await storage.create_conversation(
        kind="group", owner_id=owner.id, member_ids=[owner.id, bob.id, alice.id], title="Trip", now_ms=NOW + 2
    )
    assert second.id != record.id and made is not None
    assert await storage.get_conversation(UNKNOWN_ID) is None


async def test_add_message_becomes_the_last_and_history_pages_newest_first(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    record = await open_direct(storage, alice, bob)
    message = await storage.add_message(
        record.id, author_id=bob.id, kind="text", text="やあ", subject_id=None, now_ms=NOW + 1
    )
    assert (message.conversation_id, message.author_id, message.kind, message.text) == (
        record.id,
        bob.id,
        "text",
        "やあ",
    )
    assert (message.subject_id, message.created_ms) == (None, NOW + 1)
    updated = await storage.get_conversation(record.id)
    assert updated is not None and updated.last_message_id == message.id
    ids = [message.id] + [await text(storage, record, alice, f"m{n}", NOW + 2 + n) for n in range(4)]
    everything = await storage.messages(record.id, before=None, limit=100)
    assert [m.id for m in everything[:-1]] == list(reversed(ids))
    assert everything[-1].kind == "created"
    page = await storage.messages(record.id, before=None, limit=2)
    assert [m.id for m in page] == [ids[4], ids[3]]
    assert [m.id for m in await storage.messages(record.id, before=page[-1].id, limit=2)] == [ids[2], ids[1]]
    assert everything[0].text == "m3"
    with pytest.raises(NotFound):
        await storage.add_message(
            UNKNOWN_ID, author_id=alice.id, kind="text", text="?", subject_id=None, now_ms=NOW
        )


async def test_adding_members_writes_one_message_each(storage: Storage) -> None:
    owner, alice, bob, carol = await make_users(storage, "owner", "alice", "bob", "carol")
    group = await open_group(storage, owner, alice)
    added = await storage.add_conversation_members(
        group.id, [bob.id, carol.id, bob.id, alice.id], by=owner.id, now_ms=NOW + 1
    )
    assert [(m.kind, m.author_id, m.subject_id, m.created_ms) for m in added] == [
        ("added", owner.id, bob.id, NOW + 1),
        ("added", owner.id, carol.id, NOW + 1),
    ]
    assert added[0].id < added[1].id
    assert [m.user_id for m in await storage.conversation_members(group.id)] == [
        owner.id,
        alice.id,
        bob.id,
        carol.id,
    ]
    updated = await storage.get_conversation(group.id)
    assert updated is not None and updated.last_message_id == added[1].id
    assert [m.id for m in await storage.messages(group.id, before=None, limit=2)] == [
        added[1].id,
        added[0].id,
    ]
    assert (
        await storage.add_conversation_members(group.id, [alice.id, bob.id], by=owner.id, now_ms=NOW + 2)
        == []
    )
    unchanged = await storage.get_conversation(group.id)
    assert unchanged == updated


async def test_removing_and_leaving_write_a_message_and_can_hand_over_the_group(storage: Storage) -> None:
    owner, alice, bob = await make_users(storage, "owner", "alice", "bob")
    group = await open_group(storage, owner, alice, bob)
    removed = await storage.remove_conversation_member(
        group.id, bob.id, by=owner.id, kind="removed", now_ms=NOW + 1
    )
    assert removed is not None
    assert (removed.kind, removed.author_id, removed.subject_id) == ("removed", owner.id, bob.id)
    assert await storage.conversation_member(group.id, bob.id) is None
    assert (
        await storage.remove_conversation_member(
            group.id, bob.id, by=owner.id, kind="removed", now_ms=NOW + 2
        )
        is None
    )

    left = await storage.remove_conversation_member(
        group.id, owner.id, by=owner.id, kind="left", now_ms=NOW + 3, new_owner_id=alice.id
    )
    assert left is not None and (left.kind, left.author_id, left.subject_id) == ("left", owner.id, owner.id)
    updated = await storage.get_conversation(group.id)
    assert updated is not None
    assert (updated.owner_id, updated.last_message_id) == (alice.id, left.id)
    assert [m.user_id for m in await storage.conversation_members(group.id)] == [alice.id]


async def test_conversations_of_most_recently_active_first(storage: Storage) -> None:
    me, a, b, c = await make_users(storage, "me", "usera", "userb", "userc")
    first = await open_direct(storage, me, a, NOW + 1)
    second = await open_group(storage, b, me, now_ms=NOW + 2)
    third = await open_direct(storage, c, me, NOW + 3)
    await open_direct(storage, a, b, NOW + 4)  # not mine
    await text(storage, first, a, "wake up", NOW + 5)
    order = [first.id, third.id, second.id]
    found = await storage.conversations_of(me.id, before=None, limit=10)
    assert [r.id for r in found] == order
    page = await storage.conversations_of(me.id, before=None, limit=2)
    assert [r.id for r in page] == order[:2]
    rest = await storage.conversations_of(me.id, before=page[-1].last_message_id, limit=2)
    assert [r.id for r in rest] == order[2:]
    await storage.remove_conversation_member(second.id, me.id, by=b.id, kind="removed", now_ms=NOW + 6)
    assert [r.id for r in await storage.conversations_of(me.id, before=None, limit=10)] == [
        first.id,
        third.id,
    ]


async def test_direct_stream_is_the_messages_of_conversations_i_am_in_now(storage: Storage) -> None:
    me, a, b = await make_users(storage, "me", "usera", "userb")
    mine = await open_direct(storage, me, a, NOW)
    left_behind = await open_group(storage, b, me, now_ms=NOW + 1)
    joined_later = await open_group(storage, a, b, now_ms=NOW + 2)
    others = await open_direct(storage, a, b, NOW + 3)
    cursor = await text(storage, mine, a, "cursor", NOW + 4)
    expected = [await text(storage, mine, me, "mine", NOW + 5)]
    await text(storage, left_behind, b, "before my removal", NOW + 6)
    earlier_in_joined = await text(storage, joined_later, a, "before I joined", NOW + 7)
    await text(storage, others, a, "not mine", NOW + 8)
    await storage.remove_conversation_member(left_behind.id, me.id, by=b.id, kind="removed", now_ms=NOW + 9)
    [added] = await storage.add_conversation_members(joined_later.id, [me.id], by=a.id, now_ms=NOW + 10)
    expected += [earlier_in_joined, added.id, await text(storage, mine, a, "last", NOW + 11)]
    expected.sort()

    found = await storage.direct_stream_after(me.id, after=cursor, limit=100)
    assert [m.id for m in found] == expected
    assert found[0].text == "mine"
    assert [m.id for m in await storage.direct_stream_after(me.id, after=cursor, limit=2)] == expected[:2]
    assert [m.id for m in await storage.direct_stream_after(me.id, after=expected[1], limit=100)] == expected[
        2:
    ]
    everything = await storage.direct_stream_after(me.id, after=SMALLEST_ID, limit=100)
    assert {m.conversation_id for m in everything} == {mine.id, joined_later.id}


async def test_read_markers_only_move_forward(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    record = await open_direct(storage, alice, bob)
    m1 = await text(storage, record, bob, "one", NOW + 1)
    m2 = await text(storage, record, bob, "two", NOW + 2)
    assert await storage.set_last_read(record.id, alice.id, m2) is True
    assert await storage.set_last_read(record.id, alice.id, m1) is False
    assert await storage.set_last_read(record.id, alice.id, m2) is False
    member = await storage.conversation_member(record.id, alice.id)
    assert member is not None and member.last_read == m2
    assert await storage.set_last_read(record.id, carol.id, m2) is False
    assert await storage.conversation_member(record.id, carol.id) is None
    assert await storage.set_last_read(record.id, bob.id, m1) is True
    assert [m.last_read for m in await storage.conversation_members(record.id)] == [m2, m1]


async def test_unread_counts_are_text_messages_by_others_after_the_marker(storage: Storage) -> None:
    me, a, b = await make_users(storage, "me", "usera", "userb")
    direct = await open_direct(storage, me, a)
    group = await open_group(storage, a, me, now_ms=NOW + 1)
    quiet = await open_group(storage, me, b, now_ms=NOW + 2)
    read_up_to = await text(storage, direct, a, "read", NOW + 3)
    await storage.set_last_read(direct.id, me.id, read_up_to)
    await text(storage, direct, a, "new 1", NOW + 4)
    await text(storage, direct, me, "mine", NOW + 5)
    await text(storage, direct, a, "new 2", NOW + 6)
    await text(storage, group, a, "hello", NOW + 7)
    await storage.add_conversation_members(group.id, [b.id], by=a.id, now_ms=NOW + 8)  # not a text
    await text(storage, quiet, me, "anyone?", NOW + 9)

    counts = await storage.unread_counts(me.id, [direct.id, group.id, quiet.id])
    assert (counts[direct.id], counts[group.id], counts.get(quiet.id, 0)) == (2, 1, 0)
    assert set(counts) <= {direct.id, group.id, quiet.id}
    assert (await storage.unread_counts(a.id, [direct.id, group.id])).get(direct.id, 0) == 1
    last = (await storage.messages(direct.id, before=None, limit=1))[0].id
    await storage.set_last_read(direct.id, me.id, last)
    assert (await storage.unread_counts(me.id, [direct.id])).get(direct.id, 0) == 0


# --- notifications ---------------------------------------------------------------------------------


async def test_notifications_are_stored_unread_in_order(storage: Storage) -> None:
    me, actor = await make_users(storage, "me", "actor")
    tea = await make_community(storage, actor)
    post = await say(storage, me, "hello")
    new = [
        NewNotification(me.id, "reaction", actor_id=actor.id, post_id=post.id, emoji="👍"),
        NewNotification(actor.id, "follow", actor_id=me.id),
        NewNotification(me.id, "join_approved", community_id=tea.id),
    ]
    records = await storage.add_notifications(new, NOW + 1)
    assert [(r.user_id, r.kind, r.actor_id, r.post_id, r.community_id, r.emoji) for r in records] == [
        (me.id, "reaction", actor.id, post.id, None, "👍"),
        (actor.id, "follow", me.id, None, None, None),
        (me.id, "join_approved", None, None, tea.id, None),
    ]
    assert all((r.created_ms, r.read) == (NOW + 1, False) for r in records)
    assert [r.id for r in records] == sorted(r.id for r in records)
    assert await storage.notifications(me.id, before=None, limit=10) == [records[2], records[0]]
    assert await storage.notifications(actor.id, before=None, limit=10) == [records[1]]
    assert await storage.add_notifications([], NOW + 2) == []


async def test_notifications_page_newest_first_and_stream_oldest_first(storage: Storage) -> None:
    me, other = await make_users(storage, "me", "other")
    mine = []
    for n in range(5):
        made = await storage.add_notifications(
            [
                NewNotification(me.id, "follow", actor_id=other.id),
                NewNotification(other.id, "follow", actor_id=me.id),
            ],
            NOW + n,
        )
        mine.append(made[0].id)
    page = await storage.notifications(me.id, before=None, limit=2)
    assert [r.id for r in page] == [mine[4], mine[3]]
    assert [r.id for r in await storage.notifications(me.id, before=page[-1].id, limit=10)] == mine[2::-1]
    assert [r.id for r in await storage.notifications_after(me.id, after=mine[1], limit=10)] == mine[2:]
    assert [r.id for r in await storage.notifications_after(me.id, after=SMALLEST_ID, limit=2)] == mine[:2]
    assert await storage.notifications_after(me.id, after=mine[4], limit=10) == []


async def test_marking_notifications_read(storage: Storage) -> None:
    me, other = await make_users(storage, "me", "other")
    records = await storage.add_notifications(
        [NewNotification(me.id, "follow", actor_id=other.id) for _ in range(3)]
        + [NewNotification(other.id, "follow", actor_id=me.id)],
        NOW,
    )
    assert await storage.unread_notifications(me.id) == 3
    assert await storage.mark_notification_read(me.id, records[1].id) is True
    assert await storage.mark_notification_read(me.id, records[1].id) is False
    assert await storage.mark_notification_read(me.id, records[3].id) is False  # someone else's
    assert await storage.mark_notification_read(me.id, UNKNOWN_ID) is False
    assert await storage.unread_notifications(me.id) == 2
    listed = await storage.notifications(me.id, before=None, limit=10)
    assert [r.read for r in listed] == [False, True, False]
    assert await storage.mark_all_notifications_read(me.id) == 2
    assert await storage.mark_all_notifications_read(me.id) == 0
    assert await storage.unread_notifications(me.id) == 0
    assert await storage.unread_notifications(other.id) == 1
    assert all(r.read for r in await storage.notifications_after(me.id, after=SMALLEST_ID, limit=10))


# --- blocks, mutes, reports ----------------------------------------------------------------------


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


async def test_reports_newest_first_and_resolved_once(storage: Storage) -> None:
    reporter, target = await make_users(storage, "reporter", "target")
    post = await say(storage, target, "rude")
    about_post = await storage.create_report(
        reporter_id=reporter.id, post_id=post.id, user_id=None, reason="rude", now_ms=NOW + 1
    )
    about_user = await storage.create_report(
        reporter_id=reporter.id, post_id=None, user_id=target.id, reason="spam", now_ms=NOW + 2
    )
    assert (about_post.reporter_id, about_post.post_id, about_post.user_id, about_post.reason) == (
        reporter.id,
        post.id,
        None,
        "rude",
    )
    assert (about_post.created_ms, about_post.resolved_ms) == (NOW + 1, None)
    assert (about_user.post_id, about_user.user_id) == (None, target.id)
    assert await storage.reports(open_only=True, limit=10) == [about_user, about_post]
    assert await storage.reports(open_only=False, limit=1) == [about_user]

    assert await storage.resolve_report(about_user.id, NOW + 3) is True
    assert await storage.resolve_report(about_user.id, NOW + 4) is False
    assert await storage.resolve_report(UNKNOWN_ID, NOW + 4) is False
    assert await storage.reports(open_only=True, limit=10) == [about_post]
    everything = await storage.reports(open_only=False, limit=10)
    assert [r.id for r in everything] == [about_user.id, about_post.id]
    assert everything[0].resolved_ms == NOW + 3
