"""The Blob port: where the bytes of pictures live, and nothing about which store holds them.

Content-addressed
    A blob is named by its *digest*, the lowercase hex SHA-256 of its bytes (64 characters).
    :meth:`BlobStorage.put` stores bytes once however often they are put: a second put of the
    same bytes stores nothing and answers the stored :class:`BlobRef` (the content type given
    first stays; equal bytes have one type, since the media layer decides it from the bytes).
    Bytes are read back whole and their digest is checked on every read: a blob that no longer
    hashes to its name raises :class:`BlobCorrupt`, never wrong bytes.

Whole blobs, not streams
    ``put`` and ``get`` move whole ``bytes`` of at most :data:`MAX_BLOB_BYTES` (16 MiB). What is
    stored is an image re-encoded by the media layer to a bounded display size (a few MB at most),
    so a whole read is cheap, and it is the only read whose digest can be checked before a byte
    is served. An HTTP Range request can be answered by slicing the verified bytes.

References
    A blob lives while something references it. An *owner* is a short string naming what does
    (``"post:<id>"``, ``"avatar:<user id>"``, ``"upload:<media id>"``); :meth:`add_ref` and
    :meth:`release` add and remove one owner of one blob, each idempotent. :meth:`collect`
    deletes the blobs that have no owner and were last put before ``now_ms - grace_ms``: the
    grace keeps a fresh upload between its ``put`` and its ``add_ref``, and a put of bytes
    already stored renews it (that put is the caller's promise to reference them soon). Once
    collected, a blob is gone: ``add_ref`` then raises :class:`BlobNotFound` and the bytes must
    be put again. Every decision of ``add_ref``, ``release``, ``collect`` and ``put`` about one
    blob is atomic, also between several processes or nodes on one store: ``add_ref`` either
    happens before a concurrent ``collect`` deletes the blob (which then keeps it) or fails, and
    a ``put`` racing a ``collect`` of the same bytes either renews the stored blob in time or
    stores it anew. ``collect`` is idempotent; two nodes may run it at once.

Durability and errors
    A method that writes has returned only once the write is durable (fsynced files and SQLite
    ``synchronous=FULL``; MongoDB's write concern), so the caller may reference the blob in
    storage as soon as ``put`` returns. A store that cannot be reached or fails raises
    :class:`BlobsUnavailable`, which is also a :class:`~server.store.base.StorageUnavailable`:
    the HTTP and gateway layers already turn that into a 503 / ``unavailable`` and log one line
    per outage, and a blob outage is the same fault to a client (the bytes live in the same
    place as the rest: the data directory, or the MongoDB database). Code that must tell the two
    apart catches :class:`BlobsUnavailable` first.

Adapters: :mod:`server.blobs.local` (files under the data directory, references in SQLite) and
:mod:`server.blobs.gridfs` (MongoDB GridFS). Contract tests: ``tests/contract/test_blobs.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Protocol

from ..store.base import StorageUnavailable

#: The largest blob ``put`` accepts: images are re-encoded to a bounded size before they get here.
MAX_BLOB_BYTES: Final = 16 * 1024 * 1024
#: How long an unreferenced blob survives ``collect`` after its last ``put``: far longer than an
#: upload takes from ``put`` to ``add_ref``, and than the clocks of two nodes differ.
COLLECT_GRACE_MS: Final = 60 * 60_000
#: Owners are short names ("post:<id>"); a bound keeps a reference list from growing unbounded.
MAX_OWNER_LENGTH: Final = 200
MAX_CONTENT_TYPE_LENGTH: Final = 255

_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    """Base of everything the Blob port raises."""


class BlobsUnavailable(BlobError, StorageUnavailable):
    """The blob store could not be reached or failed; nothing was written."""


class BlobNotFound(BlobError):
    """``add_ref`` of a digest that is not stored (never put, or collected since)."""


class BlobCorrupt(BlobError):
    """A stored blob's bytes no longer hash to its digest, or are missing: the store is damaged."""


class BlobTooLarge(BlobError, ValueError):
    """``put`` of more than :data:`MAX_BLOB_BYTES`."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    """What names a stored blob: its digest, its size in bytes and its content type."""

    digest: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob read back whole, its digest checked."""

    ref: BlobRef
    data: bytes


def digest_of(data: bytes) -> str:
    """The name a blob of ``data`` has: the lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def is_digest(value: str) -> bool:
    """Whether ``value`` can name a blob (64 lowercase hex digits). Anything else names none:
    adapters answer it as unknown, never use it in a path or a query."""
    return _DIGEST.fullmatch(value) is not None


def check_put(data: bytes, content_type: str) -> None:
    """Refuse what ``put`` never stores: more than :data:`MAX_BLOB_BYTES` (BlobTooLarge), an
    empty or overlong content type (ValueError)."""
    if len(data) > MAX_BLOB_BYTES:
        raise BlobTooLarge(f"a blob holds at most {MAX_BLOB_BYTES} bytes, not {len(data)}")
    if not content_type or len(content_type) > MAX_CONTENT_TYPE_LENGTH:
        raise ValueError(f"a content type is 1 to {MAX_CONTENT_TYPE_LENGTH} characters")


def check_owner(owner: str) -> None:
    """Refuse an owner name that is empty or longer than :data:`MAX_OWNER_LENGTH` (ValueError)."""
    if not owner or len(owner) > MAX_OWNER_LENGTH:
        raise ValueError(f"an owner is 1 to {MAX_OWNER_LENGTH} characters")


class BlobStorage(Protocol):
    """Content-addressed bytes with references; see :mod:`server.blobs.base` for the contract.

    Adapters: ``server/blobs/local.py``, ``server/blobs/gridfs.py``.
    """

    async def put(self, data: bytes, *, content_type: str, now_ms: int) -> BlobRef:
        """Store ``data`` under its digest, once, and answer its ref; durable on return. A put of
        bytes already stored writes no second copy, answers the stored ref and renews the blob's
        grace (``now_ms`` is its new "last put" time, if later). BlobTooLarge past
        :data:`MAX_BLOB_BYTES`; ValueError for an empty or overlong content type."""

    async def get(self, digest: str) -> Blob | None:
        """The blob's bytes and ref, or None if no blob has that digest (or the string cannot
        name one). BlobCorrupt if the stored bytes do not hash to ``digest``."""

    async def stat(self, digest: str) -> BlobRef | None:
        """The blob's ref without reading its bytes, or None as for :meth:`get`."""

    async def add_ref(self, digest: str, owner: str) -> bool:
        """Make ``owner`` a reference of the blob: True if it was not one, False if it was
        already (nothing changes). BlobNotFound if no blob has that digest."""

    async def release(self, digest: str, owner: str) -> bool:
        """Remove ``owner``'s reference: True if it held one, False if not (or no such blob).
        The blob stays until :meth:`collect` finds it without references."""

    async def owners(self, digest: str) -> list[str] | None:
        """The blob's owners, sorted, or None if no blob has that digest."""

    async def collect(self, *, now_ms: int, grace_ms: int = COLLECT_GRACE_MS) -> int:
        """Delete every blob without an owner whose last put was before ``now_ms - grace_ms``,
        and what interrupted puts left behind; answer how many blobs were deleted. Safe to run on
        several nodes at once; each blob is deleted by one of them. It reads every blob's
        reference record, so run it now and then (hourly), not per request."""

    async def ping(self) -> None:
        """Return if the store answers; raise BlobsUnavailable if not."""

    async def close(self) -> None:
        """Release the store's connections; no method may be called after."""
