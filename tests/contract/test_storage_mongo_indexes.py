"""The MongoDB adapter creates every index it declares (server/store/mongo/database.py INDEXES).

The contract suite opens the adapter on the nx-27017 stand-in without the indexes that only
order reads (tests/support/mongo.py ``StandInStorage``); this test opens the real
:class:`MongoStorage`, with all of them, so that seam cannot hide an index the adapter fails to
create, or one that refuses the adapter's writes, on a real server. On the stand-in it is
expected to fail (NX_ID_INDEX), and passes against ``TSUDOI_TEST_MONGODB_URL``.
"""

from __future__ import annotations

from pymongo import AsyncMongoClient

from server.store.mongo import MongoStorage
from server.store.mongo.database import INDEXES
from tests.contract.storage_helpers import NOW, NX_ID_INDEX, make_user
from tests.support.mongo import MongoBackend


@NX_ID_INDEX
async def test_open_creates_every_declared_index_mongo(
    mongo_backend: MongoBackend, mongo_database: str
) -> None:
    storage = await MongoStorage.open(mongo_backend.url, database=mongo_database)
    try:
        # Writes into collections with a (field, _id) index: a post and its timeline read.
        author = await make_user(storage, "author")
        made = await storage.create_post(
            author_id=author.id, text="hi", emotext=None, reply_to=None, now_ms=NOW
        )
        page = await storage.user_timeline(author.id, viewer_id=author.id, before=None, limit=10)
        assert [p.id for p in page] == [made.id]
    finally:
        await storage.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_backend.url)
    try:
        db = client[mongo_database]
        for collection, models in INDEXES.items():
            present = {index["name"]: index async for index in await db[collection].list_indexes()}
            for model in models:
                declared = model.document
                assert declared["name"] in present, f"{collection}.{declared['name']} was not created"
                index = present[declared["name"]]
                assert list(index["key"].items()) == list(declared["key"].items()), (collection, index)
                assert bool(index.get("unique")) == bool(declared.get("unique")), (collection, index)
    finally:
        await client.close()
