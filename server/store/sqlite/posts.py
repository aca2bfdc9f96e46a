"""Posts, the following timeline and stream, Discover's candidates, and reactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from protocol.text import hashtags

from ...ids import floor_id
from ..base import AnnouncementRecord, NonceTaken, NotFound, PostRecord, StreamItem
from .engine import Engine
from .media import _claim
from .rows import _ABOVE_EVERY_ID, _BELOW_EVERY_ID, _POST_COLUMNS, _attached_json, _json, _post
from .search import index_post, unindex_post

# A user's circle (base.py): the authors whose posts outside communities they see (themselves
# and everyone they follow), and the communities they are a member of.
_AUTHORS = "SELECT followee_id FROM follows WHERE follower_id = :user UNION ALL SELECT :user"
_COMMUNITIES = "SELECT community_id FROM memberships WHERE user_id = :user"
# The post columns, named after the posts table where a join brings others of the same name
# (follows.created_ms, memberships.id and community_id).
_JOINED_POST_COLUMNS = ", ".join(f"posts.{c} AS {c}" for c in _POST_COLUMNS.split(", "))


def _circle(columns: str, condition: str) -> str:
    """The posts of a user's circle meeting ``condition``: one SELECT per kind of source, each
    served by its partial index (0002_gatherings.sql), whose WHERE the condition must repeat
    (``posts.deleted_pos IS NULL`` for standing posts). The user's own posts, then a join from
    their follows and one from their memberships: an ``IN (SELECT ...)`` list instead would be
    copied into a temporary table first, two of them per arm, on every resume and every page of
    the timeline (BENCHMARKS.md, "Counting instructions instead of seconds")."""
    return (
        f"SELECT {columns} FROM posts WHERE posts.author_id = :user AND posts.community_id IS NULL "
        f"AND {condition} UNION ALL "
        f"SELECT {columns} FROM follows JOIN posts ON posts.author_id = follows.followee_id "
        "WHERE follows.follower_id = :user AND follows.followee_id != :user "
        f"AND posts.community_id IS NULL AND {condition} UNION ALL "
        f"SELECT {columns} FROM memberships JOIN posts ON posts.community_id = memberships.community_id "
        f"WHERE memberships.user_id = :user AND {condition}"
    )


_FOLLOWING_TIMELINE = (
    _circle(_JOINED_POST_COLUMNS, "posts.deleted_pos IS NULL AND posts.id < :before")
    + " ORDER BY id DESC LIMIT :limit"
)
_FOLLOWING_STREAM = (
    _circle(
        f"posts.id AS pos, 0 AS deleted, {_JOINED_POST_COLUMNS}",
        "posts.deleted_pos IS NULL AND posts.id > :after",
    )
    + " UNION ALL "
    + _circle(
        f"posts.deleted_pos, 1, {_JOINED_POST_COLUMNS}",
        "posts.deleted_pos > :after AND posts.id <= :after",
    )
    + " ORDER BY pos LIMIT :limit"
)
# A user's own posts, as a viewer may see them: outside communities, and in communities that
# are open or the viewer's. Each arm walks its partial index by author newest first
# (posts_standing_by_author, posts_standing_by_author_in_community), and the ORDER BY ... LIMIT
# merges them; a community post costs one lookup of the viewer's membership or the community.
_USER_TIMELINE = (
    f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = :author AND community_id IS NULL "
    "AND deleted_pos IS NULL AND id < :before UNION ALL "
    f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = :author AND community_id IS NOT NULL "
    "AND deleted_pos IS NULL AND id < :before "
    "AND (EXISTS (SELECT 1 FROM memberships WHERE community_id = posts.community_id AND user_id = :viewer) "
    "OR (SELECT approval_required FROM communities WHERE id = posts.community_id) = 0) "
    "ORDER BY id DESC LIMIT :limit"
)
# A hashtag's posts, as a viewer may see them (open communities and the viewer's own, as
# _USER_TIMELINE): the primary key of post_tags walks the tag newest first (0012_tags.sql).
_TAG_TIMELINE = (
    f"SELECT {_POST_COLUMNS} FROM post_tags JOIN posts ON posts.id = post_tags.post_id "
    "WHERE post_tags.tag = :tag AND post_tags.post_id < :before AND posts.deleted_pos IS NULL "
    "AND (posts.community_id IS NULL "
    "OR EXISTS (SELECT 1 FROM memberships WHERE community_id = posts.community_id AND user_id = :viewer) "
    "OR (SELECT approval_required FROM communities WHERE id = posts.community_id) = 0) "
    "ORDER BY post_tags.post_id DESC LIMIT :limit"
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


class Posts(Engine):
    """Posts and what is read from them, and the reactions to them."""

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
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> PostRecord:
        post = PostRecord(
            id="",
            author_id=author_id,
            text=text,
            emotext=emotext,
            reply_to=reply_to,
            created_ms=now_ms,
            deleted_pos=None,
            community_id=community_id,
            repost_of=repost_of,
            quote_of=quote_of,
        )
        return await self._write(self._insert_post, post, nonce, media)

    async def create_announcement(
        self,
        *,
        author_id: str,
        community_id: str,
        text: str,
        emotext: str | None,
        now_ms: int,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> AnnouncementRecord:
        post = PostRecord(
            id="",
            author_id=author_id,
            text=text,
            emotext=emotext,
            reply_to=None,
            created_ms=now_ms,
            deleted_pos=None,
            community_id=community_id,
            announcement=True,
        )

        def write(conn: sqlite3.Connection) -> AnnouncementRecord:
            if conn.execute("SELECT 1 FROM communities WHERE id = ?", (community_id,)).fetchone() is None:
                raise NotFound(f"no community {community_id}")
            stored = self._insert_post(conn, post, None, media)
            # Its notification, once for every member (0007_announcements.sql).
            notification_id = self._ids.new(now_ms)
            conn.execute(
                "INSERT INTO community_notifications (id, community_id, kind, actor_id, post_id, "
                "created_ms) VALUES (?, ?, 'announcement', ?, ?, ?)",
                (notification_id, community_id, author_id, stored.id, now_ms),
            )
            return AnnouncementRecord(stored, notification_id)

        return await self._write(write)

    def _insert_post(
        self,
        conn: sqlite3.Connection,
        post: PostRecord,
        nonce: str | None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> PostRecord:
        """Insert ``post`` with a fresh id and its pictures attached (in a write transaction);
        NonceTaken if the author's ``nonce`` is taken (the unique index of 0006_nonces.sql
        decides), then MediaUnavailable if a picture cannot be attached: then nothing is
        inserted (the caller's transaction rolls back)."""
        post = replace(post, id=self._ids.new(post.created_ms))
        cursor = conn.execute(
            f"INSERT INTO posts ({_POST_COLUMNS}, nonce) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (author_id, nonce) WHERE nonce IS NOT NULL DO NOTHING",
            (
                post.id,
                post.author_id,
                post.text,
                post.emotext,
                post.reply_to,
                post.created_ms,
                post.community_id,
                post.repost_of,
                post.quote_of,
                int(post.announcement),
                nonce,
            ),
        )
        if cursor.rowcount == 0:
            raise NonceTaken(f"post nonce {nonce!r} of {post.author_id}")
        _count_shares(conn, post, +1)
        tags = hashtags(post.text)
        if tags:
            conn.executemany(
                "INSERT INTO post_tags (tag, post_id) VALUES (?, ?)", [(tag, post.id) for tag in tags]
            )
        index_post(conn, post.id, post.text)
        if media:
            attached = _claim(
                conn, post.author_id, media, kind="post", subject=f"post:{post.id}", now_ms=post.created_ms
            )
            conn.execute("UPDATE posts SET media = ? WHERE id = ?", (_attached_json(attached), post.id))
            post = replace(post, media=attached)
        return post

    async def post_by_nonce(self, author_id: str, nonce: str) -> PostRecord | None:
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE author_id = ? AND nonce = ?", (author_id, nonce)
        )
        return _post(rows[0]) if rows else None

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
        return {row["id"]: _post(row) for row in rows}

    async def delete_post(self, post_id: str) -> PostRecord | None:
        def write(conn: sqlite3.Connection) -> PostRecord | None:
            row = conn.execute(
                f"UPDATE posts SET deleted_pos = ? WHERE id = ? AND deleted_pos IS NULL "
                f"RETURNING {_POST_COLUMNS}",
                (self._ids.new(), post_id),
            ).fetchone()
            if row is None:
                return None
            deleted = _post(row)
            _count_shares(conn, deleted, -1)
            unindex_post(conn, post_id)
            return deleted

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

    async def user_timeline(
        self, author_id: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        rows = await self._all(
            _USER_TIMELINE,
            {"author": author_id, "viewer": viewer_id, "before": before or _ABOVE_EVERY_ID, "limit": limit},
        )
        return [_post(row) for row in rows]

    async def tag_timeline(
        self, tag: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        rows = await self._all(
            _TAG_TIMELINE,
            {"tag": tag, "viewer": viewer_id, "before": before or _ABOVE_EVERY_ID, "limit": limit},
        )
        return [_post(row) for row in rows]

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        rows = await self._all(_FOLLOWING_STREAM, {"user": user_id, "after": after, "limit": limit})
        return [StreamItem(row["pos"], _post(row), bool(row["deleted"])) for row in rows]

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
            "SELECT post_id, emoji, count(*) AS count, min(created_ms) AS first_ms FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) "
            "GROUP BY post_id, emoji ORDER BY post_id, first_ms, emoji",
            (_json(post_ids),),
        )
        counts: dict[str, list[tuple[str, int]]] = {}
        for row in rows:
            counts.setdefault(row["post_id"], []).append((row["emoji"], row["count"]))
        return counts

    async def share_counts(self, post_ids: list[str]) -> dict[str, tuple[int, int, int]]:
        # Kept in the posts themselves (0013, _count_shares): a primary-key read per post.
        rows = await self._all(
            "SELECT id, replies_count, reposts_count, quotes_count FROM posts "
            "WHERE id IN (SELECT value FROM json_each(?)) "
            "AND replies_count + reposts_count + quotes_count > 0",
            (_json(post_ids),),
        )
        return {row["id"]: (row["replies_count"], row["reposts_count"], row["quotes_count"]) for row in rows}

    async def my_reactions(self, user_id: str, post_ids: list[str]) -> dict[str, list[str]]:
        rows = await self._all(
            "SELECT post_id, emoji FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) AND user_id = ? ORDER BY id",
            (_json(post_ids), user_id),
        )
        mine: dict[str, list[str]] = {}
        for row in rows:
            mine.setdefault(row["post_id"], []).append(row["emoji"])
        return mine

    async def reaction_counts_by(self, user_ids: list[str], post_ids: list[str]) -> dict[str, int]:
        rows = await self._all(
            "SELECT post_id, count(DISTINCT user_id) AS reactors FROM reactions "
            "WHERE post_id IN (SELECT value FROM json_each(?)) "
            "AND user_id IN (SELECT value FROM json_each(?)) GROUP BY post_id",
            (_json(post_ids), _json(user_ids)),
        )
        return {row["post_id"]: row["reactors"] for row in rows}


def _count_shares(conn: sqlite3.Connection, post: PostRecord, step: int) -> None:
    """Add ``step`` to the counts of the posts ``post`` replies to, reposts or quotes, in the
    transaction that stores (+1) or deletes (-1) it: the counts ``share_counts`` reads."""
    if post.reply_to is None and post.repost_of is None and post.quote_of is None:
        return
    conn.execute(
        "UPDATE posts SET "
        "replies_count = replies_count + iif(id IS :reply, :step, 0), "
        "reposts_count = reposts_count + iif(id IS :repost, :step, 0), "
        "quotes_count = quotes_count + iif(id IS :quote, :step, 0) "
        "WHERE id IN (:reply, :repost, :quote)",
        {"reply": post.reply_to, "repost": post.repost_of, "quote": post.quote_of, "step": step},
    )
