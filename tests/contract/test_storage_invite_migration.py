"""Invite codes stored in the clear by earlier versions are hashed when the adapter opens the
database, and keep working: SQLite's migration 0009 and the MongoDB adapter's open
(:meth:`server.store.mongo.database.Database._hash_invite_codes`). Each adapter's old layout is
made here as the earlier version wrote it, then opened by this version's adapter."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from server.store.base import InviteNotFound, InviteUsed, token_hash
from server.store.mongo.database import SCHEMA_VERSION, invite_key
from server.store.sqlite import SqliteStorage
from tests.contract.storage_helpers import NOW, WEEK, new_user
from tests.support.mongo import MongoBackend, storage_class
from tests.support.old_schema import sqlite_with_plain_invites

OLD_CODES = ("J4nR8vPq2sXw6tYk0mLd3g", "Zq-_x9Lm3VbN7cR2tYk8Aw")


async def test_sqlite_migration_hashes_plain_codes_and_they_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite_with_plain_invites(path, list(OLD_CODES), created_ms=NOW, expires_ms=NOW + WEEK)
    storage = await SqliteStorage.open(path)
    try:
        first = await storage.get_invite(OLD_CODES[0])
        assert first is not None and first.code_hash == token_hash(OLD_CODES[0])
        assert (first.code_prefix, first.grants_operator, first.created_ms) == ("J4nR", True, NOW)
        root = await storage.create_user(new_user("root"), invite_code=OLD_CODES[0], now_ms=NOW + 2)
        assert root.operator  # what the invite granted survived the migration
        with pytest.raises(InviteUsed):
            await storage.create_user(new_user("again"), invite_code=OLD_CODES[0], now_ms=NOW + 3)
        assert await storage.get_invite("J4nR") is None  # the prefix left in the clear finds nothing
        with pytest.raises(InviteNotFound):
            await storage.create_user(new_user("prefix"), invite_code="J4nR", now_ms=NOW + 3)
        assert await storage.get_invite(OLD_CODES[1]) is not None
    finally:
        await storage.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 9
        columns = [row[1] for row in db.execute("PRAGMA table_info(invites)")]
        assert "code" not in columns and "code_hash" in columns
    # secure_delete during the migration zeroed the old table's pages: no copy of a code is left.
    for file in tmp_path.iterdir():
        data = file.read_bytes()
        assert not any(code.encode() in data for code in OLD_CODES), file.name


async def test_mongo_open_hashes_plain_codes_and_they_keep_working(
    mongo_backend: MongoBackend, mongo_database: str
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_backend.url)
    try:
        db = client[mongo_database]
        await db["meta"].insert_one({"_id": "schema", "version": 6})
        for n, code in enumerate(OLD_CODES):  # as schema 6 wrote them: the code is the _id
            await db["invites"].insert_one(
                {
                    "_id": code,
                    "inviter_id": None,
                    "created_ms": NOW + n,
                    "expires_ms": NOW + WEEK,
                    "used_by": None,
                    "used_ms": None,
                    "grants_operator": n == 0,
                    "seq": f"0{n}",
                }
            )
        adapter = storage_class(mongo_backend)
        for _ in range(2):  # a second open finds nothing left to do
            storage = await adapter.open(mongo_backend.url, database=mongo_database)
            try:
                first = await storage.get_invite(OLD_CODES[0])
                assert first is not None and first.code_hash == token_hash(OLD_CODES[0])
                assert (first.code_prefix, first.grants_operator) == ("J4nR", True)
            finally:
                await storage.close()
            ids = sorted([doc["_id"] async for doc in db["invites"].find({})])  # type: ignore[type-var]
            assert ids == sorted(invite_key(code) for code in OLD_CODES)
        storage = await adapter.open(mongo_backend.url, database=mongo_database)
        try:
            root = await storage.create_user(new_user("root"), invite_code=OLD_CODES[0], now_ms=NOW + 2)
            assert root.operator
            with pytest.raises(InviteUsed):
                await storage.create_user(new_user("again"), invite_code=OLD_CODES[0], now_ms=NOW + 3)
        finally:
            await storage.close()
        meta = await db["meta"].find_one({"_id": "schema"})
        assert meta is not None and meta["version"] == SCHEMA_VERSION
    finally:
        await client.close()
