"""The Blob port's contract (server/blobs/base.py), one module for every adapter.

``blobs`` opens each adapter on a fresh store: local files in a temporary folder, and GridFS on
MongoDB (the nx-27017 stand-in, or the real server named by ``TSUDOI_TEST_MONGODB_URL``; see
tests/support/mongo.py). ``other_node`` is a second adapter on the same store, as another
process or node has. ``copies`` counts the stored copies of a blob from outside the port (files
on disk; GridFS files named by the digest), which is how "stored once" is judged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from server.blobs import check_blobs, open_blobs
from server.blobs.base import (
    COLLECT_GRACE_MS,
    MAX_BLOB_BYTES,
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStorage,
    BlobsUnavailable,
    BlobTooLarge,
    digest_of,
)
from server.blobs.gridfs import BUCKET, REFS, GridFsBlobs
from server.blobs.local import LocalBlobs
from server.config import Settings
from server.store.base import StorageUnavailable
from tests.support.mongo import MongoBackend, expect_stand_in_divergence
from tests.support.server import free_port

NOW = 1_800_000_000_000
MINUTE = 60_000
LATER = NOW + COLLECT_GRACE_MS + MINUTE  # past the default grace of a put at NOW
PNG = "image/png"


@dataclass
class Store:
    """One adapter under test, how to open another on the same store, and, from outside the
    port: how to count a blob's copies, how to leave what a put cut off part way leaves (the
    bytes of ``digest``, written ``age_ms`` ago, that no blob record names), and how many such
    leftovers there are."""

    kind: str
    blobs: BlobStorage
    reopen: Callable[[], Awaitable[BlobStorage]]
    copies: Callable[[str], Awaitable[int]]
    leave_leftover: Callable[[str, int], Awaitable[None]]
    leftovers: Callable[[], Awaitable[int]]
    settings: Settings


@pytest.fixture(params=["local", "gridfs"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: MongoBackend | None = None
    database = ""
    reopen: Callable[[], Awaitable[BlobStorage]]
    copies: Callable[[str], Awaitable[int]]
    leave_leftover: Callable[[str, int], Awaitable[None]]
    leftovers: Callable[[], Awaitable[int]]
    settings = Settings(data_dir=tmp_path)
    if request.param == "local":
        root = tmp_path / "blobs"  # where open_blobs puts them

        async def reopen() -> BlobStorage:
            return await LocalBlobs.open(root)

        async def copies(digest: str) -> int:
            return sum(1 for path in root.rglob(digest) if path.is_file())

        async def leave_leftover(digest: str, age_ms: int) -> None:
            path = root / "tmp" / f"put-{digest}"  # a put's temporary file, never renamed
            path.write_bytes(b"half a picture")
            then = time.time() - age_ms / 1000
            os.utime(path, (then, then))

        async def leftovers() -> int:
            return sum(1 for _ in (root / "tmp").iterdir())

    else:
        backend = request.getfixturevalue("mongo_backend")
        expect_stand_in_divergence(request, backend)
        url, database = backend.url, backend.new_database()
        settings = Settings(data_dir=tmp_path, mongodb_url=url, mongodb_database=database)

        async def reopen() -> BlobStorage:
            return await GridFsBlobs.open(url, database=database)

        async def copies(digest: str) -> int:
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
            try:
                return len(await client[database][f"{BUCKET}.files"].find({"filename": digest}).to_list())
            finally:
                await client.close()

        async def leave_leftover(digest: str, age_ms: int) -> None:
            # An upload whose blob_refs insert never happened (or lost the race and was not
            # cleaned up): its file id carries its upload time, as the adapter's do.
            file_id = object_id_made(datetime.now(UTC) - timedelta(milliseconds=age_ms))
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
            try:
                bucket = AsyncGridFSBucket(client[database], bucket_name=BUCKET)
                await bucket.upload_from_stream_with_id(file_id, digest, b"half a picture")
            finally:
                await client.close()

        async def leftovers() -> int:
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
            try:
                files = await client[database][f"{BUCKET}.files"].find({}).to_list()
                named = {doc["file_id"] for doc in await client[database][REFS].find({}).to_list()}
            finally:
                await client.close()
            return sum(1 for file in files if file["_id"] not in named)

    opened = Store(request.param, await reopen(), reopen, copies, leave_leftover, leftovers, settings)
    try:
        yield opened
    finally:
        await opened.blobs.close()  # the one open now: a test may have reopened it
        if backend is not None:
            await backend.drop_database(database)


@pytest.fixture
async def other_node(store: Store) -> AsyncIterator[BlobStorage]:
    """Another process's adapter on the same store."""
    other = await store.reopen()
    try:
        yield other
    finally:
        await other.close()


def object_id_made(when: datetime) -> ObjectId:
    """A fresh ObjectId as a node whose clock said ``when`` would have made it: its first four
    bytes are the seconds since the epoch (ObjectId.from_datetime zeroes the rest, so two of
    its ids in one second are equal)."""
    seconds = int(when.timestamp()).to_bytes(4, "big")
    return ObjectId(seconds + ObjectId().binary[4:])


def picture(n: int, size: int = 1000) -> bytes:
    """Distinct bytes per ``n``."""
    seed = hashlib.sha256(f"picture {n}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def test_put_then_get_round_trips_bytes_and_content_type(store: Store) -> None:
    data = picture(1)
    ref = await store.blobs.put(data, content_type=PNG, now_ms=NOW)
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), len(data), PNG)
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == data
    assert blob.ref == ref
    assert await store.blobs.stat(ref.digest) == ref
    assert await store.blobs.owners(ref.digest) == []


async def test_same_bytes_twice_are_stored_once_under_one_ref(store: Store) -> None:
    data = picture(2)
    first = await store.blobs.put(data, content_type=PNG, now_ms=NOW)
    second = await store.blobs.put(data, content_type="image/webp", now_ms=NOW + 1)
    assert second == first  # the content type given first stays
    assert await store.copies(first.digest) == 1
    other = await store.blobs.put(picture(3), content_type=PNG, now_ms=NOW)
    assert other.digest != first.digest


async def test_unknown_or_malformed_digests_name_nothing(store: Store) -> None:
    unknown = hashlib.sha256(b"never put").hexdigest()
    for digest in (unknown, unknown.upper(), "../../etc/passwd", "", "ab" * 40):
        assert await store.blobs.get(digest) is None
        assert await store.blobs.stat(digest) is None
        assert await store.blobs.owners(digest) is None
        assert await store.blobs.release(digest, "post:1") is False
        with pytest.raises(BlobNotFound):
            await store.blobs.add_ref(digest, "post:1")


async def test_add_ref_and_release_are_idempotent(store: Store) -> None:
    ref = await store.blobs.put(picture(4), content_type=PNG, now_ms=NOW)
    assert await store.blobs.add_ref(ref.digest, "post:1") is True
    assert await store.blobs.add_ref(ref.digest, "post:1") is False
    assert await store.blobs.add_ref(ref.digest, "avatar:u1") is True
    assert await store.blobs.owners(ref.digest) == ["avatar:u1", "post:1"]
    assert await store.blobs.release(ref.digest, "post:1") is True
    assert await store.blobs.release(ref.digest, "post:1") is False
    assert await store.blobs.owners(ref.digest) == ["avatar:u1"]


async def test_a_referenced_blob_survives_collect(store: Store) -> None:
    ref = await store.blobs.put(picture(5), content_type=PNG, now_ms=NOW)
    await store.blobs.add_ref(ref.digest, "post:1")
    assert await store.blobs.collect(now_ms=LATER) == 0
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == picture(5)


async def test_releasing_the_last_reference_lets_collect_delete_the_blob(store: Store) -> None:
    kept = await store.blobs.put(picture(6), content_type=PNG, now_ms=NOW)
    ref = await store.blobs.put(picture(7), content_type=PNG, now_ms=NOW)
    await store.blobs.add_ref(kept.digest, "post:k")
    await store.blobs.add_ref(ref.digest, "post:1")
    await store.blobs.add_ref(ref.digest, "post:2")
    await store.blobs.release(ref.digest, "post:1")
    assert await store.blobs.collect(now_ms=LATER) == 0  # post:2 still holds it
    await store.blobs.release(ref.digest, "post:2")
    assert await store.blobs.collect(now_ms=LATER) == 1
    assert await store.blobs.get(ref.digest) is None
    assert await store.blobs.stat(ref.digest) is None
    assert await store.copies(ref.digest) == 0
    with pytest.raises(BlobNotFound):
        await store.blobs.add_ref(ref.digest, "post:3")
    assert await store.blobs.collect(now_ms=LATER) == 0  # idempotent
    assert await store.blobs.get(kept.digest) is not None
    # Put again after being collected, the bytes are a blob again.
    again = await store.blobs.put(picture(7), content_type=PNG, now_ms=LATER)
    assert again == ref
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == picture(7)


async def test_an_unreferenced_fresh_put_survives_collect_within_the_grace(store: Store) -> None:
    ref = await store.blobs.put(picture(8), content_type=PNG, now_ms=NOW)
    assert await store.blobs.collect(now_ms=NOW + COLLECT_GRACE_MS - 1) == 0
    assert await store.blobs.get(ref.digest) is not None
    assert await store.blobs.collect(now_ms=NOW + 10 * MINUTE, grace_ms=5 * MINUTE) == 1
    assert await store.blobs.get(ref.digest) is None


async def test_putting_stored_bytes_again_renews_the_grace(store: Store) -> None:
    ref = await store.blobs.put(picture(9), content_type=PNG, now_ms=NOW)
    await store.blobs.put(picture(9), content_type=PNG, now_ms=NOW + COLLECT_GRACE_MS)
    assert await store.blobs.collect(now_ms=NOW + COLLECT_GRACE_MS + MINUTE) == 0
    assert await store.blobs.add_ref(ref.digest, "upload:m1") is True
    # An older put's time never moves the grace back.
    await store.blobs.release(ref.digest, "upload:m1")
    await store.blobs.put(picture(9), content_type=PNG, now_ms=NOW)
    assert await store.blobs.collect(now_ms=NOW + COLLECT_GRACE_MS + MINUTE) == 0


async def test_concurrent_puts_of_the_same_bytes_store_one_blob(
    store: Store, other_node: BlobStorage
) -> None:
    data = picture(10, size=600_000)  # several GridFS chunks
    nodes = [store.blobs, other_node] * 4
    refs = await asyncio.gather(*(node.put(data, content_type=PNG, now_ms=NOW) for node in nodes))
    assert len(set(refs)) == 1
    assert await store.copies(refs[0].digest) == 1
    for node in (store.blobs, other_node):
        blob = await node.get(refs[0].digest)
        assert blob is not None
        assert blob.data == data


async def test_add_ref_racing_collect_never_leaves_a_reference_to_nothing(
    store: Store, other_node: BlobStorage
) -> None:
    refs = [await store.blobs.put(picture(100 + n), content_type=PNG, now_ms=NOW) for n in range(6)]
    outcomes = await asyncio.gather(
        other_node.collect(now_ms=LATER),
        *(store.blobs.add_ref(ref.digest, "post:1") for ref in refs),
        return_exceptions=True,
    )
    collected, added = outcomes[0], outcomes[1:]
    assert isinstance(collected, int)
    for ref, outcome in zip(refs, added, strict=True):
        if isinstance(outcome, BlobNotFound):  # collected first: gone for good
            assert await store.blobs.get(ref.digest) is None
        else:  # referenced first: kept, with its owner
            assert outcome is True
            assert await store.blobs.owners(ref.digest) == ["post:1"]
            assert await store.blobs.get(ref.digest) is not None
    assert collected == sum(isinstance(outcome, BlobNotFound) for outcome in added)


async def test_two_nodes_collecting_at_once_delete_each_blob_once(
    store: Store, other_node: BlobStorage
) -> None:
    refs = [await store.blobs.put(picture(200 + n), content_type=PNG, now_ms=NOW) for n in range(5)]
    first, second = await asyncio.gather(store.blobs.collect(now_ms=LATER), other_node.collect(now_ms=LATER))
    assert first + second == len(refs)
    for ref in refs:
        assert await store.blobs.stat(ref.digest) is None
        assert await store.copies(ref.digest) == 0


async def test_collect_removes_what_interrupted_puts_left_once_past_the_grace(store: Store) -> None:
    ref = await store.blobs.put(picture(14), content_type=PNG, now_ms=NOW)
    await store.blobs.add_ref(ref.digest, "post:1")
    # Bytes of a stored blob and of no blob, left long ago; and bytes being written right now.
    await store.leave_leftover(ref.digest, 2 * COLLECT_GRACE_MS)
    await store.leave_leftover(hashlib.sha256(b"never finished").hexdigest(), 2 * COLLECT_GRACE_MS)
    await store.leave_leftover(hashlib.sha256(b"in flight").hexdigest(), 0)
    assert await store.leftovers() == 3
    # Leftovers wait for the full grace by the clock they were written with, whatever grace
    # the caller gives for unreferenced blobs: a put in flight keeps its fresh bytes.
    assert await store.blobs.collect(now_ms=LATER, grace_ms=0) == 0
    assert await store.leftovers() == 1
    assert await store.copies(ref.digest) == 1
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == picture(14)


async def test_blobs_and_references_outlive_the_process(store: Store) -> None:
    ref = await store.blobs.put(picture(11), content_type=PNG, now_ms=NOW)
    await store.blobs.add_ref(ref.digest, "avatar:u1")
    await store.blobs.close()
    store.blobs = await store.reopen()
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == picture(11)
    assert await store.blobs.owners(ref.digest) == ["avatar:u1"]


async def test_a_five_megabyte_blob_round_trips(store: Store) -> None:
    data = os.urandom(5 * 1024 * 1024)
    ref = await store.blobs.put(data, content_type="image/jpeg", now_ms=NOW)
    assert ref.size == len(data)
    blob = await store.blobs.get(ref.digest)
    assert blob is not None
    assert blob.data == data


async def test_what_put_refuses(store: Store) -> None:
    with pytest.raises(BlobTooLarge):
        await store.blobs.put(b"\0" * (MAX_BLOB_BYTES + 1), content_type=PNG, now_ms=NOW)
    with pytest.raises(ValueError, match="content type"):
        await store.blobs.put(b"x", content_type="", now_ms=NOW)
    ref = await store.blobs.put(b"x", content_type=PNG, now_ms=NOW)
    with pytest.raises(ValueError, match="owner"):
        await store.blobs.add_ref(ref.digest, "")


async def test_ping_answers(store: Store) -> None:
    await store.blobs.ping()


async def test_open_blobs_and_doctor_find_the_same_store(store: Store) -> None:
    await store.blobs.put(picture(15), content_type=PNG, now_ms=NOW)
    opened = await open_blobs(store.settings)
    try:
        assert type(opened) is type(store.blobs)
        assert await opened.stat(digest_of(picture(15))) is not None
    finally:
        await opened.close()
    finding = await check_blobs(store.settings)
    assert finding.ok, finding.detail
    assert finding.name == "blobs"
    assert "1 blobs" in finding.detail


async def test_a_local_store_that_cannot_be_opened_raises_blobs_unavailable(tmp_path: Path) -> None:
    """Opening fails loudly, as a StorageUnavailable too (what the HTTP layer answers with 503)."""
    (tmp_path / "taken").write_text("a file where the blob folder should be")
    with pytest.raises(BlobsUnavailable) as raised:
        await LocalBlobs.open(tmp_path / "taken")
    assert isinstance(raised.value, StorageUnavailable)


_OPEN_UNREACHABLE = """
import asyncio, sys
from server.blobs.base import BlobsUnavailable
from server.blobs.gridfs import GridFsBlobs
from server.config import Settings
from server.store.base import StorageUnavailable

async def main() -> None:
    try:
        await GridFsBlobs.open(sys.argv[1], database="tsudoi_unreachable")
    except BlobsUnavailable as exc:
        print("unavailable", isinstance(exc, StorageUnavailable))

asyncio.run(main())
"""


def test_a_mongodb_that_does_not_answer_raises_blobs_unavailable() -> None:
    """In a process of its own: closing a client that never reached its server, PyMongo may
    leave the socket of a connection attempt in flight unclosed (seen with the storage adapter's
    open too), and this suite's warnings-as-errors would blame it on whichever test runs next."""
    url = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200"  # nothing listens
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_UNREACHABLE, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "unavailable True", result.stderr


def test_doctor_names_a_local_blob_folder_it_cannot_use(tmp_path: Path) -> None:
    from server.blobs.local import check

    root = tmp_path / "blobs"
    root.mkdir()
    finding = check(root)
    assert not finding.ok
    assert "refs.sqlite3" in finding.detail
    assert not (root / "refs.sqlite3").exists()  # a finding, not a reason to create one


async def test_a_corrupted_local_file_is_detected_on_read(tmp_path: Path) -> None:
    """Local only: the bytes are files an operator (or a failing disk) can change."""
    blobs = await LocalBlobs.open(tmp_path / "blobs")
    try:
        ref = await blobs.put(picture(12), content_type=PNG, now_ms=NOW)
        path = blobs.path_of(ref.digest)
        path.write_bytes(picture(13))  # same size, other bytes
        with pytest.raises(BlobCorrupt):
            await blobs.get(ref.digest)
        path.write_bytes(picture(12)[:-1])  # truncated
        with pytest.raises(BlobCorrupt):
            await blobs.get(ref.digest)
        path.unlink()  # gone while its row says it exists
        with pytest.raises(BlobCorrupt):
            await blobs.get(ref.digest)
    finally:
        await blobs.close()
