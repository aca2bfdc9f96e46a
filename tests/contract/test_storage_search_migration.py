"""Posts and people stored before search existed are found once the adapter opens the database:
SQLite's migration 0011 backfills its search tables (the old database is built at schema 10 by
tests/support/old_schema.py), the MongoDB adapter's open gives older documents their search
fields (:func:`server.store.mongo.search.index_old_documents`; its old layout is made from a
current one by taking away what search added)."""

from __future__ import annotations

from pathlib import Path

from pymongo import AsyncMongoClient

from server.store.base import Storage
from server.store.sqlite import SqliteStorage
from tests.contract.storage_helpers import NOW, make_user, say
from tests.support.mongo import MongoBackend, storage_class
from tests.support.old_schema import sqlite_before_search


async def stored_before(storage: Storage) -> tuple[str, list[str]]:
    """A user named 避難 太郎 and three posts, one deleted; the user's id and the posts' ids."""
    author = await make_user(storage, "hinan")
    await storage.update_profile(author.id, display_name="避難 太郎")
    posts = [
        await say(storage, author, text, NOW + n)
        for n, text in enumerate(("炊き出し 一", "炊き出し 二", "雨"))
    ]
    await storage.delete_post(posts[1].id)
    return author.id, [p.id for p in posts]


async def found_after(storage: Storage, author_id: str, post_ids: list[str]) -> None:
    page = await storage.search_posts(
        "炊き出し", viewer_id=author_id, hidden=(), before=None, limit=9, scan=99
    )
    assert [p.id for p in page.posts] == [post_ids[0]]
    page = await storage.search_posts("雨", viewer_id=author_id, hidden=(), before=None, limit=9, scan=99)
    assert [p.id for p in page.posts] == [post_ids[2]]
    assert [u.id for u in await storage.search_users("避難", hidden=(), offset=0, limit=9)] == [author_id]
    # New posts are found beside the backfilled ones, newest first.
    new = await say(storage, (await storage.get_users([author_id]))[author_id], "炊き出し 三", NOW + 9)
    page = await storage.search_posts(
        "炊き出し", viewer_id=author_id, hidden=(), before=None, limit=9, scan=99
    )
    assert [p.id for p in page.posts] == [new.id, post_ids[0]]


async def test_sqlite_migration_0011_backfills_posts_and_names(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    author_id, post_ids = sqlite_before_search(path)
    storage = await SqliteStorage.open(path)
    try:
        await found_after(storage, author_id, post_ids)
    finally:
        await storage.close()


async def test_mongo_open_gives_older_documents_their_search_fields(
    mongo_backend: MongoBackend, mongo_database: str
) -> None:
    adapter = storage_class(mongo_backend)
    storage = await adapter.open(mongo_backend.url, database=mongo_database)
    try:
        author_id, post_ids = await stored_before(storage)
    finally:
        await storage.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_backend.url)
    try:  # as schema 8 wrote them: no search fields
        db = client[mongo_database]
        await db["posts"].update_many({}, {"$unset": {"search_text": "", "search_grams": ""}})
        await db["users"].update_many({}, {"$unset": {"name_key": ""}})
        assert await db["posts"].count_documents({"search_text": {"$exists": True}}) == 0
    finally:
        await client.close()
    storage = await adapter.open(mongo_backend.url, database=mongo_database)
    try:
        await found_after(storage, author_id, post_ids)
    finally:
        await storage.close()
