"""Posts stored before SQLite's migration 0013 get their reply, repost and quote counts from it,
and keep them in step afterwards. (The MongoDB adapter counts on read: nothing to migrate.)"""

from __future__ import annotations

from pathlib import Path

from server.store.sqlite import SqliteStorage
from tests.contract.storage_helpers import NOW
from tests.support.old_schema import sqlite_before_share_counts


def _id(n: int) -> str:
    return f"01JD0M7Q5W3K4T9V2X8Y6Z{n:04d}"


async def test_migration_counts_the_posts_stored_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    original, other = _id(1), _id(2)
    author = sqlite_before_share_counts(
        path,
        [
            (original, None, None, None, False),
            (other, None, None, None, False),
            (_id(3), original, None, None, False),
            (_id(4), original, None, None, True),  # a deleted reply does not count
            (_id(5), None, original, None, False),
            (_id(6), None, original, None, False),
            (_id(7), original, None, other, False),  # replies to one post, quotes another
            (_id(8), _id(3), None, None, False),
        ],
    )
    storage = await SqliteStorage.open(path)
    try:
        counts = await storage.share_counts([original, other, _id(3), _id(5)])
        assert counts == {original: (2, 2, 0), other: (0, 0, 1), _id(3): (1, 0, 0)}
        reply = await storage.create_post(
            author_id=author, text="new", emotext=None, reply_to=original, now_ms=NOW
        )
        await storage.delete_post(_id(7))
        counts = await storage.share_counts([original, other])
        assert counts == {original: (2, 2, 0)}
        await storage.delete_post(reply.id)
        assert await storage.delete_post(reply.id) is None
        assert (await storage.share_counts([original]))[original] == (1, 2, 0)  # deleted once only
    finally:
        await storage.close()
