"""The Storage contract of the conversations area (:class:`server.store.base.ConversationStorage`):
direct conversations (one per pair, under concurrency and across processes) and groups, messages
and membership changes, the direct stream, read markers and unread counts, and clients' nonces for
messages (one message per (conversation, author) and nonce).

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio

import pytest

from server.store.base import (
    MessageRecord,
    NonceTaken,
    NotFound,
    Storage,
)
from tests.contract.storage_helpers import (
    NOW,
    SMALLEST_ID,
    UNKNOWN_ID,
    direct_conversation,
    make_user,
    make_users,
    open_direct,
    open_group,
    send_with_nonce,
    text,
)


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


async def test_a_message_nonce_is_taken_once_per_author_and_conversation(storage: Storage) -> None:
    alice, bob, carol = [await make_user(storage, h) for h in ("alice", "bob", "carol")]
    with_bob, with_carol = (
        await direct_conversation(storage, alice, bob),
        await direct_conversation(storage, alice, carol),
    )
    first = await send_with_nonce(storage, with_bob, alice, "やあ", "m-1")
    assert await storage.message_by_nonce(with_bob.id, alice.id, "m-1") == first
    with pytest.raises(NonceTaken):
        await send_with_nonce(storage, with_bob, alice, "やあ", "m-1")
    # Nothing was written: no second message, and the last one is still the first.
    assert [m.id for m in await storage.messages(with_bob.id, before=None, limit=10) if m.kind == "text"] == [
        first.id
    ]
    updated = await storage.get_conversation(with_bob.id)
    assert updated is not None and updated.last_message_id == first.id
    # The other member, and another conversation, have nonces of their own.
    assert (await send_with_nonce(storage, with_bob, bob, "やあ", "m-1")).id != first.id
    assert (await send_with_nonce(storage, with_carol, alice, "やあ", "m-1")).id != first.id
    assert await storage.message_by_nonce(with_carol.id, bob.id, "m-1") is None
    # Messages without a nonce never collide.
    plain = {(await send_with_nonce(storage, with_bob, alice, "同じ", None)).id for _ in range(2)}
    assert len(plain) == 2


async def test_concurrent_messages_with_one_nonce_store_one(
    storage: Storage, second_storage: Storage
) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    record = await direct_conversation(storage, alice, bob)
    stores = (storage, second_storage) * 4
    outcomes = await asyncio.gather(
        *(send_with_nonce(store, record, alice, "once", "race") for store in stores), return_exceptions=True
    )
    stored = [o for o in outcomes if isinstance(o, MessageRecord)]
    assert len(stored) == 1
    assert all(isinstance(o, NonceTaken) for o in outcomes if not isinstance(o, MessageRecord))
    texts = [m for m in await storage.messages(record.id, before=None, limit=10) if m.kind == "text"]
    assert texts == stored
    updated = await storage.get_conversation(record.id)
    assert updated is not None and updated.last_message_id == stored[0].id
