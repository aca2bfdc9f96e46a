"""Blobs on the local disk: the embedded default, under the data directory.

Layout
    ``<data_dir>/blobs/ab/cd/<digest>`` holds the bytes of the blob whose digest starts ``abcd``
    (two levels of 256 folders keep each folder small). ``<data_dir>/blobs/refs.sqlite3`` holds
    one row per blob (``blobs``: size, content type, last put) and one per reference
    (``blob_owners``). Its own SQLite file rather than the main database, whose writes all go
    through the storage adapter's one writer thread: blob bookkeeping neither waits behind posts
    nor holds them up. ``<data_dir>/blobs/tmp/`` holds files being written and files being
    deleted.

Which decides
    The ``blobs`` row is the authority: a row means a complete file. Every change to which
    files exist happens inside a SQLite write transaction (``BEGIN IMMEDIATE``, which takes the
    database's one write lock, across processes too: workers sharing a data directory are safe)
    and before its commit: ``put`` renames its finished temporary file into place and inserts
    the row; ``collect`` deletes the row and renames the file into ``tmp/`` (unlinked after the
    commit; renamed back if the commit fails). So a ``put`` and a ``collect`` of the same bytes
    never interleave between "is there a row" and "move the file". References are rows keyed
    by (digest, owner); ``collect`` deletes a blob only in the transaction that finds it has
    none, so an ``add_ref`` either commits first (and keeps the blob) or finds no row.

Durability
    A file is written to ``tmp/``, flushed and fsynced, renamed into place (``os.replace``,
    atomic on POSIX), and its folder fsynced, all before the row commits with
    ``synchronous=FULL``. A process killed part way leaves at most a temporary file (removed by
    ``collect`` once older than the grace, and never younger than
    :data:`~server.blobs.base.COLLECT_GRACE_MS`, by the file system's clock: a put in flight
    keeps its own) or a file in place without a row (overwritten by the next put of the same
    bytes).

Threads
    Every blocking call (hashing, file I/O, SQLite) runs in a worker thread
    (:func:`asyncio.to_thread`), never on the event loop. One SQLite connection serves them,
    one transaction at a time (a lock); file reads and writes happen outside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Self

from ..health import Finding
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

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    touched_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_owners (
    digest TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (digest, owner)
) WITHOUT ROWID;
"""

#: Blobs deleted per write transaction by collect: other writers wait at most this many renames.
_COLLECT_BATCH: Final = 100


class LocalBlobs:
    """Blob storage in a folder (``<data_dir>/blobs``). Build with :meth:`open`."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._db = db
        self._lock = threading.Lock()  # one transaction at a time on the shared connection

    @classmethod
    async def open(cls, root: Path) -> Self:
        """Open (creating if needed) the blob folder ``root`` and its reference database."""
        return await asyncio.to_thread(cls._open_sync, root)

    @classmethod
    def _open_sync(cls, root: Path) -> Self:
        with _os_errors():
            (root / "tmp").mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                root / "refs.sqlite3", isolation_level=None, check_same_thread=False, timeout=5.0
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
        return cls(root, db)

    def path_of(self, digest: str) -> Path:
        """Where the bytes of the blob ``digest`` are (a valid digest only: see is_digest)."""
        return self.root / digest[:2] / digest[2:4] / digest

    # --- the port ------------------------------------------------------------------------------

    async def put(self, data: bytes, *, content_type: str, now_ms: int) -> BlobRef:
        check_put(data, content_type)
        return await asyncio.to_thread(self._put, data, content_type, now_ms)

    async def get(self, digest: str) -> Blob | None:
        if not is_digest(digest):
            return None
        return await asyncio.to_thread(self._get, digest)

    async def stat(self, digest: str) -> BlobRef | None:
        if not is_digest(digest):
            return None
        return await asyncio.to_thread(self._stat, digest)

    async def add_ref(self, digest: str, owner: str) -> bool:
        check_owner(owner)
        if not is_digest(digest):
            raise BlobNotFound(digest)
        return await asyncio.to_thread(self._add_ref, digest, owner)

    async def release(self, digest: str, owner: str) -> bool:
        check_owner(owner)
        if not is_digest(digest):
            return False
        return await asyncio.to_thread(self._release, digest, owner)

    async def owners(self, digest: str) -> list[str] | None:
        if not is_digest(digest):
            return None
        return await asyncio.to_thread(self._owners, digest)

    async def collect(self, *, now_ms: int, grace_ms: int = COLLECT_GRACE_MS) -> int:
        return await asyncio.to_thread(self._collect, now_ms - grace_ms, grace_ms)

    async def ping(self) -> None:
        await asyncio.to_thread(self._ping)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # --- in worker threads ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the database's write lock; rolled back on any error."""
        with self._lock, _os_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # nothing to roll back if COMMIT ended it
                    self._db.execute("ROLLBACK")
                raise

    def _read_row(self, digest: str) -> BlobRef | None:
        with self._lock, _os_errors():
            row = self._db.execute(
                "SELECT size, content_type FROM blobs WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else BlobRef(digest, int(row[0]), str(row[1]))

    def _touch(self, db: sqlite3.Connection, digest: str, now_ms: int) -> BlobRef | None:
        row = db.execute(
            "UPDATE blobs SET touched_ms = max(touched_ms, ?) WHERE digest = ? RETURNING size, content_type",
            (now_ms, digest),
        ).fetchone()
        return None if row is None else BlobRef(digest, int(row[0]), str(row[1]))

    def _put(self, data: bytes, content_type: str, now_ms: int) -> BlobRef:
        digest = digest_of(data)
        with self._write() as db:  # stored already: renew it, write nothing else
            stored = self._touch(db, digest, now_ms)
        if stored is not None:
            return stored
        temporary = self._write_temporary(data)
        try:
            with self._write() as db:
                stored = self._touch(db, digest, now_ms)  # a concurrent put got there first
                if stored is not None:
                    return stored
                final = self.path_of(digest)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temporary, final)
                try:
                    _fsync_folder(final.parent)
                    db.execute(
                        "INSERT INTO blobs (digest, size, content_type, touched_ms) VALUES (?, ?, ?, ?)",
                        (digest, len(data), content_type, now_ms),
                    )
                except BaseException:
                    final.unlink(missing_ok=True)  # no row: no file either
                    raise
            return BlobRef(digest, len(data), content_type)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def _write_temporary(self, data: bytes) -> Path:
        path = self._tmp / f"put-{uuid.uuid4().hex}"
        with _os_errors():
            try:
                with path.open("xb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        return path

    def _get(self, digest: str) -> Blob | None:
        ref = self._read_row(digest)
        if ref is None:
            return None
        try:
            data = self.path_of(digest).read_bytes()
        except FileNotFoundError:
            if self._read_row(digest) is None:  # collected since the row was read
                return None
            raise BlobCorrupt(f"blob {digest}: its file is missing") from None
        except OSError as exc:
            raise BlobsUnavailable(f"blobs: {exc}") from exc
        if len(data) != ref.size or digest_of(data) != digest:
            raise BlobCorrupt(f"blob {digest}: its file no longer hashes to its name")
        return Blob(ref, data)

    def _stat(self, digest: str) -> BlobRef | None:
        return self._read_row(digest)

    def _add_ref(self, digest: str, owner: str) -> bool:
        with self._write() as db:
            if db.execute("SELECT 1 FROM blobs WHERE digest = ?", (digest,)).fetchone() is None:
                raise BlobNotFound(digest)
            cursor = db.execute(
                "INSERT INTO blob_owners (digest, owner) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (digest, owner),
            )
            return cursor.rowcount == 1

    def _release(self, digest: str, owner: str) -> bool:
        with self._write() as db:
            cursor = db.execute("DELETE FROM blob_owners WHERE digest = ? AND owner = ?", (digest, owner))
            return cursor.rowcount == 1

    def _owners(self, digest: str) -> list[str] | None:
        with self._lock, _os_errors():
            if self._db.execute("SELECT 1 FROM blobs WHERE digest = ?", (digest,)).fetchone() is None:
                return None
            rows = self._db.execute(
                "SELECT owner FROM blob_owners WHERE digest = ? ORDER BY owner", (digest,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _collect(self, cutoff_ms: int, grace_ms: int) -> int:
        unreferenced = (
            "SELECT digest FROM blobs b WHERE touched_ms < ?"
            " AND NOT EXISTS (SELECT 1 FROM blob_owners o WHERE o.digest = b.digest)"
        )
        with self._lock, _os_errors():
            candidates = [str(row[0]) for row in self._db.execute(unreferenced, (cutoff_ms,))]
        deleted = 0
        for start in range(0, len(candidates), _COLLECT_BATCH):
            deleted += self._collect_batch(candidates[start : start + _COLLECT_BATCH], cutoff_ms)
        self._sweep_temporaries(max(grace_ms, COLLECT_GRACE_MS))
        return deleted

    def _collect_batch(self, digests: list[str], cutoff_ms: int) -> int:
        """Delete those of ``digests`` still unreferenced and old, in one transaction (checked
        again inside it: an add_ref or put may have come since they were listed)."""
        trashed: list[tuple[Path, Path]] = []
        deleted = 0
        try:
            with self._write() as db:
                for digest in digests:
                    cursor = db.execute(
                        "DELETE FROM blobs WHERE digest = ? AND touched_ms < ?"
                        " AND NOT EXISTS (SELECT 1 FROM blob_owners WHERE digest = ?)",
                        (digest, cutoff_ms, digest),
                    )
                    if cursor.rowcount != 1:
                        continue
                    deleted += 1
                    final, trash = self.path_of(digest), self._tmp / f"del-{uuid.uuid4().hex}"
                    with contextlib.suppress(FileNotFoundError):  # a file already gone stays gone
                        os.replace(final, trash)
                        trashed.append((final, trash))
        except BaseException:
            for final, trash in trashed:  # rolled back: the rows are back, so are their files
                with contextlib.suppress(OSError):
                    os.replace(trash, final)
            raise
        for _, trash in trashed:
            with contextlib.suppress(OSError):
                trash.unlink()
        return deleted

    def _sweep_temporaries(self, grace_ms: int) -> None:
        """Remove files interrupted puts and collects left in ``tmp/``, once older than the grace
        by the file system's clock (a put in flight has a fresh one)."""
        horizon = time.time() - grace_ms / 1000
        with contextlib.suppress(OSError):
            for entry in os.scandir(self._tmp):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < horizon:
                        os.unlink(entry.path)

    def _ping(self) -> None:
        with self._lock, _os_errors():
            self._db.execute("SELECT 1").fetchone()

    def _close(self) -> None:
        with self._lock:
            self._db.close()


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """Raise a failing disk or database as BlobsUnavailable."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        raise BlobsUnavailable(f"blobs: {exc}") from exc


def _fsync_folder(folder: Path) -> None:
    """Make a rename into ``folder`` durable (POSIX: fsync the directory)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check(root: Path) -> Finding:
    """For ``tsudoi doctor``: the blob folder is usable. Reads only, and creates nothing: no
    folder yet is fine (nothing was stored; the server makes it when it opens the store)."""
    try:
        if not root.exists():
            return Finding("blobs", True, f"local files at {root}: none stored yet")
        refs = root / "refs.sqlite3"
        if not refs.exists():
            return Finding(
                "blobs", False, f"{root} has no reference database refs.sqlite3: restore it with the files"
            )
        writable = os.access(root, os.W_OK) and os.access(root / "tmp", os.W_OK)
    except OSError as exc:  # a folder on the way that may not be read
        return Finding("blobs", False, f"cannot read the blob folder {root}: {exc.strerror}")
    if not writable:
        return Finding("blobs", False, f"{root} is not writable by this user: pictures could not be stored")
    try:
        db = sqlite3.connect(f"file:{refs}?mode=ro", uri=True, timeout=5)
        try:
            count, size = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM blobs").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Finding("blobs", False, f"cannot read {refs}: {exc}")
    return Finding("blobs", True, f"local files at {root}: {count} blobs, {_megabytes(size)}")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
