"""Follows, blocks and mutes: the edges between two users."""

from __future__ import annotations

import sqlite3

from ..base import BlockOutcome, FollowEdge, Surroundings
from .engine import Engine


class Relations(Engine):
    """Follows, blocks (which end follows both ways) and mutes."""

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

    async def friend_ids(self, user_id: str) -> list[str]:
        # The user's follows by the primary key, each checked the other way by the primary key.
        rows = await self._all(
            "SELECT mine.followee_id FROM follows AS mine JOIN follows AS back "
            "ON back.follower_id = mine.followee_id AND back.followee_id = mine.follower_id "
            "WHERE mine.follower_id = ?",
            (user_id,),
        )
        return [row[0] for row in rows]

    async def follower_ids(self, user_id: str) -> list[str]:
        rows = await self._all("SELECT follower_id FROM follows WHERE followee_id = ?", (user_id,))
        return [row[0] for row in rows]

    async def followers_page(
        self, user_id: str, *, before: tuple[int, str] | None, limit: int
    ) -> list[FollowEdge]:
        return await self._edges("followee_id", "follower_id", user_id, before, limit)

    async def following_page(
        self, user_id: str, *, before: tuple[int, str] | None, limit: int
    ) -> list[FollowEdge]:
        return await self._edges("follower_id", "followee_id", user_id, before, limit)

    async def _edges(
        self, mine: str, theirs: str, user_id: str, before: tuple[int, str] | None, limit: int
    ) -> list[FollowEdge]:
        """One range of follows_by_followee_newest or follows_by_follower_newest (0013):
        (created_ms, other) below ``before``, newest first. ``mine`` and ``theirs`` are column
        names chosen by the two callers above, never input."""
        ms, other = before if before is not None else (None, None)
        # Two texts rather than ":ms IS NULL OR ...", which would make a later page walk the
        # index from the newest edge instead of starting at the cursor.
        below = f"AND (created_ms, {theirs}) < (:ms, :other) " if before is not None else ""
        rows = await self._all(
            f"SELECT {theirs} AS user_id, created_ms FROM follows WHERE {mine} = :user {below}"
            f"ORDER BY created_ms DESC, {theirs} DESC LIMIT :limit",
            {"user": user_id, "ms": ms, "other": other, "limit": limit},
        )
        return [FollowEdge(row["user_id"], row["created_ms"]) for row in rows]

    # --- blocks and mutes --------------------------------------------------------------------

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
            pairs = sorted(
                ((row["follower_id"], row["followee_id"]) for row in ended),
                key=lambda pair: pair[0] != blocker_id,
            )
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
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = :viewer AND blocked_id = :user) AS blocks, "
            "EXISTS (SELECT 1 FROM mutes WHERE user_id = :viewer AND target_id = :user) AS mutes",
            {"viewer": viewer_id, "user": user_id},
        )
        return bool(rows[0]["blocks"]), bool(rows[0]["mutes"])

    async def hidden_ids(self, user_id: str) -> set[str]:
        return await self._read(lambda conn: _hidden_ids(conn, user_id))

    async def surroundings(self, user_id: str) -> Surroundings:
        def read(conn: sqlite3.Connection) -> Surroundings:
            # Four indexed reads in one hop to a reader thread: the hop, not the reads, is what
            # a call costs (pool.py), and a storm makes this call for every resume.
            followee_ids = [
                row[0]
                for row in conn.execute("SELECT followee_id FROM follows WHERE follower_id = ?", (user_id,))
            ]
            community_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT community_id FROM memberships WHERE user_id = ? ORDER BY id", (user_id,)
                )
            ]
            (followers,) = conn.execute(
                "SELECT count(*) FROM follows WHERE followee_id = ?", (user_id,)
            ).fetchone()
            return Surroundings(
                followee_ids=followee_ids,
                community_ids=community_ids,
                hidden_ids=_hidden_ids(conn, user_id),
                followers=int(followers),
                following=len(followee_ids),
            )

        return await self._read(read)


def _hidden_ids(conn: sqlite3.Connection, user_id: str) -> set[str]:
    # UNION ALL, and the set removes repeats: UNION would build two temporary tables for it on
    # every handshake.
    rows = conn.execute(
        "SELECT target_id FROM mutes WHERE user_id = :user "
        "UNION ALL SELECT blocked_id FROM blocks WHERE blocker_id = :user "
        "UNION ALL SELECT blocker_id FROM blocks WHERE blocked_id = :user",
        {"user": user_id},
    )
    return {row[0] for row in rows}
