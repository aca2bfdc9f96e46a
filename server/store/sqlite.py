"""The embedded default Storage: one SQLite file in WAL mode, driven from worker threads.

Threads: SQLite calls block, so none runs on the event loop. All writes go through one writer
thread (SQLite admits one writer at a time anyway) with its own connection; this also makes the
writer the single source of ids, so ids are handed out in commit order and "everything after
cursor X" is exact. Reads run on a small pool of reader threads, each with its own connection;
WAL lets them read while the writer writes.

Durability: ``synchronous=FULL`` by default, so a write has reached the disk when the method
returns. ``TSUDOI_SQLITE_SYNCHRONOUS=normal`` trades the last transactions on power loss (never
on a process crash) for fewer fsyncs.

Schema changes are numbered files in ``sqlite_migrations/``; ``PRAGMA user_version`` records
the last one applied.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ..ids import IdGenerator
from .base import (
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    NewUser,
    PostRecord,
    SessionRecord,
    StorageUnavailable,
    StreamItem,
    UserRecord,
)

__all__ = ["SqliteStorage"]

_T = TypeVar("_T")
_READERS = 2
_USER_COLUMNS = (
    "id, handle, display_name, password_hash, birth_date, created_ms, invited_by, operator, verified, bot"
)
_POST_COLUMNS = "id, author_id, text, emotext, reply_to, created_ms, deleted_pos"
_INVITE_COLUMNS = "code, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator"
_SESSION_COLUMNS = "id, user_id, created_ms, expires_ms, revoked_ms"
# The authors on a user's following stream: the user and everyone they follow.
_AUTHORS = "SELECT followee_id FROM follows WHERE follower_id = :user UNION ALL SELECT :user"


def _user(row: sqlite3.Row) -> UserRecord:
    return UserRecord(
        id=row[0],
        handle=row[1],
        display_name=row[2],
        password_hash=row[3],
        birth_date=row[4],
        created_ms=row[5],
        invited_by=row[6],
        operator=bool(row[7]),
        verified=bool(row[8]),
        bot=bool(row[9]),
    )


def _post(row: sqlite3.Row | tuple[Any, ...]) -> PostRecord:
    return PostRecord(*row[:7])


def _invite(row: sqlite3.Row) -> InviteRecord:
    return InviteRecord(*row[:6], grants_operator=bool(row[6]))


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(*row)


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files(__package__) / "sqlite_migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class SqliteStorage:
    """Storage on one SQLite file. Build with :meth:`open`."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self._path = path
        self._synchronous = synchronous
        self._ids = IdGenerator()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="sqlite-reader")

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "full") -> SqliteStorage:
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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            # Other processes (the admin CLI, other workers) may hold the write lock briefly.
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, functools.partial(fn, *args))
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

    def _migrate(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for number, script in _migrations():
            if number > version:
                # executescript would COMMIT our transaction; run statement by statement.
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # --- users and invites -----------------------------------------------------------------

    async def count_users(self) -> int:
        row = await self._read(lambda c: c.execute("SELECT count(*) FROM users").fetchone())
        return int(row[0])

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> InviteRecord:
        def write(conn: sqlite3.Connection) -> InviteRecord:
            if max_unused is not None:
                (held,) = conn.execute(
                    "SELECT count(*) FROM invites WHERE inviter_id IS ? AND used_by IS NULL "
                    "AND expires_ms > ?",
                    (inviter_id, now_ms),
                ).fetchone()
                if held >= max_unused:
                    raise InviteLimitReached
            invite = InviteRecord(
                code=secrets.token_urlsafe(16),
                inviter_id=inviter_id,
                created_ms=now_ms,
                expires_ms=now_ms + ttl_ms,
                used_by=None,
                used_ms=None,
                grants_operator=grants_operator,
            )
            conn.execute(
                f"INSERT INTO invites ({_INVITE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    invite.code,
                    invite.inviter_id,
                    invite.created_ms,
                    invite.expires_ms,
                    None,
                    None,
                    int(grants_operator),
                ),
            )
            return invite

        return await self._write(write)

    async def get_invite(self, code: str) -> InviteRecord | None:
        def read(conn: sqlite3.Connection) -> InviteRecord | None:
            row = conn.execute(f"SELECT {_INVITE_COLUMNS} FROM invites WHERE code = ?", (code,)).fetchone()
            return _invite(row) if row else None

        return await self._read(read)

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[InviteRecord]:
        def read(conn: sqlite3.Connection) -> list[InviteRecord]:
            rows = conn.execute(
                f"SELECT {_INVITE_COLUMNS} FROM invites WHERE inviter_id = ? "
                "ORDER BY created_ms DESC, rowid DESC LIMIT ?",
                (inviter_id, limit),
            ).fetchall()
            return [_invite(row) for row in rows]

        return await self._read(read)

    async def create_user(self, new: NewUser, *, invite_code: str, now_ms: int) -> UserRecord:
        def write(conn: sqlite3.Connection) -> UserRecord:
            row = conn.execute(
                f"SELECT {_INVITE_COLUMNS} FROM invites WHERE code = ?", (invite_code,)
            ).fetchone()
            if row is None:
                raise InviteNotFound
            invite = _invite(row)
            if invite.used_by is not None:
                raise InviteUsed
            if invite.expires_ms <= now_ms:
                raise InviteExpired
            handle_key = new.handle.lower()
            if conn.execute("SELECT 1 FROM users WHERE handle_key = ?", (handle_key,)).fetchone():
                raise HandleTaken
            user = UserRecord(
                id=self._ids.new(now_ms),
                handle=new.handle,
                display_name=new.display_name,
                password_hash=new.password_hash,
                birth_date=new.birth_date,
                created_ms=now_ms,
                invited_by=invite.inviter_id,
                operator=invite.grants_operator,
                verified=False,
                bot=False,
            )
            conn.execute(
                "INSERT INTO users (id, handle, handle_key, display_name, password_hash, "
                "birth_date, terms_accepted_ms, created_ms, invited_by, operator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.handle,
                    handle_key,
                    user.display_name,
                    user.password_hash,
                    user.birth_date,
                    now_ms,
                    now_ms,
                    user.invited_by,
                    int(user.operator),
                ),
            )
            conn.execute(
                "UPDATE invites SET used_by = ?, used_ms = ? WHERE code = ?",
                (user.id, now_ms, invite_code),
            )
            if invite.inviter_id is not None:
                conn.execute(
                    "INSERT INTO follows (follower_id, followee_id, created_ms) VALUES (?, ?, ?)",
                    (user.id, invite.inviter_id, now_ms),
                )
            return user

        return await self._write(write)

    async def get_user(self, user_id: str) -> UserRecord | None:
        def read(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
            return _user(row) if row else None

        return await self._read(read)

    async def get_user_by_handle(self, handle: str) -> UserRecord | None:
        def read(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE handle_key = ?", (handle.lower(),)
            ).fetchone()
            return _user(row) if row else None

        return await self._read(read)

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, UserRecord]:
            found: dict[str, UserRecord] = {}
            # SQLite caps bound parameters (32766 since 3.32); stay far below.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id IN ({marks})", chunk):
                    found[row[0]] = _user(row)
            return found

        return await self._read(read)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._write(
            lambda c: c.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
        )

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int
    ) -> SessionRecord:
        def write(conn: sqlite3.Connection) -> SessionRecord:
            session = SessionRecord(self._ids.new(now_ms), user_id, now_ms, now_ms + ttl_ms, None)
            conn.execute(
                "INSERT INTO sessions (id, token_hash, user_id, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (session.id, token_hash, user_id, now_ms, session.expires_ms),
            )
            return session

        return await self._write(write)

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        def read(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return _session(row) if row else None

        return await self._read(read)

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        def write(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                f"UPDATE sessions SET revoked_ms = ? WHERE token_hash = ? AND revoked_ms IS NULL "
                f"RETURNING {_SESSION_COLUMNS}",
                (now_ms, token_hash),
            ).fetchone()
            return _session(row) if row else None

        return await self._write(write)

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        def write(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "UPDATE sessions SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL RETURNING id",
                (now_ms, user_id),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._write(write)

    # --- follows -----------------------------------------------------------------------------

    async def follow(self, follower_id: str, followee_id: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO follows (follower_id, followee_id, created_ms) VALUES (?, ?, ?)",
                (follower_id, followee_id, now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                (follower_id, followee_id),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def followee_ids(self, user_id: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT followee_id FROM follows WHERE follower_id = ?", (user_id,)
            ).fetchall()
            return [row[0] for row in rows]

        return await self._read(read)

    async def follow_state(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        def read(conn: sqlite3.Connection) -> tuple[bool, bool]:
            query = "SELECT 1 FROM follows WHERE follower_id = ? AND followee_id = ?"
            following = conn.execute(query, (viewer_id, user_id)).fetchone() is not None
            followed_by = conn.execute(query, (user_id, viewer_id)).fetchone() is not None
            return following, followed_by

        return await self._read(read)

    async def follow_counts(self, user_id: str) -> tuple[int, int]:
        def read(conn: sqlite3.Connection) -> tuple[int, int]:
            (followers,) = conn.execute(
                "SELECT count(*) FROM follows WHERE followee_id = ?", (user_id,)
            ).fetchone()
            (following,) = conn.execute(
                "SELECT count(*) FROM follows WHERE follower_id = ?", (user_id,)
            ).fetchone()
            return int(followers), int(following)

        return await self._read(read)

    # --- posts -------------------------------------------------------------------------------

    async def create_post(
        self,
        *,
        author_id: str,
        text: str,
        emotext: str | None,
        reply_to: str | None,
        now_ms: int,
    ) -> PostRecord:
        def write(conn: sqlite3.Connection) -> PostRecord:
            post = PostRecord(self._ids.new(now_ms), author_id, text, emotext, reply_to, now_ms, None)
            conn.execute(
                f"INSERT INTO posts ({_POST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (post.id, author_id, text, emotext, reply_to, now_ms),
            )
            return post

        return await self._write(write)

    async def get_post(self, post_id: str) -> PostRecord | None:
        def read(conn: sqlite3.Connection) -> PostRecord | None:
            row = conn.execute(f"SELECT {_POST_COLUMNS} FROM posts WHERE id = ?", (post_id,)).fetchone()
            return _post(row) if row else None

        return await self._read(read)

    async def delete_post(self, post_id: str) -> PostRecord | None:
        def write(conn: sqlite3.Connection) -> PostRecord | None:
            row = conn.execute(
                f"UPDATE posts SET deleted_pos = ? WHERE id = ? AND deleted_pos IS NULL "
                f"RETURNING {_POST_COLUMNS}",
                (self._ids.new(), post_id),
            ).fetchone()
            return _post(row) if row else None

        return await self._write(write)

    async def posts_by_author_after(self, author_id: str, *, after: str, limit: int) -> list[PostRecord]:
        def read(conn: sqlite3.Connection) -> list[PostRecord]:
            rows = conn.execute(
                f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = ? AND id > ? "
                "AND deleted_pos IS NULL ORDER BY id LIMIT ?",
                (author_id, after, limit),
            ).fetchall()
            return [_post(row) for row in rows]

        return await self._read(read)

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        def read(conn: sqlite3.Connection) -> list[PostRecord]:
            rows = conn.execute(
                f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id IN ({_AUTHORS}) "
                "AND deleted_pos IS NULL AND (:before IS NULL OR id < :before) "
                "ORDER BY id DESC LIMIT :limit",
                {"user": user_id, "before": before, "limit": limit},
            ).fetchall()
            return [_post(row) for row in rows]

        return await self._read(read)

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        def read(conn: sqlite3.Connection) -> list[StreamItem]:
            rows = conn.execute(
                f"SELECT id AS pos, 0 AS deleted, {_POST_COLUMNS} FROM posts "
                f"WHERE author_id IN ({_AUTHORS}) AND id > :after AND deleted_pos IS NULL "
                "UNION ALL "
                f"SELECT deleted_pos AS pos, 1 AS deleted, {_POST_COLUMNS} FROM posts "
                f"WHERE author_id IN ({_AUTHORS}) AND deleted_pos > :after AND id <= :after "
                "ORDER BY pos LIMIT :limit",
                {"user": user_id, "after": after, "limit": limit},
            ).fetchall()
            return [StreamItem(row[0], _post(row[2:]), bool(row[1])) for row in rows]

        return await self._read(read)


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside literals in our migrations)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
