"""Blobs in MongoDB GridFS, through PyMongo's asyncio GridFS API (:class:`gridfs.AsyncGridFSBucket`):
the scale-out default, so that every node serves every image.

Layout
    Each blob is one GridFS file of the bucket ``blobs`` (collections ``blobs.files`` and
    ``blobs.chunks``, chunks of 255 KiB), whose ``filename`` is the digest (for an operator
    looking at the bucket) and whose ``_id`` is an ObjectId made for that upload. Beside it, the
    collection ``blob_refs`` holds one document per blob: ``{_id: <digest>, file_id, size,
    content_type, owners: [...], touched_ms}``. That document is the authority: a blob exists
    when it does, and its ``file_id`` names the one complete file that holds the bytes.

Why a fresh file id per upload, and one document per blob
    A GridFS upload writes its chunks first and its files document last, so a file named by its
    digest could not be decided between two concurrent puts (both would write chunks under one
    id, and a put cut off half way would leave chunks that block every later upload). Instead
    each upload writes a file of its own, and the puts are decided by ``insert_one`` into
    ``blob_refs``: MongoDB keeps ``_id`` unique in a collection (on a sharded cluster, shard
    ``blob_refs`` on ``_id``, which then stays unique across shards), so exactly one insert
    per digest succeeds; the losers delete their own file and answer the winner's ref. The
    common case, bytes put again later, finds the document first and uploads nothing.

    Every other decision is one atomic update of that single document, which MongoDB applies
    atomically whatever runs concurrently: a put of stored bytes renews the grace with
    ``$max`` on ``touched_ms``; ``add_ref`` is ``$addToSet`` on ``owners`` (matched: the blob
    exists; modified: the owner is new), ``release`` is ``$pull``; ``collect`` deletes with
    ``find_one_and_delete`` only while ``owners`` is empty (``$size: 0``) and ``touched_ms`` is
    before the grace, so a concurrent ``add_ref`` or ``put`` either lands first (and the
    delete matches nothing) or finds no document. The file is deleted after its document: a
    reader that found the document just before may meet a missing file, which it reads as
    "collected meanwhile". ``owners`` is an array inside the document rather than a document
    per owner so that "has no owner" and "delete" are one atomic step; a blob may have as many
    owners as fit in a 16 MiB document (hundreds of thousands).

Leftovers
    A put interrupted after its upload (an outage, a killed process) leaves a file no
    ``blob_refs`` document names; ``collect`` deletes such files once their ObjectId (made at
    upload time by the uploading node's clock) is older than the grace, and never younger than
    :data:`~server.blobs.base.COLLECT_GRACE_MS`. That is a scan of ``blobs.files`` ids, which is
    why ``collect`` runs now and then. An upload cut off part way (its files document never
    written) is deleted at once when the driver raises; only a process killed in the middle of
    one leaves chunks without a file.

Durability and errors
    The client is opened with the storage adapter's options (:mod:`server.store.mongo`:
    ``w="majority", journal=True`` unless the URL says otherwise, a 5 s server selection
    timeout); the bucket writes with the database's write concern. Every driver error is
    raised as :class:`~server.blobs.base.BlobsUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..config import redact_url
from ..health import Finding
from ..store.mongo.database import _client_options
from .base import (
    COLLECT_GRACE_MS,
    Blob,
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobsUnavailable,
    check_owner,
    check_put,
    digest_of,
    is_digest,
)

Document = dict[str, Any]

#: The GridFS bucket: collections ``blobs.files`` and ``blobs.chunks``.
BUCKET: Final = "blobs"
#: One document per blob: its file, size, content type, owners and last put.
REFS: Final = "blob_refs"
#: How often put goes round "find it, else upload and insert" when a collect keeps deleting
#: what a concurrent put inserted: never more than twice in practice.
_PUT_ATTEMPTS: Final = 5
#: File ids checked against blob_refs per query in the sweep of leftovers.
_SWEEP_BATCH: Final = 500
#: Hash in a worker thread past this size: SHA-256 of a few MB takes milliseconds.
_HASH_OFF_LOOP: Final = 256 * 1024

_REF_FIELDS: Final = {"_id": 1, "size": 1, "content_type": 1, "file_id": 1}


class GridFsBlobs:
    """Blob storage in one MongoDB database's GridFS bucket. Build with :meth:`open`."""

    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._db = db
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self._files = db[f"{BUCKET}.files"]
        self._refs = db[REFS]

    @classmethod
    async def open(cls, url: str, *, database: str) -> Self:
        """Connect and check the server answers; ``database`` unless the URL names one."""
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
        except (PyMongoError, ValueError) as exc:  # a malformed URL or option
            raise BlobsUnavailable(f"mongodb: {exc}") from exc
        store = cls(client, client.get_default_database(default=database))
        try:
            await store.ping()
        except BaseException:
            await client.close()
            raise
        return store

    async def put(self, data: bytes, *, content_type: str, now_ms: int) -> BlobRef:
        check_put(data, content_type)
        digest = await _digest(data)
        with _driver_errors():
            for _ in range(_PUT_ATTEMPTS):
                stored = await self._refs.find_one_and_update(
                    {"_id": digest},
                    {"$max": {"touched_ms": now_ms}},
                    projection=_REF_FIELDS,
                    return_document=ReturnDocument.AFTER,
                )
                if stored is not None:
                    return _ref(stored)
                if await self._insert(digest, data, content_type, now_ms):
                    return BlobRef(digest, len(data), content_type)
        raise BlobsUnavailable(f"blob {digest}: collected as often as it was put; try again")

    async def _insert(self, digest: str, data: bytes, content_type: str, now_ms: int) -> bool:
        """Upload a file of ours, then claim the digest for it: False if a concurrent put claimed
        it first (our file deleted), True if ours is the blob."""
        file_id = ObjectId()
        try:
            await self._bucket.upload_from_stream_with_id(
                file_id, digest, data, metadata={"contentType": content_type}
            )
            await self._refs.insert_one(
                {
                    "_id": digest,
                    "file_id": file_id,
                    "size": len(data),
                    "content_type": content_type,
                    "owners": [],
                    "touched_ms": now_ms,
                }
            )
        except DuplicateKeyError:
            await self._delete_file(file_id)
            return False
        except BaseException:
            await self._delete_file(file_id)
            raise
        return True

    async def _delete_file(self, file_id: object) -> None:
        """Delete a file and its chunks, whether or not its files document was written; a
        failure leaves a leftover for collect."""
        with contextlib.suppress(PyMongoError):  # NoFile is one: its chunks are deleted first
            await self._bucket.delete(file_id)

    async def get(self, digest: str) -> Blob | None:
        if not is_digest(digest):
            return None
        with _driver_errors():
            found = await self._refs.find_one({"_id": digest}, _REF_FIELDS)
            if found is None:
                return None
            try:
                async with await self._bucket.open_download_stream(found["file_id"]) as download:
                    data = await download.read()
            except (NoFile, CorruptGridFile):
                again = await self._refs.find_one({"_id": digest}, {"file_id": 1})
                if again is None or again["file_id"] != found["file_id"]:
                    return None  # collected (and maybe put anew) since it was found
                raise BlobCorrupt(f"blob {digest}: its GridFS file is missing or truncated") from None
        ref = _ref(found)
        if len(data) != ref.size or await _digest(data) != digest:
            raise BlobCorrupt(f"blob {digest}: its GridFS file no longer hashes to its name")
        return Blob(ref, data)

    async def stat(self, digest: str) -> BlobRef | None:
        if not is_digest(digest):
            return None
        with _driver_errors():
            found = await self._refs.find_one({"_id": digest}, _REF_FIELDS)
        return None if found is None else _ref(found)

    async def add_ref(self, digest: str, owner: str) -> bool:
        check_owner(owner)
        if not is_digest(digest):
            raise BlobNotFound(digest)
        with _driver_errors():
            result = await self._refs.update_one({"_id": digest}, {"$addToSet": {"owners": owner}})
        if result.matched_count == 0:
            raise BlobNotFound(digest)
        return result.modified_count == 1

    async def release(self, digest: str, owner: str) -> bool:
        check_owner(owner)
        if not is_digest(digest):
            return False
        with _driver_errors():
            result = await self._refs.update_one({"_id": digest}, {"$pull": {"owners": owner}})
        return result.modified_count == 1

    async def owners(self, digest: str) -> list[str] | None:
        if not is_digest(digest):
            return None
        with _driver_errors():
            found = await self._refs.find_one({"_id": digest}, {"owners": 1})
        return None if found is None else sorted(str(owner) for owner in found["owners"])

    async def collect(self, *, now_ms: int, grace_ms: int = COLLECT_GRACE_MS) -> int:
        collectable = {"owners": {"$size": 0}, "touched_ms": {"$lt": now_ms - grace_ms}}
        deleted = 0
        with _driver_errors():
            candidates = [doc["_id"] async for doc in self._refs.find(collectable, {"_id": 1})]
            for digest in candidates:
                # Checked again in the delete itself: an add_ref or put may have come since.
                gone = await self._refs.find_one_and_delete({"_id": digest, **collectable})
                if gone is not None:
                    await self._delete_file(gone["file_id"])
                    deleted += 1
            await self._sweep_leftovers(max(grace_ms, COLLECT_GRACE_MS))
        return deleted

    async def _sweep_leftovers(self, grace_ms: int) -> None:
        """Delete the files no blob_refs document names, uploaded more than ``grace_ms`` ago by
        their ObjectId's time (a put in flight has a fresh one)."""
        horizon = datetime.now(UTC) - timedelta(milliseconds=grace_ms)
        batch: list[Document] = []
        async for file in self._files.find({}, {"_id": 1, "filename": 1}):
            file_id = file["_id"]
            if isinstance(file_id, ObjectId) and file_id.generation_time < horizon:
                batch.append(file)
            if len(batch) >= _SWEEP_BATCH:
                await self._delete_unnamed(batch)
                batch = []
        if batch:
            await self._delete_unnamed(batch)

    async def _delete_unnamed(self, files: list[Document]) -> None:
        digests = list({str(file.get("filename")) for file in files})
        named = {doc["file_id"] async for doc in self._refs.find({"_id": {"$in": digests}}, {"file_id": 1})}
        for file in files:
            if file["_id"] not in named:
                await self._delete_file(file["_id"])

    async def ping(self) -> None:
        with _driver_errors():
            await self._db.command("ping")

    async def close(self) -> None:
        await self._client.close()


def _ref(doc: Document) -> BlobRef:
    return BlobRef(str(doc["_id"]), int(doc["size"]), str(doc["content_type"]))


async def _digest(data: bytes) -> str:
    if len(data) > _HASH_OFF_LOOP:
        return await asyncio.to_thread(digest_of, data)
    return digest_of(data)


@contextlib.contextmanager
def _driver_errors() -> Iterator[None]:
    """Raise any driver error left unhandled inside as BlobsUnavailable."""
    try:
        yield
    except PyMongoError as exc:
        raise BlobsUnavailable(f"mongodb: {exc}") from exc


async def check(url: str, *, database: str) -> Finding:
    """For ``tsudoi doctor``: the database answers, and how many blobs it holds. Reads only."""
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
    except (PyMongoError, ValueError) as exc:  # Settings.validate refuses most of these first
        return Finding("blobs", False, f"TSUDOI_MONGODB_URL is malformed: {exc}")
    try:
        db = client.get_default_database(default=database)
        count = await db[REFS].count_documents({})
    except PyMongoError as exc:
        return Finding("blobs", False, f"MongoDB at {redact_url(url)} does not answer: {exc}")
    finally:
        await client.close()
    return Finding("blobs", True, f"GridFS bucket {BUCKET!r} in database {db.name!r}: {count} blobs")
