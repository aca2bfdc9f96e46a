"""The Storage contract of the notifications area (:class:`server.store.base.NotificationStorage`):
notifications stored unread in order, their pages and stream, marking them read; and announcements
(``PostStorage.create_announcement``): one stored notification that every member of the community
reads. Instead of a notification row per member, the post and one community notification are
written together; each member's notifications (the page, the stream, the unread count) include it
while they are a member, if they joined before it and did not make it, and each member's read state
for it is their own.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import pytest

from server.store.base import (
    NewNotification,
    NotFound,
    Storage,
)
from tests.contract.storage_helpers import (
    NOW,
    SMALLEST_ID,
    UNKNOWN_ID,
    announce,
    announced,
    join,
    make_community,
    make_users,
    say,
)


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


async def test_an_announcement_notifies_the_members_who_joined_before_it(storage: Storage) -> None:
    owner, ann, ben, outsider, late = await make_users(storage, "owner", "ann", "ben", "outsider", "late")
    city = await make_community(storage, owner, "Sendai")
    await join(storage, city, ann, ben)
    post = await announce(storage, owner, "避難所は小学校です", NOW + 1, city)
    await join(storage, city, late, now_ms=NOW + 2)

    for member in (ann, ben):
        assert await storage.notifications(member.id, before=None, limit=10) == [announced(post, member)]
        assert await storage.notifications_after(member.id, after=SMALLEST_ID, limit=10) == [
            announced(post, member)
        ]
        assert await storage.unread_notifications(member.id) == 1
    # Not its author, not someone outside, not a member who joined after it.
    for other in (owner, outsider, late):
        assert await storage.notifications(other.id, before=None, limit=10) == []
        assert await storage.notifications_after(other.id, after=SMALLEST_ID, limit=10) == []
        assert await storage.unread_notifications(other.id) == 0


async def test_ordinary_community_posts_notify_nobody(storage: Storage) -> None:
    owner, ann = await make_users(storage, "owner", "ann")
    city = await make_community(storage, owner, "Sendai")
    await join(storage, city, ann)
    await say(storage, owner, "こんにちは", NOW + 1, community=city)
    assert await storage.notifications(ann.id, before=None, limit=10) == []
    assert await storage.unread_notifications(ann.id) == 0


async def test_announcements_and_own_notifications_make_one_stream_in_order(storage: Storage) -> None:
    owner, me, friend = await make_users(storage, "owner", "me", "friend")
    city, town = (
        await make_community(storage, owner, "Sendai"),
        await make_community(storage, owner, "Ishinomaki"),
    )
    await join(storage, city, me)
    await join(storage, town, me)
    ids: list[str] = []
    for n in range(3):
        [own] = await storage.add_notifications(
            [NewNotification(me.id, "follow", actor_id=friend.id)], NOW + 10 * n
        )
        ids.append(own.id)
        for place in (city, town):
            made = await announce(storage, owner, f"お知らせ {n}", NOW + 10 * n + 1, place)
            ids.append(made.notification_id)
    assert ids == sorted(ids)

    assert [r.id for r in await storage.notifications(me.id, before=None, limit=4)] == ids[:-5:-1]
    assert [r.id for r in await storage.notifications(me.id, before=ids[4], limit=10)] == ids[3::-1]
    assert [r.id for r in await storage.notifications_after(me.id, after=SMALLEST_ID, limit=4)] == ids[:4]
    assert [r.id for r in await storage.notifications_after(me.id, after=ids[4], limit=10)] == ids[5:]
    assert await storage.notifications_after(me.id, after=ids[-1], limit=10) == []
    assert [r.kind for r in await storage.notifications_after(me.id, after=SMALLEST_ID, limit=3)] == [
        "follow",
        "announcement",
        "announcement",
    ]
    assert await storage.unread_notifications(me.id) == 9


async def test_each_member_reads_an_announcement_for_themselves(storage: Storage) -> None:
    owner, ann, ben, outsider = await make_users(storage, "owner", "ann", "ben", "outsider")
    city = await make_community(storage, owner, "Sendai")
    await join(storage, city, ann, ben)
    first = await announce(storage, owner, "一つ目", NOW + 1, city)
    second = await announce(storage, owner, "二つ目", NOW + 2, city)

    assert await storage.mark_notification_read(ann.id, first.notification_id) is True
    assert await storage.mark_notification_read(ann.id, first.notification_id) is False  # once
    assert await storage.notifications(ann.id, before=None, limit=10) == [
        announced(second, ann),
        announced(first, ann, read=True),
    ]
    assert await storage.unread_notifications(ann.id) == 1
    assert await storage.unread_notifications(ben.id) == 2  # ben's are his own
    # Nobody reads what they were not notified of.
    assert await storage.mark_notification_read(outsider.id, first.notification_id) is False
    assert await storage.mark_notification_read(owner.id, first.notification_id) is False
    assert await storage.mark_notification_read(ann.id, UNKNOWN_ID) is False
    assert await storage.mark_notification_read(ben.id, first.post.id) is False  # a post, not it

    assert await storage.mark_all_notifications_read(ben.id) == 2
    assert await storage.mark_all_notifications_read(ben.id) == 0
    assert await storage.unread_notifications(ben.id) == 0
    assert all(r.read for r in await storage.notifications_after(ben.id, after=SMALLEST_ID, limit=10))
    # Read already, by "all".
    assert await storage.mark_notification_read(ben.id, first.notification_id) is False
    # A later announcement is unread again, for everyone.
    third = await announce(storage, owner, "三つ目", NOW + 3, city)
    assert await storage.notifications(ben.id, before=None, limit=1) == [announced(third, ben)]
    assert (await storage.unread_notifications(ann.id), await storage.unread_notifications(ben.id)) == (2, 1)
    assert await storage.mark_all_notifications_read(ann.id) == 2


async def test_marking_all_read_counts_own_notifications_and_announcements(storage: Storage) -> None:
    owner, me = await make_users(storage, "owner", "me")
    city = await make_community(storage, owner, "Sendai")
    await join(storage, city, me)
    await storage.add_notifications([NewNotification(me.id, "follow", actor_id=owner.id)], NOW)
    await announce(storage, owner, "お知らせ", NOW + 1, city)
    assert await storage.unread_notifications(me.id) == 2
    assert await storage.mark_all_notifications_read(me.id) == 2
    assert await storage.unread_notifications(me.id) == 0


async def test_leaving_takes_a_communitys_announcements_away(storage: Storage) -> None:
    owner, me = await make_users(storage, "owner", "me")
    city = await make_community(storage, owner, "Sendai")
    await join(storage, city, me)
    await announce(storage, owner, "お知らせ", NOW + 1, city)
    assert await storage.remove_member(city.id, me.id) is True
    assert await storage.notifications(me.id, before=None, limit=10) == []
    assert await storage.unread_notifications(me.id) == 0
    # Back again: what was announced while away, or before, stays out; what comes next is in.
    await join(storage, city, me, now_ms=NOW + 2)
    assert await storage.notifications(me.id, before=None, limit=10) == []
    later = await announce(storage, owner, "また", NOW + 3, city)
    assert await storage.notifications(me.id, before=None, limit=10) == [announced(later, me)]


async def test_announcing_in_no_community_writes_nothing(storage: Storage) -> None:
    owner = (await make_users(storage, "owner"))[0]
    with pytest.raises(NotFound):
        await storage.create_announcement(
            author_id=owner.id, community_id=UNKNOWN_ID, text="誰に", emotext=None, now_ms=NOW
        )
    assert await storage.posts_by_author_after(owner.id, after=SMALLEST_ID, limit=10) == []
