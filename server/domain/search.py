"""Search for people and posts (PROTOCOL.md 4.11): the query folded as the stored text is
(:mod:`server.search`), what the searcher hides left out, and nothing written: who searched
for what is never recorded nor told to anyone."""

from __future__ import annotations

from typing import Protocol

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import PostPage, UserPage

from ..ids import ALPHABET
from ..search import fold
from ..store.base import RelationStorage, SearchStorage, UserRecord
from . import present, rules
from .views import Views, ViewsPorts

#: A post page's cursor: "p" and the id below which the next page starts.
_POST_CURSOR = "p"
#: The most posts holding the query that one page looks at, readable or not: what bounds the
#: work of a query whose matches the searcher mostly may not see (a closed community's word).
SCAN = 1000


class SearchPorts(SearchStorage, RelationStorage, ViewsPorts, Protocol):
    """The storage search reads: the matches, whom the searcher hides, and what a post view shows."""


def post_cursor(cursor: str | None) -> str | None:
    """The post id a post page's cursor stands for (``invalid_cursor`` if it is not one)."""
    if cursor is None:
        return None
    post_id = cursor[len(_POST_CURSOR) :]
    if not cursor.startswith(_POST_CURSOR) or len(post_id) != 26 or set(post_id) - set(ALPHABET):
        raise ProtocolError(ErrorCode.INVALID_CURSOR, path="$.cursor")
    return post_id


class Search:
    def __init__(self, store: SearchPorts) -> None:
        self._store = store
        self._views = Views(store)

    async def users(self, viewer: UserRecord, query: str, cursor: str | None, limit: int) -> UserPage:
        """People whose handle or display name holds the folded ``query``, the exact handle
        first, then by id; nobody the viewer hides (mutes, blocks either way). The cursor is an
        offset: people who join or rename between pages may be repeated or skipped."""
        offset = rules.page_offset(cursor)
        folded = fold(query)
        if not folded:
            return UserPage(users=[], next=None)
        hidden = await self._store.hidden_ids(viewer.id)
        records = await self._store.search_users(folded, hidden=hidden, offset=offset, limit=limit + 1)
        # Deleted accounts (tombstones) are never found; a page may be short for it.
        users = [present.user(record) for record in records[:limit] if not record.deleted]
        return UserPage(users=users, next=rules.page_cursor(offset + limit) if len(records) > limit else None)

    async def posts(self, viewer: UserRecord, query: str, cursor: str | None, limit: int) -> PostPage:
        """Standing posts whose folded text holds the folded ``query`` that the viewer may read
        (not by anyone they hide, not in a community that needs approval unless a member),
        newest first. A page looks at no more than ``SCAN`` matching posts, so it may be short
        and still have a next; the cursor names the post below which the next page starts."""
        before = post_cursor(cursor)
        folded = fold(query)
        if not folded:
            return PostPage(posts=[], next=None)
        hidden = await self._store.hidden_ids(viewer.id)
        found = await self._store.search_posts(
            folded, viewer_id=viewer.id, hidden=hidden, before=before, limit=limit, scan=SCAN
        )
        posts = await self._views.posts(viewer.id, found.posts, hidden=hidden)
        return PostPage(posts=posts, next=_POST_CURSOR + found.resume if found.resume else None)
