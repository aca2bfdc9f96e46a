"""The hashtag index of posts (``PostStorage.tag_timeline``), on every adapter, and its making
for posts stored before it: SQLite's migration 0012 and the MongoDB adapter's open at schema 10
(:meth:`server.store.mongo.database.Database._tag_posts`)."""

from __future__ import annotations

from pathlib import Path

from pymongo import AsyncMongoClient

from server.store.base import Storage, UserRecord
from server.store.mongo.database import SCHEMA_VERSION
from server.store.sqlite import SqliteStorage
from tests.contract.storage_helpers import NOW, join, make_community, make_user, make_users, say
from tests.support.mongo import MongoBackend, storage_class
from tests.support.old_schema import sqlite_before_tags


async def tagged(storage: Storage, tag: str, viewer: UserRecord, before: str | None = None) -> list[str]:
    found = await storage.tag_timeline(tag, viewer_id=viewer.id, before=before, limit=1000)
    return [p.id for p in found]


async def test_a_tags_standing_posts_newest_first_matched_in_normalised_form(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    first = await say(storage, alice, "#炊き出し 青葉区役所前で", NOW + 1)
    second = await say(storage, bob, "公民館でも＃炊き出し", NOW + 2, reply_to=first)
    await say(storage, bob, "炊き出しは終わりました", NOW + 3)  # the word, not the hashtag
    await say(storage, bob, "#炊き出しの様子", NOW + 4)  # another tag: 炊き出しの様子
    quote = await say(storage, alice, "#ＪＲ 運転再開 #jr", NOW + 5, quote_of=first)
    await say(storage, bob, "", NOW + 6, repost_of=first)  # a repost has no text of its own
    gone = await say(storage, bob, "#炊き出し 間違い", NOW + 7)
    await storage.delete_post(gone.id)
    assert await tagged(storage, "炊き出し", alice) == [second.id, first.id]
    assert await tagged(storage, "jr", bob) == [quote.id]  # once, however often it is written
    assert await tagged(storage, "ＪＲ", bob) == []  # the port takes the normalised form
    assert await tagged(storage, "炊き出しの様子", alice) != []
    page = await storage.tag_timeline("炊き出し", viewer_id=alice.id, before=None, limit=1)
    assert page == [second]  # the whole record


async def test_a_tags_posts_page_by_before(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    posts = [await say(storage, alice, f"#地震 {n}", NOW + n) for n in range(5)]
    newest_first = [p.id for p in reversed(posts)]
    assert await tagged(storage, "地震", alice, before=newest_first[1]) == newest_first[2:]
    found = await storage.tag_timeline("地震", viewer_id=alice.id, before=newest_first[0], limit=2)
    assert [p.id for p in found] == newest_first[1:3]


async def test_closed_communities_tags_show_to_their_members_only(storage: Storage) -> None:
    owner, member, outsider = await make_users(storage, "owner", "member", "outsider")
    closed = await make_community(storage, owner, "Closed", approval_required=True)
    opened = await make_community(storage, owner, "Open")
    await join(storage, closed, member)
    outside = await say(storage, owner, "#給水 outside", NOW + 1)
    secret = await say(storage, owner, "#給水 members only", NOW + 2, community=closed)
    public = await say(storage, owner, "#給水 open", NOW + 3, community=opened)
    announced = await say(storage, owner, "#給水 announced", NOW + 4, community=opened, announcement=True)
    assert await tagged(storage, "給水", outsider) == [announced.id, public.id, outside.id]
    assert await tagged(storage, "給水", member) == [announced.id, public.id, secret.id, outside.id]
    assert await storage.remove_member(closed.id, member.id) is True  # membership as it is now
    assert await tagged(storage, "給水", member) == [announced.id, public.id, outside.id]


async def test_sqlite_migration_indexes_the_posts_stored_before(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    alice_id, (old, _plain) = sqlite_before_tags(path, ["#炊き出し 12時から https://e.jp/#frag", "no tags"])
    storage = await SqliteStorage.open(path)
    try:
        alice = await storage.get_user(alice_id)
        assert alice is not None
        assert await tagged(storage, "炊き出し", alice) == [old]
        assert await tagged(storage, "frag", alice) == []  # a "#" inside a link is the link's
        new = await say(storage, alice, "#炊き出し 13時から", NOW + 3)
        assert await tagged(storage, "炊き出し", alice) == [new.id, old]
    finally:
        await storage.close()


async def test_mongo_open_tags_the_posts_stored_before(
    mongo_backend: MongoBackend, mongo_database: str
) -> None:
    adapter = storage_class(mongo_backend)
    storage = await adapter.open(mongo_backend.url, database=mongo_database)
    try:
        alice = await make_user(storage, "alice")
        old = await say(storage, alice, "#炊き出し 12時から", NOW + 1)
        plain = await say(storage, alice, "no tags", NOW + 2)
    finally:
        await storage.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_backend.url)
    try:  # as schema 9 left it: posts without tags
        db = client[mongo_database]
        await db["posts"].update_many({}, {"$unset": {"tags": ""}})
        await db["meta"].update_one({"_id": "schema"}, {"$set": {"version": 9}})
        storage = await adapter.open(mongo_backend.url, database=mongo_database)
        try:
            assert await tagged(storage, "炊き出し", alice) == [old.id]
            doc = await db["posts"].find_one({"_id": plain.id})
            assert doc is not None and doc["tags"] == []
            meta = await db["meta"].find_one({"_id": "schema"})
            assert meta is not None and meta["version"] == SCHEMA_VERSION
        finally:
            await storage.close()
    finally:
        await client.close()
