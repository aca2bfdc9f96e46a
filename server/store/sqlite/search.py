"""Search for people and posts (0011_search.sql): the reads, and the writes that keep the post
indexes in step with posts, called inside the posts' own write transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from ...search import TRIGRAM, fold, gram_document, gram_token, phrase
from ..base import PostRecord, PostSearchPage, UserRecord
from .engine import Engine
from .rows import _POST_COLUMNS, _USER_COLUMNS, _json, _post, _user

# The posts holding the query, newest first, each with whether the viewer may find it: standing,
# by nobody they hide, outside communities or in one that is open or theirs. Both indexes are
# walked from the newest seq down (ORDER BY rowid DESC is an FTS5 index's own order), and the
# caller stops reading at the page's end or after ``scan`` rows; each row costs a lookup of its
# post_search row and post by primary key, and a community post one of the viewer's membership
# or the community.
_CANDIDATES = (
    "SELECT {columns}, p.deleted_pos IS NULL "
    "AND p.author_id NOT IN (SELECT value FROM json_each(:hidden)) "
    "AND (p.community_id IS NULL "
    "OR EXISTS (SELECT 1 FROM memberships WHERE community_id = p.community_id AND user_id = :viewer) "
    "OR (SELECT approval_required FROM communities WHERE id = p.community_id) = 0) AS visible "
    "FROM {table} f JOIN post_search s ON s.seq = f.rowid JOIN posts p ON p.id = s.post_id "
    "WHERE {table} MATCH :match AND f.rowid < :below ORDER BY f.rowid DESC LIMIT :scan"
)
_POSTS = {
    table: _CANDIDATES.format(columns=_POST_COLUMNS, table=table)
    for table in ("post_search_trigrams", "post_search_grams")
}
# A page continues below the seq of its last post; that post may have been deleted since (its
# post_search row gone), so the bound is the seq of the first post at or after it in id order.
_BELOW = (
    "SELECT coalesce((SELECT seq FROM post_search WHERE post_id >= ? ORDER BY post_id LIMIT 1), "
    "(SELECT max(seq) + 1 FROM post_search), 0)"
)
_ABOVE_EVERY_SEQ = 1 << 62

_USERS = (
    f"SELECT {_USER_COLUMNS} FROM users "
    "WHERE (instr(handle_key, :query) > 0 OR instr(name_key, :query) > 0) "
    "AND id NOT IN (SELECT value FROM json_each(:hidden)) "
    "ORDER BY handle_key = :query DESC, id LIMIT :limit OFFSET :offset"
)


def index_post(conn: sqlite3.Connection, post_id: str, text: str) -> None:
    """Make a new post findable (in its write transaction). A post without text (a repost) is
    not indexed."""
    body = fold(text)
    if not body:
        return
    (seq,) = conn.execute(
        "INSERT INTO post_search (post_id, body) VALUES (?, ?) RETURNING seq", (post_id, body)
    ).fetchone()
    conn.execute("INSERT INTO post_search_trigrams (rowid, body) VALUES (?, ?)", (seq, body))
    conn.execute("INSERT INTO post_search_grams (rowid, grams) VALUES (?, ?)", (seq, gram_document(body)))


def unindex_post(conn: sqlite3.Connection, post_id: str) -> None:
    """Take a deleted post out of the indexes (in its write transaction). FTS5 deletes an
    external-content or contentless row by being told what was indexed: the stored body, and
    the grams made from it again."""
    row = conn.execute("DELETE FROM post_search WHERE post_id = ? RETURNING seq, body", (post_id,)).fetchone()
    if row is None:
        return
    seq, body = row
    conn.execute(
        "INSERT INTO post_search_trigrams (post_search_trigrams, rowid, body) VALUES ('delete', ?, ?)",
        (seq, body),
    )
    conn.execute(
        "INSERT INTO post_search_grams (post_search_grams, rowid, grams) VALUES ('delete', ?, ?)",
        (seq, gram_document(body)),
    )


class Search(Engine):
    """search_users and search_posts (server/store/base.py, SearchStorage)."""

    async def search_users(
        self, query: str, *, hidden: Collection[str], offset: int, limit: int
    ) -> list[UserRecord]:
        rows = await self._all(
            _USERS, {"query": query, "hidden": _json(list(hidden)), "limit": limit, "offset": offset}
        )
        return [_user(row) for row in rows]

    async def search_posts(
        self,
        query: str,
        *,
        viewer_id: str,
        hidden: Collection[str],
        before: str | None,
        limit: int,
        scan: int,
    ) -> PostSearchPage:
        if not query or limit <= 0:
            return PostSearchPage([], None)
        if len(query) >= TRIGRAM:
            table, match = "post_search_trigrams", phrase(query)
        else:
            table, match = "post_search_grams", f'"{gram_token(query)}"'

        def read(conn: sqlite3.Connection) -> PostSearchPage:
            below = _ABOVE_EVERY_SEQ if before is None else conn.execute(_BELOW, (before,)).fetchone()[0]
            params = {
                "match": match,
                "below": below,
                "hidden": _json(list(hidden)),
                "viewer": viewer_id,
                "scan": scan,
            }
            found: list[PostRecord] = []
            looked, last = 0, None
            # The rows are read as they come, so a page that fills early reads no further.
            for row in conn.execute(_POSTS[table], params):
                looked, last = looked + 1, row["id"]
                if row["visible"]:
                    found.append(_post(row))
                    if len(found) == limit:
                        return PostSearchPage(found, last)
            return PostSearchPage(found, last if looked == scan else None)

        return await self._read(read)
