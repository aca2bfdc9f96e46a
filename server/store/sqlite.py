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
the last one applied. Each index there says which query it serves; the following stream and
timeline read, per source (an author outside communities, a community), only the newest or next
few entries of a partial index, which SQLite's ORDER BY ... LIMIT over an IN list does by itself.

Lists of ids are bound as one JSON array and read with ``json_each``, so no query has a
variable number of parameters.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ..ids import IdGenerator, floor_id
from .base import (
    BlockOutcome,
    CommunityRecord,
    ConversationMemberRecord,
    ConversationRecord,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    JoinRequestRecord,
    MembershipRecord,
    MessageRecord,
    NewNotification,
    NewUser,
    NotFound,
    NotificationRecord,
    PostRecord,
    ReportRecord,
    SessionRecord,
    StorageUnavailable,
    StreamItem,
    UserRecord,
)

__all__ = ["SqliteStorage"]

_T = TypeVar("_T")
_Params = Sequence[Any] | Mapping[str, Any]
_READERS = 2
_USER_COLUMNS = (
    "id, handle, display_name, password_hash, birth_date, created_ms, invited_by, operator, verified, bot, "
    "dm_policy"
)
_POST_COLUMNS = (
    "id, author_id, text, emotext, reply_to, created_ms, deleted_pos, community_id, repost_of, quote_of, "
    "announcement"
)
_INVITE_COLUMNS = "code, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator"
_SESSION_COLUMNS = "id, user_id, created_ms, expires_ms, revoked_ms"
_COMMUNITY_COLUMNS = (
    "id, name, description, tags, approval_required, certified, owner_id, created_ms, member_count"
)
_MEMBERSHIP_COLUMNS = "id, community_id, user_id, role, joined_ms"
_CONVERSATION_COLUMNS = "id, kind, title, owner_id, created_ms, last_message_id"
_CONVERSATION_MEMBER_COLUMNS = "conversation_id, user_id, joined_ms, last_read"
_MESSAGE_COLUMNS = "id, conversation_id, author_id, kind, text, subject_id, created_ms"
_NOTIFICATION_COLUMNS = "id, user_id, kind, actor_id, post_id, community_id, emoji, created_ms, read"
_REPORT_COLUMNS = "id, reporter_id, post_id, user_id, reason, created_ms, resolved_ms"
_DROP_JOIN_REQUEST = "DELETE FROM join_requests WHERE community_id = ? AND user_id = ?"

# A user's circle (base.py): the authors whose posts outside communities they see (themselves
# and everyone they follow), and the communities they are a member of.
_AUTHORS = "SELECT followee_id FROM follows WHERE follower_id = :user UNION ALL SELECT :user"
_COMMUNITIES = "SELECT community_id FROM memberships WHERE user_id = :user"


def _circle(columns: str, condition: str) -> str:
    """The posts of a user's circle meeting ``condition``: one SELECT per kind of source, each
    served by its partial index (0002_gatherings.sql), whose WHERE the condition must repeat
    (``deleted_pos IS NULL`` for standing posts)."""
    return (
        f"SELECT {columns} FROM posts WHERE community_id IS NULL AND author_id IN ({_AUTHORS}) "
        f"AND {condition} UNION ALL "
        f"SELECT {columns} FROM posts WHERE community_id IN ({_COMMUNITIES}) AND {condition}"
    )


_FOLLOWING_TIMELINE = (
    _circle(_POST_COLUMNS, "deleted_pos IS NULL AND id < :before") + " ORDER BY id DESC LIMIT :limit"
)
_FOLLOWING_STREAM = (
    _circle(f"id AS pos, 0 AS deleted, {_POST_COLUMNS}", "deleted_pos IS NULL AND id > :after")
    + " UNION ALL "
    + _circle(f"deleted_pos, 1, {_POST_COLUMNS}", "deleted_pos > :after AND id <= :after")
    + " ORDER BY pos LIMIT :limit"
)
# Discover's candidates: the window's standing originals from outside the circle. An id never
# sorts before its post's creation millisecond (server.ids), so the id range walks the primary key
# back from the newest post and stops at the window's start; a community post costs one lookup
# of its community.
_DISCOVER = (
    f"SELECT {_POST_COLUMNS} FROM posts "
    "WHERE id >= :floor AND created_ms >= :since AND deleted_pos IS NULL "
    "AND reply_to IS NULL AND repost_of IS NULL "
    f"AND (community_id IS NULL AND author_id NOT IN ({_AUTHORS}) "
    f"OR community_id NOT IN ({_COMMUNITIES}) "
    "AND (SELECT approval_required FROM communities WHERE id = posts.community_id) = 0) "
    "ORDER BY id DESC LIMIT :limit"
)
# Bounds for optional cursors: every id (Crockford base32, upper case) sorts after "" and before "~".
_BELOW_EVERY_ID = ""
_ABOVE_EVERY_ID = "~"


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
        dm_policy=row[10],
    )


def _post(row: sqlite3.Row | tuple[Any, ...]) -> PostRecord:
    return PostRecord(
        id=row[0],
        author_id=row[1],
        text=row[2],
        emotext=row[3],
        reply_to=row[4],
        created_ms=row[5],
        deleted_pos=row[6],
        community_id=row[7],
        repost_of=row[8],
        quote_of=row[9],
        announcement=bool(row[10]),
    )


def _invite(row: sqlite3.Row) -> InviteRecord:
    return InviteRecord(*row[:6], grants_operator=bool(row[6]))


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(*row)


def _community(row: tuple[Any, ...]) -> CommunityRecord:
    return CommunityRecord(
        id=row[0],
        name=row[1],
        description=row[2],
        tags=tuple(json.loads(row[3])),
        approval_required=bool(row[4]),
        certified=bool(row[5]),
        owner_id=row[6],
        created_ms=row[7],
        member_count=row[8],
    )


def _notification(row: tuple[Any, ...]) -> NotificationRecord:
    return NotificationRecord(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        actor_id=row[3],
        post_id=row[4],
        community_id=row[5],
        emoji=row[6],
        created_ms=row[7],
        read=bool(row[8]),
    )


def _json(values: Iterable[str]) -> str:
    """A list of ids or names, bound as one parameter and read with ``json_each``."""
    return json.dumps(list(values))


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

    async def _all(self, sql: str, params: _Params = ()) -> list[tuple[Any, ...]]:
        return await self._read(lambda conn: conn.execute(sql, params).fetchall())

    async def _exists(self, sql: str, params: _Params = ()) -> bool:
        return await self._read(lambda conn: conn.execute(sql, params).fetchone() is not None)

    async def _change(self, sql: str, params: _Params = ()) -> int:
        """Run one writing statement; the number of rows it changed."""
        return await self._write(lambda conn: conn.execute(sql, params).rowcount)

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

    async def set_verified(self, user_id: str, verified: bool) -> bool:
        return await self._change("UPDATE users SET verified = ? WHERE id = ?", (int(verified), user_id)) == 1

    async def set_dm_policy(self, user_id: str, policy: str) -> None:
        await self._change("UPDATE users SET dm_policy = ? WHERE id = ?", (policy, user_id))

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
        community_id: str | None = None,
        repost_of: str | None = None,
        quote_of: str | None = None,
        announcement: bool = False,
    ) -> PostRecord:
        def write(conn: sqlite3.Connection) -> PostRecord:
            post = PostRecord(
                id=self._ids.new(now_ms),
                author_id=author_id,
                text=text,
                emotext=emotext,
                reply_to=reply_to,
                created_ms=now_ms,
                deleted_pos=None,
                community_id=community_id,
                repost_of=repost_of,
                quote_of=quote_of,
                announcement=announcement,
            )
            conn.execute(
                f"INSERT INTO posts ({_POST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                (
                    post.id,
                    author_id,
                    text,
                    emotext,
                    reply_to,
                    now_ms,
                    community_id,
                    repost_of,
                    quote_of,
                    int(announcement),
                ),
            )
            return post

        return await self._write(write)

    async def get_post(self, post_id: str) -> PostRecord | None:
        def read(conn: sqlite3.Connection) -> PostRecord | None:
            row = conn.execute(f"SELECT {_POST_COLUMNS} FROM posts WHERE id = ?", (post_id,)).fetchone()
            return _post(row) if row else None

        return await self._read(read)

    async def get_posts(self, post_ids: list[str]) -> dict[str, PostRecord]:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE id IN (SELECT value FROM json_each(?))",
            (_json(post_ids),),
        )
        return {row[0]: _post(row) for row in rows}

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
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = ? AND community_id IS NULL "
            "AND deleted_pos IS NULL AND id > ? ORDER BY id LIMIT ?",
            (author_id, after, limit),
        )
        return [_post(row) for row in rows]

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        rows = await self._all(
            _FOLLOWING_TIMELINE, {"user": user_id, "before": before or _ABOVE_EVERY_ID, "limit": limit}
        )
        return [_post(row) for row in rows]

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        rows = await self._all(_FOLLOWING_STREAM, {"user": user_id, "after": after, "limit": limit})
        return [StreamItem(row[0], _post(row[2:]), bool(row[1])) for row in rows]

    async def find_repost(self, user_id: str, post_id: str) -> PostRecord | None:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = ? AND repost_of = ? "
            "AND deleted_pos IS NULL ORDER BY id DESC LIMIT 1",
            (user_id, post_id),
        )
        return _post(rows[0]) if rows else None

    async def replies(self, post_id: str, *, after: str | None, limit: int) -> list[PostRecord]:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE reply_to = ? AND deleted_pos IS NULL AND id > ? "
            "ORDER BY id LIMIT ?",
            (post_id, after or _BELOW_EVERY_ID, limit),
        )
        return [_post(row) for row in rows]

    async def community_timeline(
        self, community_id: str, *, before: str | None, limit: int
    ) -> list[PostRecord]:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE community_id = ? AND deleted_pos IS NULL AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (community_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [_post(row) for row in rows]

    async def community_posts_after(self, community_id: str, *, after: str, limit: int) -> list[PostRecord]:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE community_id = ? AND deleted_pos IS NULL AND id > ? "
            "ORDER BY id LIMIT ?",
            (community_id, after, limit),
        )
        return [_post(row) for row in rows]

    async def discover_candidates(self, user_id: str, *, since_ms: int, limit: int) -> list[PostRecord]:
        rows = await self._all(
            _DISCOVER, {"user": user_id, "floor": floor_id(since_ms), "since": since_ms, "limit": limit}
        )
        return [_post(row) for row in rows]

    # --- reactions ---------------------------------------------------------------------------

    async def add_reaction(self, post_id: str, user_id: str, emoji: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO reactions (post_id, user_id, emoji, id, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (post_id, user_id, emoji, self._ids.new(now_ms), now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def remove_reaction(self, post_id: str, user_id: str, emoji: str) -> bool:
        removed = await self._change(
            "DELETE FROM reactions WHERE post_id = ? AND user_id = ? AND emoji = ?", (post_id, user_id, emoji)
        )
        return removed == 1

    async def reaction_counts(self, post_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        rows = await self._all(
            "SELECT post_id, emoji, count(*), min(created_ms) AS first_ms FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) "
            "GROUP BY post_id, emoji ORDER BY post_id, first_ms, emoji",
            (_json(post_ids),),
        )
        counts: dict[str, list[tuple[str, int]]] = {}
        for post_id, emoji, count, _ in rows:
            counts.setdefault(post_id, []).append((emoji, count))
        return counts

    async def my_reactions(self, user_id: str, post_ids: list[str]) -> dict[str, list[str]]:
        rows = await self._all(
            "SELECT post_id, emoji FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) AND user_id = ? ORDER BY id",
            (_json(post_ids), user_id),
        )
        mine: dict[str, list[str]] = {}
        for post_id, emoji in rows:
            mine.setdefault(post_id, []).append(emoji)
        return mine

    async def reaction_counts_by(self, user_ids: list[str], post_ids: list[str]) -> dict[str, int]:
        rows = await self._all(
            "SELECT post_id, count(DISTINCT user_id) FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) "
            "AND user_id IN (SELECT value FROM json_each(?)) GROUP BY post_id",
            (_json(post_ids), _json(user_ids)),
        )
        return dict(rows)

    # --- communities -------------------------------------------------------------------------

    async def create_community(
        self,
        *,
        owner_id: str,
        name: str,
        description: str,
        tags: list[str],
        approval_required: bool,
        now_ms: int,
    ) -> CommunityRecord:
        def write(conn: sqlite3.Connection) -> CommunityRecord:
            community = CommunityRecord(
                id=self._ids.new(now_ms),
                name=name,
                description=description,
                tags=tuple(tags),
                approval_required=approval_required,
                certified=False,
                owner_id=owner_id,
                created_ms=now_ms,
                member_count=1,
            )
            conn.execute(  # with no member yet: _join below adds the owner and counts them
                f"INSERT INTO communities ({_COMMUNITY_COLUMNS}, name_key) "
                "VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
                (
                    community.id,
                    name,
                    description,
                    json.dumps(tags, ensure_ascii=False),
                    int(approval_required),
                    owner_id,
                    now_ms,
                    name.casefold(),
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO community_tags (tag, community_id) VALUES (?, ?)",
                [(tag, community.id) for tag in tags],
            )
            self._join(conn, community.id, owner_id, "owner", now_ms)
            return community

        return await self._write(write)

    async def get_community(self, community_id: str) -> CommunityRecord | None:
        found = await self.get_communities([community_id])
        return found.get(community_id)

    async def get_communities(self, community_ids: list[str]) -> dict[str, CommunityRecord]:
        rows = await self._all(
            f"SELECT {_COMMUNITY_COLUMNS} FROM communities WHERE id IN (SELECT value FROM json_each(?))",
            (_json(community_ids),),
        )
        return {row[0]: _community(row) for row in rows}

    async def search_communities(
        self, *, query: str, tag: str | None, offset: int, limit: int
    ) -> list[CommunityRecord]:
        rows = await self._all(
            f"SELECT {_COMMUNITY_COLUMNS} FROM communities WHERE instr(name_key, :query) > 0 "
            "AND (:tag IS NULL OR id IN (SELECT community_id FROM community_tags WHERE tag = :tag)) "
            "ORDER BY member_count DESC, id LIMIT :limit OFFSET :offset",
            {"query": query.casefold(), "tag": tag, "limit": limit, "offset": offset},
        )
        return [_community(row) for row in rows]

    async def set_certified(self, community_id: str, certified: bool) -> bool:
        changed = await self._change(
            "UPDATE communities SET certified = ? WHERE id = ?", (int(certified), community_id)
        )
        return changed == 1

    async def membership(self, community_id: str, user_id: str) -> MembershipRecord | None:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE community_id = ? AND user_id = ?",
            (community_id, user_id),
        )
        return MembershipRecord(*rows[0]) if rows else None

    async def memberships_of(self, user_id: str) -> list[MembershipRecord]:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = ? ORDER BY id", (user_id,)
        )
        return [MembershipRecord(*row) for row in rows]

    async def add_member(
        self, community_id: str, user_id: str, *, role: str, now_ms: int
    ) -> MembershipRecord | None:
        def write(conn: sqlite3.Connection) -> MembershipRecord | None:
            found = conn.execute("SELECT 1 FROM communities WHERE id = ?", (community_id,)).fetchone()
            if found is None:
                raise NotFound(f"no community {community_id}")
            return self._join(conn, community_id, user_id, role, now_ms)

        return await self._write(write)

    def _join(
        self, conn: sqlite3.Connection, community_id: str, user_id: str, role: str, now_ms: int
    ) -> MembershipRecord | None:
        """Make the user a member (None if they are one) and drop their join request."""
        membership = MembershipRecord(self._ids.new(now_ms), community_id, user_id, role, now_ms)
        cursor = conn.execute(
            f"INSERT OR IGNORE INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (membership.id, community_id, user_id, role, now_ms),
        )
        if cursor.rowcount == 0:
            return None
        conn.execute("UPDATE communities SET member_count = member_count + 1 WHERE id = ?", (community_id,))
        conn.execute(_DROP_JOIN_REQUEST, (community_id, user_id))
        return membership

    @staticmethod
    def _leave(conn: sqlite3.Connection, community_id: str, user_id: str) -> bool:
        cursor = conn.execute(
            "DELETE FROM memberships WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )
        if cursor.rowcount == 0:
            return False
        conn.execute("UPDATE communities SET member_count = member_count - 1 WHERE id = ?", (community_id,))
        return True

    async def remove_member(self, community_id: str, user_id: str) -> bool:
        return await self._write(self._leave, community_id, user_id)

    async def set_role(self, community_id: str, user_id: str, role: str) -> bool:
        changed = await self._change(
            "UPDATE memberships SET role = ? WHERE community_id = ? AND user_id = ?",
            (role, community_id, user_id),
        )
        return changed == 1

    async def transfer_ownership(self, community_id: str, from_id: str, to_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            owner = conn.execute("SELECT owner_id FROM communities WHERE id = ?", (community_id,)).fetchone()
            if from_id == to_id or owner is None or owner[0] != from_id:
                return False
            set_role = "UPDATE memberships SET role = ? WHERE community_id = ? AND user_id = ?"
            if conn.execute(set_role, ("owner", community_id, to_id)).rowcount == 0:
                return False  # not a member: nothing was written
            conn.execute(set_role, ("moderator", community_id, from_id))
            conn.execute("UPDATE communities SET owner_id = ? WHERE id = ?", (to_id, community_id))
            return True

        return await self._write(write)

    async def members(self, community_id: str, *, after: str | None, limit: int) -> list[MembershipRecord]:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE community_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (community_id, after or _BELOW_EVERY_ID, limit),
        )
        return [MembershipRecord(*row) for row in rows]

    async def member_ids(self, community_id: str, *, roles: tuple[str, ...] | None = None) -> list[str]:
        rows = await self._all(
            "SELECT user_id FROM memberships WHERE community_id = :community "
            "AND (:roles IS NULL OR role IN (SELECT value FROM json_each(:roles))) ORDER BY id",
            {"community": community_id, "roles": None if roles is None else _json(roles)},
        )
        return [row[0] for row in rows]

    async def add_join_request(self, community_id: str, user_id: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO join_requests (community_id, user_id, id, created_ms) "
                "VALUES (?, ?, ?, ?)",
                (community_id, user_id, self._ids.new(now_ms), now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def remove_join_request(self, community_id: str, user_id: str) -> bool:
        removed = await self._change(_DROP_JOIN_REQUEST, (community_id, user_id))
        return removed == 1

    async def join_requests(self, community_id: str, *, limit: int) -> list[JoinRequestRecord]:
        rows = await self._all(
            "SELECT community_id, user_id, created_ms FROM join_requests WHERE community_id = ? "
            "ORDER BY created_ms, id LIMIT ?",
            (community_id, limit),
        )
        return [JoinRequestRecord(*row) for row in rows]

    async def has_join_request(self, community_id: str, user_id: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM join_requests WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )

    async def ban(self, community_id: str, user_id: str, *, by: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO bans (community_id, user_id, by_id, created_ms) VALUES (?, ?, ?, ?)",
                (community_id, user_id, by, now_ms),
            )
            if cursor.rowcount == 0:
                return False
            self._leave(conn, community_id, user_id)
            conn.execute(_DROP_JOIN_REQUEST, (community_id, user_id))
            return True

        return await self._write(write)

    async def unban(self, community_id: str, user_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM bans WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )
        return removed == 1

    async def is_banned(self, community_id: str, user_id: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM bans WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )

    # --- conversations -----------------------------------------------------------------------

    async def create_conversation(
        self,
        *,
        kind: str,
        owner_id: str,
        member_ids: list[str],
        title: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord | None]:
        members = list(dict.fromkeys(member_ids))
        pair_key = ":".join(sorted(members)) if kind == "direct" else None

        def write(conn: sqlite3.Connection) -> tuple[ConversationRecord, MessageRecord | None]:
            # Writes are serialised (one writer thread, BEGIN IMMEDIATE across processes), so
            # this check and the insert below make one direct conversation per pair; the unique
            # pair_key would refuse a second one anyway.
            if pair_key is not None:
                row = conn.execute(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE pair_key = ?", (pair_key,)
                ).fetchone()
                if row is not None:
                    return ConversationRecord(*row), None
            conversation_id = self._ids.new(now_ms)
            owner = owner_id if kind == "group" else None
            conn.execute(
                "INSERT INTO conversations (id, kind, title, owner_id, created_ms, last_message_id, pair_key) "
                "VALUES (?, ?, ?, ?, ?, '', ?)",  # last_message_id is set by _append below
                (conversation_id, kind, title, owner, now_ms, pair_key),
            )
            for user_id in members:
                self._add_participant(conn, conversation_id, user_id, now_ms)
            created = self._append(conn, conversation_id, owner_id, "created", "", None, now_ms)
            record = ConversationRecord(conversation_id, kind, title, owner, now_ms, created.id)
            return record, created

        return await self._write(write)

    def _add_participant(
        self, conn: sqlite3.Connection, conversation_id: str, user_id: str, now_ms: int
    ) -> bool:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO conversation_members (conversation_id, user_id, id, joined_ms) "
            "VALUES (?, ?, ?, ?)",
            (conversation_id, user_id, self._ids.new(now_ms), now_ms),
        )
        return cursor.rowcount == 1

    def _append(
        self,
        conn: sqlite3.Connection,
        conversation_id: str,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
    ) -> MessageRecord:
        """Add a message and make it the conversation's last; NotFound without the conversation."""
        message = MessageRecord(
            self._ids.new(now_ms), conversation_id, author_id, kind, text, subject_id, now_ms
        )
        cursor = conn.execute(
            "UPDATE conversations SET last_message_id = ? WHERE id = ?", (message.id, conversation_id)
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no conversation {conversation_id}")
        conn.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (message.id, conversation_id, author_id, kind, text, subject_id, now_ms),
        )
        return message

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        rows = await self._all(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        return ConversationRecord(*rows[0]) if rows else None

    async def conversation_members(self, conversation_id: str) -> list[ConversationMemberRecord]:
        rows = await self._all(
            f"SELECT {_CONVERSATION_MEMBER_COLUMNS} FROM conversation_members WHERE conversation_id = ? "
            "ORDER BY id",
            (conversation_id,),
        )
        return [ConversationMemberRecord(*row) for row in rows]

    async def conversation_member(
        self, conversation_id: str, user_id: str
    ) -> ConversationMemberRecord | None:
        rows = await self._all(
            f"SELECT {_CONVERSATION_MEMBER_COLUMNS} FROM conversation_members "
            "WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, user_id),
        )
        return ConversationMemberRecord(*rows[0]) if rows else None

    async def conversations_of(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[ConversationRecord]:
        rows = await self._all(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "WHERE id IN (SELECT conversation_id FROM conversation_members WHERE user_id = ?) "
            "AND last_message_id < ? ORDER BY last_message_id DESC LIMIT ?",
            (user_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [ConversationRecord(*row) for row in rows]

    async def add_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
    ) -> MessageRecord:
        return await self._write(self._append, conversation_id, author_id, kind, text, subject_id, now_ms)

    async def add_conversation_members(
        self, conversation_id: str, user_ids: list[str], *, by: str, now_ms: int
    ) -> list[MessageRecord]:
        def write(conn: sqlite3.Connection) -> list[MessageRecord]:
            found = conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if found is None:
                raise NotFound(f"no conversation {conversation_id}")
            return [
                self._append(conn, conversation_id, by, "added", "", user_id, now_ms)
                for user_id in dict.fromkeys(user_ids)
                if self._add_participant(conn, conversation_id, user_id, now_ms)
            ]

        return await self._write(write)

    async def remove_conversation_member(
        self,
        conversation_id: str,
        user_id: str,
        *,
        by: str,
        kind: str,
        now_ms: int,
        new_owner_id: str | None = None,
    ) -> MessageRecord | None:
        def write(conn: sqlite3.Connection) -> MessageRecord | None:
            cursor = conn.execute(
                "DELETE FROM conversation_members WHERE conversation_id = ? AND user_id = ?",
                (conversation_id, user_id),
            )
            if cursor.rowcount == 0:
                return None
            if new_owner_id is not None:
                conn.execute(
                    "UPDATE conversations SET owner_id = ? WHERE id = ?", (new_owner_id, conversation_id)
                )
            return self._append(conn, conversation_id, by, kind, "", user_id, now_ms)

        return await self._write(write)

    async def messages(self, conversation_id: str, *, before: str | None, limit: int) -> list[MessageRecord]:
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (conversation_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [MessageRecord(*row) for row in rows]

    async def direct_stream_after(self, user_id: str, *, after: str, limit: int) -> list[MessageRecord]:
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            "WHERE conversation_id IN (SELECT conversation_id FROM conversation_members WHERE user_id = ?) "
            "AND id > ? ORDER BY id LIMIT ?",
            (user_id, after, limit),
        )
        return [MessageRecord(*row) for row in rows]

    async def set_last_read(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        moved = await self._change(
            "UPDATE conversation_members SET last_read = :message "
            "WHERE conversation_id = :conversation AND user_id = :user "
            "AND (last_read IS NULL OR last_read < :message)",
            {"message": message_id, "conversation": conversation_id, "user": user_id},
        )
        return moved == 1

    async def unread_counts(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        rows = await self._all(
            "SELECT m.conversation_id, (SELECT count(*) FROM messages WHERE conversation_id = m.conversation_id "
            "AND id > coalesce(m.last_read, '') AND kind = 'text' AND author_id != m.user_id) "
            "FROM conversation_members AS m "
            "WHERE m.user_id = ? AND m.conversation_id IN (SELECT value FROM json_each(?))",
            (user_id, _json(conversation_ids)),
        )
        return dict(rows)

    # --- notifications -----------------------------------------------------------------------

    async def add_notifications(self, new: list[NewNotification], now_ms: int) -> list[NotificationRecord]:
        def write(conn: sqlite3.Connection) -> list[NotificationRecord]:
            records = [
                NotificationRecord(
                    self._ids.new(now_ms),
                    n.user_id,
                    n.kind,
                    n.actor_id,
                    n.post_id,
                    n.community_id,
                    n.emoji,
                    now_ms,
                    read=False,
                )
                for n in new
            ]
            conn.executemany(
                f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [
                    (r.id, r.user_id, r.kind, r.actor_id, r.post_id, r.community_id, r.emoji, now_ms)
                    for r in records
                ],
            )
            return records

        return await self._write(write)

    async def notifications(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[NotificationRecord]:
        rows = await self._all(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (user_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [_notification(row) for row in rows]

    async def notifications_after(self, user_id: str, *, after: str, limit: int) -> list[NotificationRecord]:
        rows = await self._all(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (user_id, after, limit),
        )
        return [_notification(row) for row in rows]

    async def unread_notifications(self, user_id: str) -> int:
        rows = await self._all(
            "SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0", (user_id,)
        )
        return int(rows[0][0])

    async def mark_notification_read(self, user_id: str, notification_id: str) -> bool:
        changed = await self._change(
            "UPDATE notifications SET read = 1 WHERE id = ? AND user_id = ? AND read = 0",
            (notification_id, user_id),
        )
        return changed == 1

    async def mark_all_notifications_read(self, user_id: str) -> int:
        return await self._change(
            "UPDATE notifications SET read = 1 WHERE user_id = ? AND read = 0", (user_id,)
        )

    # --- blocks, mutes, reports --------------------------------------------------------------

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        def write(conn: sqlite3.Connection) -> BlockOutcome:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, id, created_ms) VALUES (?, ?, ?, ?)",
                (blocker_id, blocked_id, self._ids.new(now_ms), now_ms),
            )
            if cursor.rowcount == 0:
                return BlockOutcome(created=False, unfollowed=[])
            ended = conn.execute(
                "DELETE FROM follows WHERE follower_id = :a AND followee_id = :b "
                "OR follower_id = :b AND followee_id = :a RETURNING follower_id, followee_id",
                {"a": blocker_id, "b": blocked_id},
            ).fetchall()
            # The blocker's own follow first (RETURNING has no order of its own).
            pairs = sorted(((a, b) for a, b in ended), key=lambda pair: pair[0] != blocker_id)
            return BlockOutcome(created=True, unfollowed=pairs)

        return await self._write(write)

    async def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?", (blocker_id, blocked_id)
        )
        return removed == 1

    async def blocked_ids(self, user_id: str) -> list[str]:
        rows = await self._all(
            "SELECT blocked_id FROM blocks WHERE blocker_id = ? ORDER BY created_ms DESC, id DESC", (user_id,)
        )
        return [row[0] for row in rows]

    async def blocks_between(self, a: str, b: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM blocks WHERE blocker_id = :a AND blocked_id = :b "
            "OR blocker_id = :b AND blocked_id = :a",
            {"a": a, "b": b},
        )

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO mutes (user_id, target_id, id, created_ms) VALUES (?, ?, ?, ?)",
                (user_id, target_id, self._ids.new(now_ms), now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def unmute(self, user_id: str, target_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM mutes WHERE user_id = ? AND target_id = ?", (user_id, target_id)
        )
        return removed == 1

    async def muted_ids(self, user_id: str) -> list[str]:
        rows = await self._all(
            "SELECT target_id FROM mutes WHERE user_id = ? ORDER BY created_ms DESC, id DESC", (user_id,)
        )
        return [row[0] for row in rows]

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        rows = await self._all(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = :viewer AND blocked_id = :user), "
            "EXISTS (SELECT 1 FROM mutes WHERE user_id = :viewer AND target_id = :user)",
            {"viewer": viewer_id, "user": user_id},
        )
        return bool(rows[0][0]), bool(rows[0][1])

    async def hidden_ids(self, user_id: str) -> set[str]:
        rows = await self._all(
            "SELECT target_id FROM mutes WHERE user_id = :user "
            "UNION SELECT blocked_id FROM blocks WHERE blocker_id = :user "
            "UNION SELECT blocker_id FROM blocks WHERE blocked_id = :user",
            {"user": user_id},
        )
        return {row[0] for row in rows}

    async def create_report(
        self, *, reporter_id: str, post_id: str | None, user_id: str | None, reason: str, now_ms: int
    ) -> ReportRecord:
        def write(conn: sqlite3.Connection) -> ReportRecord:
            report = ReportRecord(self._ids.new(now_ms), reporter_id, post_id, user_id, reason, now_ms, None)
            conn.execute(
                f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (report.id, reporter_id, post_id, user_id, reason, now_ms),
            )
            return report

        return await self._write(write)

    async def reports(self, *, open_only: bool, limit: int) -> list[ReportRecord]:
        where = "WHERE resolved_ms IS NULL" if open_only else ""  # the first is served by reports_open
        rows = await self._all(
            f"SELECT {_REPORT_COLUMNS} FROM reports {where} ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [ReportRecord(*row) for row in rows]

    async def resolve_report(self, report_id: str, now_ms: int) -> bool:
        changed = await self._change(
            "UPDATE reports SET resolved_ms = ? WHERE id = ? AND resolved_ms IS NULL", (now_ms, report_id)
        )
        return changed == 1


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside literals in our migrations)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
