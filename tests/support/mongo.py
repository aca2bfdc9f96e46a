"""A MongoDB server for the tests: the one named by TSUDOI_TEST_MONGODB_URL, or nx-27017.

No genuine ``mongod`` is installable everywhere the tests run, so by default they start
nx-27017 (a MongoDB wire-protocol server over SQLite, installed with the test extras) in memory
on a free loopback port. Set ``TSUDOI_TEST_MONGODB_URL`` to run the same tests against a real
server instead; each test then works in a database of its own, dropped afterwards.

nx-27017 is a stand-in and diverges from MongoDB in places; tests that meet a divergence are
marked ``nx27017_diverges`` and expected to fail on it only (see tests/contract/conftest.py).
On it the tests open :class:`StandInStorage`: the adapter without the indexes that only order
reads, which changes speed, never results (see its docstring; unique indexes stay, they carry
meaning). Where MongoDB documents two equivalent spellings and the stand-in gets one right, the
adapter uses that one: ``{field: {"$eq": None}}`` for ``{field: None}`` (server/store/mongo/
driver.py ``NULL``), an explicit ``$and`` around an ``$or`` in a findAndModify filter, an
``$or`` whose branches are whole conditions. (An upsert with ``$setOnInsert`` stays one atomic
findAndModify, as MongoDB documents it: the webhook cases meet NX_SET_ON_INSERT.) Each divergence, reproduced with plain pymongo on nx-27017 0.8.1 (``c`` an
AsyncMongoClient on it, a fresh database each time); the contract suite still meets those
named by NX_BINARY, NX_ARRAY, NX_SET_ON_INSERT, NX_GROUP_KEY and NX_BOOL_SET (declared in
tests/contract/storage_helpers.py), and NX_ID_INDEX in test_storage_mongo_indexes.py::

    await db.posts.create_index([("author_id", 1), ("_id", 1)])
    await db.posts.insert_one({"_id": "p1", "author_id": "a"})
    # WriteError "JSON path error near '_id'" (creating it on a populated collection fails alike)

    await db.posts.insert_many([{"_id": "p1", "deleted_pos": None}, {"_id": "p2", "deleted_pos": None}])
    await db.posts.find({"deleted_pos": None, "_id": {"$gt": "p1"}}).to_list()  # [], not [p2]
    await db.posts.count_documents({"deleted_pos": None})  # 0, not 2 (find alone gets both)

    await db.sessions.insert_one({"_id": "s1", "token_hash": b"\x01" * 32})
    await db.sessions.find_one({"token_hash": b"\x01" * 32})  # None (count_documents says 1)

    await db.q.insert_one({"_id": "q", "open": []})
    await db.q.update_one({"_id": "q", "open.1": {"$exists": False}}, {"$push": {"open": {"c": 1}}})
    # matches however long "open" is, and stores the pushed subdocument as the string '{"c":1}'

    await db.posts.insert_many([{"_id": "p1", "community_id": None}, {"_id": "p2", "community_id": "c"}])
    await db.posts.find({"$or": [{"community_id": None}, {"community_id": "c"}]}).to_list()
    # [p2], not [p1, p2]: in a find's $or, {field: None} matches a missing field but not a null
    # (update_one and update_many get the same filter right)

    await db.m.insert_many([{"_id": "m1", "c": "A", "kind": "new"}, {"_id": "m2", "c": "B", "kind": "text"}])
    await (await db.m.aggregate([{"$match": {"$or": [{"c": "A"}, {"c": "B"}], "kind": "text"}}])).to_list()
    # [m1, m2], not [m2]: beside $or, "kind" binds to its last branch only (find gets it right)

    await db.r.insert_many([{"_id": 1, "post": "p", "emoji": "a"}, {"_id": 2, "post": "p", "emoji": "b"}])
    await (await db.r.aggregate([{"$group": {"_id": {"post": "$post", "emoji": "$emoji"}}}])).to_list()
    # [{"_id": {"post": "$post", "emoji": "$emoji"}}], one group: the paths are not evaluated

    await db.posts.insert_one({"_id": "p1", "community_id": "c1"})
    await db.communities.insert_one({"_id": "c1", "approval_required": False})
    await (await db.posts.aggregate([{"$lookup": {"from": "communities", "localField": "community_id",
                                                  "foreignField": "_id", "as": "community"}}])).to_list()
    # "community" is the string '[{"_id":"c1","approval_required":false}]', not an array, so a
    # following {"$match": {"community.approval_required": False}} matches nothing

    await db.users.insert_one({"_id": "u1", "verified": False})
    await db.users.update_one({"_id": "u1"}, {"$set": {"verified": True}})
    await db.users.find_one({"_id": "u1"})  # {"_id": "u1", "verified": 1}: $set stores 1, not True

    await db.w.find_one_and_update({"_id": "a"}, {"$set": {"url": "u"}, "$setOnInsert": {"n": 1}},
                                   upsert=True, return_document=ReturnDocument.AFTER)
    # {"_id": "a", "url": "u"}: a findAndModify upsert leaves $setOnInsert out (update_one's
    # upsert applies it)

    await db.w.insert_many([{"_id": "a", "owner": "x"}, {"_id": "b", "owner": None}])
    await db.w.find_one_and_update({"_id": "a", "$or": [{"owner": "o"}, {"owner": {"$eq": None}}]},
                                   {"$set": {"owner": "o"}})
    # updates b, where nothing matches: in findAndModify, "_id" binds to the $or's first branch
    # only ({"$and": [{"_id": "a"}, {"$or": [...]}]} gets it right)

Seen while writing the GridFS blob adapter (server/blobs/gridfs.py), which needs none of these
spellings, so the Blob contract (tests/contract/test_blobs.py) meets none of them::

    await db.r.insert_one({"_id": "d", "owners": ["a"]})
    await db.r.find({"owners": {"$ne": "a"}}).to_list()  # [d], not []: $ne ignores array elements

    await db["b.files"].insert_one({"_id": 1, "filename": "x", "uploadDate": datetime.now(UTC)})
    await db["b.files"].count_documents({})  # OperationFailure "no such column: data"
    await db["b.files"].find({}, {"_id": 1}).to_list()
    # every field, GridFS defaults added, and uploadDate as an ISO string, not a datetime: a
    # collection named *.files is kept as a GridFS files table
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from pymongo import AsyncMongoClient, IndexModel, MongoClient
from pymongo.errors import PyMongoError

from server.store.mongo import MongoStorage
from server.store.mongo.database import INDEXES, orders_only
from tests.support.server import free_port

URL_ENV = "TSUDOI_TEST_MONGODB_URL"


@dataclass(frozen=True)
class MongoBackend:
    """Where the mongo-parametrised tests connect, and whether it is the stand-in."""

    url: str
    stand_in: bool

    @staticmethod
    def new_database() -> str:
        return f"tsudoi_test_{uuid.uuid4().hex}"

    async def drop_database(self, name: str) -> None:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.url, serverSelectionTimeoutMS=5000
        )
        try:
            await client.drop_database(name)
        finally:
            await client.close()


class StandInStorage(MongoStorage):
    """The MongoDB adapter as the tests open it on nx-27017: without the indexes that only
    order reads (:func:`~server.store.mongo.database.orders_only`, the ``(field, _id)`` ones).

    nx-27017 cannot insert into a collection with a compound index that includes ``_id`` (the
    first divergence above), which would leave every test that writes a post, a message, a
    membership or a notification failing on it, and unable to catch a regression. An index
    that only orders reads changes how fast they are, never what they return, so leaving those
    out on the stand-in changes speed, never results. The unique indexes stay: they carry
    meaning (which of two concurrent writers wins). Against a real server
    (``TSUDOI_TEST_MONGODB_URL``) the tests open :class:`MongoStorage` itself, with every index,
    and ``test_open_creates_every_declared_index`` checks that it creates them all.
    """

    created_indexes: ClassVar[Mapping[str, list[IndexModel]]] = {
        name: [model for model in models if not orders_only(model)] for name, models in INDEXES.items()
    }


def storage_class(backend: MongoBackend) -> type[MongoStorage]:
    """The adapter to open on ``backend``: :class:`StandInStorage` on nx-27017, else the real one."""
    return StandInStorage if backend.stand_in else MongoStorage


def _executable() -> str:
    beside = Path(sys.executable).with_name("nx-27017")
    if beside.exists():
        return str(beside)
    found = shutil.which("nx-27017")
    if found is None:
        raise RuntimeError(f"nx-27017 is not installed (pip install nx-27017), and {URL_ENV} is not set")
    return found


class StandInProcess:
    """nx-27017 with an in-memory database on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.pid_path = folder / f"nx-27017-{self.port}.pid"
        self.log_path = folder / f"nx-27017-{self.port}.log"
        self.out_path = folder / f"nx-27017-{self.port}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 20) -> StandInProcess:
        command = [
            _executable(),
            "--db",
            "memory",
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--pid-file",
            str(self.pid_path),
            "--log-file",
            str(self.log_path),
        ]
        with self.out_path.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nx-27017 exited {self.proc.returncode}:\n{self.output()}")
            client: MongoClient[dict[str, object]] = MongoClient(
                self.url, serverSelectionTimeoutMS=250, connectTimeoutMS=250
            )
            try:
                client.admin.command("ping")
                return self
            except PyMongoError:
                time.sleep(0.05)
            finally:
                client.close()
        self.stop()
        raise RuntimeError(f"nx-27017 did not answer a ping within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.out_path, self.log_path) if p.exists()]
        return "\n".join(parts)


def configured_url() -> str | None:
    """The real server the tests should use instead of the stand-in, if any."""
    url = os.environ.get(URL_ENV)
    return _without_database(url) if url else None


def _without_database(url: str) -> str:
    """The URL without a database of its own, which would win over each test's fresh one.

    The database named in a URL is also where credentials are checked unless ``authSource``
    says otherwise; that is kept.
    """
    parts = urlsplit(url)
    name = parts.path.strip("/")
    if not name:
        return url
    options = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key.lower() == "authsource" for key, _ in options):
        options.append(("authSource", name))
    return parts._replace(path="/", query=urlencode(options)).geturl()


#: ``@pytest.mark.nx27017_diverges("what nx-27017 does differently")`` on a test expects it to
#: fail (strictly) when it runs on the nx-27017 stand-in, and only there: the same assertions
#: must pass on SQLite and on a real MongoDB (TSUDOI_TEST_MONGODB_URL).
MARKER = "nx27017_diverges"


def expect_stand_in_divergence(request: pytest.FixtureRequest, backend: MongoBackend) -> None:
    """Mark the test xfail(strict) for each divergence it names, if it runs on the stand-in."""
    if not backend.stand_in:
        return
    # Closest first, i.e. the decorators bottom-up: reversed to read as written.
    reasons = [str(mark.args[0]) for mark in reversed(list(request.node.iter_markers(MARKER)))]
    if reasons:
        request.applymarker(pytest.mark.xfail(strict=True, reason="nx-27017: " + "; ".join(reasons)))
