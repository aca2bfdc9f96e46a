"""The machinery under every area of the SQLite adapter: one connection per thread, the writer
thread and the reader pool, transactions, and the numbered migrations in ``migrations/``.

Why one writer and several readers, and what ``synchronous`` trades: :mod:`server.store.sqlite`.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Self, TypeVar

from protocol.text import hashtags

from ...config import Settings
from ...health import Finding
from ...ids import IdGenerator
from ...search import fold, gram_document
from ..base import StorageUnavailable, token_hash
from .pool import ThreadPool

_T = TypeVar("_T")
_Params = Sequence[Any] | Mapping[str, Any]
_READERS = 2


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files(__package__) / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Engine:
    """One SQLite file behind a writer thread and a pool of readers; every area of
    :class:`~server.store.sqlite.SqliteStorage` builds on it. Build with :meth:`open`."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self._path = path
        self._synchronous = synchronous
        self._ids = IdGenerator()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Not loop.run_in_executor: a hop through ThreadPool costs a fraction of the CPU (pool.py).
        self._writer = ThreadPool(1, "sqlite-writer")
        self._readers = ThreadPool(_READERS, "sqlite-reader")

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "full") -> Self:
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, synchronous)
        await store._write(store._migrate)
        return store

    # --- plumbing --------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: transactions are begun explicitly below.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            # Rows are read by column name (server.store.sqlite.rows), so a reordered SELECT
            # cannot silently swap two fields of a record.
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            # Other processes (the admin CLI, other workers) may hold the write lock briefly.
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _run(self, pool: ThreadPool, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await pool.run(functools.partial(fn, *args))
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StorageUnavailable(f"sqlite: {exc}") from exc

    async def _read(self, fn: Callable[..., _T], *args: Any) -> _T:
        def run() -> _T:
            return fn(self._connection(), *args)

        return await self._run(self._readers, run)

    async def _write(self, fn: Callable[..., _T], *args: Any) -> _T:
        def run() -> _T:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(self._writer, run)

    async def _all(self, sql: str, params: _Params = ()) -> list[sqlite3.Row]:
        return await self._read(lambda conn: conn.execute(sql, params).fetchall())

    async def _exists(self, sql: str, params: _Params = ()) -> bool:
        return await self._read(lambda conn: conn.execute(sql, params).fetchone() is not None)

    async def _change(self, sql: str, params: _Params = ()) -> int:
        """Run one writing statement; the number of rows it changed."""
        return await self._write(lambda conn: conn.execute(sql, params).rowcount)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # Migrations that hash stored secrets (0009, invite codes) run with secure_delete on, so
        # that the pages they free (which held the secrets) are zeroed rather than left in the
        # file; the connection's own setting is restored after.
        add_migration_functions(conn)
        (secure_delete,) = conn.execute("PRAGMA secure_delete").fetchone()
        conn.execute("PRAGMA secure_delete = ON")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            for number, script in _migrations():
                if number > version:
                    # executescript would COMMIT our transaction; run statement by statement.
                    for statement in _split_sql(script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={number}")
        finally:
            conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")

    async def close(self) -> None:
        self._writer.shutdown()
        self._readers.shutdown()
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())


def check(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: the database file is there, readable, and at this version's
    schema. Reads only, in read-only mode: unlike :meth:`Engine.open` it creates nothing (a data
    folder with no database is a finding, not a reason to make one)."""
    path = settings.database_path
    try:
        found = path.exists()
    except OSError as exc:  # a folder on the way that may not be read
        return Finding("storage", False, f"cannot read the data folder {settings.data_dir}: {exc.strerror}")
    if not found:
        return Finding(
            "storage", False, f"no SQLite database at {path}: start `tsudoi serve` once, or fix --data"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    except sqlite3.Error as exc:
        return Finding("storage", False, f"cannot read {path}: {exc}")
    latest = max(number for number, _ in _migrations())
    if version < latest:
        return Finding(
            "storage",
            False,
            f"{path} is at schema {version}, this version needs {latest}: start the server to migrate",
        )
    if version > latest:
        return Finding(
            "storage",
            False,
            f"{path} is at schema {version}, newer than this Tsudoi ({latest}): upgrade Tsudoi",
        )
    return Finding(
        "storage", True, f"SQLite {sqlite3.sqlite_version} at {path}, schema {version}, journal {mode}"
    )


def _hashtags_json(text: str) -> str:
    return json.dumps(hashtags(text))


def add_migration_functions(conn: sqlite3.Connection) -> None:
    """The functions migrations call, so that what they compute from stored rows is what the
    adapter computes for new ones: 0009 hashes invite codes with the port's own hash; 0011
    (search) folds text; 0012 (hashtags) finds tags by the grammar new posts are tagged by."""
    conn.create_function("tsudoi_sha256", 1, token_hash, deterministic=True)
    conn.create_function("tsudoi_search_fold", 1, fold, deterministic=True)
    conn.create_function("tsudoi_search_grams", 1, gram_document, deterministic=True)
    conn.create_function("tsudoi_hashtags", 1, _hashtags_json, deterministic=True)


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside literals in our migrations)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
