"""Blobs: the bytes of pictures (avatars, images in posts and messages), content-addressed.

The port
    :mod:`server.blobs.base`: :class:`~.base.BlobStorage` (put, get, stat, add_ref, release,
    owners, collect, ping, close), its records :class:`~.base.BlobRef` and
    :class:`~.base.Blob`, and its errors, with the contract in the docstrings. It is a port of
    its own beside :mod:`server.store` rather than an area of Storage: bytes have another
    shape (megabytes, read whole, written once) and another home on each deployment.

The adapters
    :mod:`.local` (the embedded default: files under ``<data_dir>/blobs``, references in a
    SQLite file of their own there) and :mod:`.gridfs` (MongoDB GridFS, so that every node
    serves every image). :func:`open_blobs` picks one from the settings, as
    :func:`server.store.open_storage` does: GridFS whenever MongoDB holds the rest.

The contract suite
    ``tests/contract/test_blobs.py`` runs the same cases against both adapters (GridFS on the
    nx-27017 stand-in, or the real server named by ``TSUDOI_TEST_MONGODB_URL``).
"""

from __future__ import annotations

from ..config import Settings
from ..health import Finding
from .base import BlobStorage


async def open_blobs(settings: Settings) -> BlobStorage:
    """The configured blob store: GridFS in the MongoDB database when ``mongodb_url`` is set,
    else files under the data directory. BlobsUnavailable if it cannot be opened."""
    if settings.mongodb_url:
        from .gridfs import GridFsBlobs

        return await GridFsBlobs.open(settings.mongodb_url, database=settings.mongodb_database)
    from .local import LocalBlobs

    return await LocalBlobs.open(settings.data_dir / "blobs")


async def check_blobs(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: the configured blob store's own check, which reads and creates
    nothing. ``BlobStorage.ping`` is the check of an open store."""
    if settings.mongodb_url:
        from .gridfs import check

        return await check(settings.mongodb_url, database=settings.mongodb_database)
    from .local import check as check_local

    return check_local(settings.data_dir / "blobs")
