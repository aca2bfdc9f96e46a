"""The Storage contract for clients' nonces (server/store/base.py ``create_post``,
``post_by_nonce``, ``add_message``, ``message_by_nonce``): the idempotency keys of
``post.create`` and ``dm.send``.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py). A nonce names
one post per author, and one message per (conversation, author); a taken one writes nothing and
raises NonceTaken, decided by the database, so concurrent calls, from one process or two, store
one item.
"""

from __future__ import annotations

import asyncio

import pytest

from server.store.base import ConversationRecord, MessageRecord, NonceTaken, PostRecord, Storage, UserRecord
from tests.contract.test_storage import NOW, make_user


async def say(
    storage: Storage, author: UserRecord, text: str, nonce: str | None, now_ms: int = NOW
) -> PostRecord:
    return await storage.create_post(
        author_id=author.id, text=text, emotext=None, reply_to=None, now_ms=now_ms, nonce=nonce
    )


async def send(
    storage: Storage, conversation: ConversationRecord, author: UserRecord, text: str, nonce: str | None
) -> MessageRecord:
    return await storage.add_message(
        conversation.id,
        author_id=author.id,
        kind="text",
        text=text,
        subject_id=None,
        now_ms=NOW + 1,
        nonce=nonce,
    )


async def direct(storage: Storage, one: UserRecord, other: UserRecord) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="direct", owner_id=one.id, member_ids=[one.id, other.id], title=None, now_ms=NOW
    )
    return record


async def test_a_post_nonce_is_taken_once_per_author(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    first = await say(storage, alice, "地震だ", "n-1")
    assert await storage.post_by_nonce(alice.id, "n-1") == first
    with pytest.raises(NonceTaken):
        await say(storage, alice, "地震だ", "n-1", NOW + 1)
    # Nothing was written by the refused call.
    assert [p.id for p in await storage.following_timeline(alice.id, before=None, limit=10)] == [first.id]
    # Another author's nonce, and the author's other nonces, are their own.
    other = await say(storage, bob, "地震だ", "n-1", NOW + 2)
    assert other.id != first.id and await storage.post_by_nonce(bob.id, "n-1") == other
    assert (await say(storage, alice, "二つ目", "n-2", NOW + 3)).id != first.id
    assert await storage.post_by_nonce(alice.id, "n-3") is None


async def test_posts_without_a_nonce_never_collide(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    ids = {(await say(storage, alice, "同じ", None, NOW + n)).id for n in range(3)}
    assert len(ids) == 3


async def test_a_deleted_post_keeps_its_nonce(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first = await say(storage, alice, "消す", "gone")
    assert await storage.delete_post(first.id) is not None
    found = await storage.post_by_nonce(alice.id, "gone")
    assert found is not None and found.id == first.id and found.deleted_pos is not None
    with pytest.raises(NonceTaken):
        await say(storage, alice, "消す", "gone", NOW + 1)


async def test_concurrent_posts_with_one_nonce_store_one(storage: Storage, second_storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    stores = (storage, second_storage) * 4
    outcomes = await asyncio.gather(
        *(say(store, alice, "once", "race", NOW + 1) for store in stores), return_exceptions=True
    )
    stored = [o for o in outcomes if isinstance(o, PostRecord)]
    assert len(stored) == 1
    assert all(isinstance(o, NonceTaken) for o in outcomes if not isinstance(o, PostRecord))
    assert await storage.post_by_nonce(alice.id, "race") == stored[0]
    assert [p.id for p in await storage.following_timeline(alice.id, before=None, limit=10)] == [stored[0].id]


async def test_a_message_nonce_is_taken_once_per_author_and_conversation(storage: Storage) -> None:
    alice, bob, carol = [await make_user(storage, h) for h in ("alice", "bob", "carol")]
    with_bob, with_carol = await direct(storage, alice, bob), await direct(storage, alice, carol)
    first = await send(storage, with_bob, alice, "やあ", "m-1")
    assert await storage.message_by_nonce(with_bob.id, alice.id, "m-1") == first
    with pytest.raises(NonceTaken):
        await send(storage, with_bob, alice, "やあ", "m-1")
    # Nothing was written: no second message, and the last one is still the first.
    assert [m.id for m in await storage.messages(with_bob.id, before=None, limit=10) if m.kind == "text"] == [
        first.id
    ]
    updated = await storage.get_conversation(with_bob.id)
    assert updated is not None and updated.last_message_id == first.id
    # The other member, and another conversation, have nonces of their own.
    assert (await send(storage, with_bob, bob, "やあ", "m-1")).id != first.id
    assert (await send(storage, with_carol, alice, "やあ", "m-1")).id != first.id
    assert await storage.message_by_nonce(with_carol.id, bob.id, "m-1") is None
    # Messages without a nonce never collide.
    plain = {(await send(storage, with_bob, alice, "同じ", None)).id for _ in range(2)}
    assert len(plain) == 2


async def test_concurrent_messages_with_one_nonce_store_one(
    storage: Storage, second_storage: Storage
) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    record = await direct(storage, alice, bob)
    stores = (storage, second_storage) * 4
    outcomes = await asyncio.gather(
        *(send(store, record, alice, "once", "race") for store in stores), return_exceptions=True
    )
    stored = [o for o in outcomes if isinstance(o, MessageRecord)]
    assert len(stored) == 1
    assert all(isinstance(o, NonceTaken) for o in outcomes if not isinstance(o, MessageRecord))
    texts = [m for m in await storage.messages(record.id, before=None, limit=10) if m.kind == "text"]
    assert texts == stored
    updated = await storage.get_conversation(record.id)
    assert updated is not None and updated.last_message_id == stored[0].id
