"""Search for people and posts on MongoDB: :class:`SearchStore`, one part of
:class:`~server.store.mongo.MongoStorage`.

Design. A standing post with text carries ``search_text``, its folded text, and
``search_grams``, the distinct characters and adjacent pairs of it (:func:`server.search.short_grams`),
an array under the multikey index ``search_grams`` (``(search_grams, _id desc)``). A query of one
or two characters is one of the grams: an equality on the array, which the index answers
newest first as it is. A longer query needs all of its pairs (``$all``: the index serves the
first, the rest are checked on the documents it finds) and then, to be exact, its folded text
inside ``search_text`` (a ``$regex`` of the escaped query: only a substring test). Pairs rather
than trigrams because they serve the short queries from the same index, which Japanese needs
(地震, 雨); the cost is less selective first keys, since a pair is more common than a triple.
Users carry ``name_key``, the folded display name, beside ``handle_key``; a users collection is
small next to posts and is read by a ``$regex`` scan of the two.

What the viewer may not read (hidden authors, closed communities they are not in) is left out
as the candidates are read, newest first, at most ``scan`` of them (the communities met are
read once each); the page ends at ``limit`` found or ``scan`` looked at.

Deleting a post empties both fields in the same update, so the index holds standing posts
only. Documents written before schema 11 lack the fields; :func:`index_old_documents` gives them
theirs at every open (reading only documents without them, through the index), as invites were
hashed at 7.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from ...search import TRIGRAM, fold, short_grams
from ..base import PostRecord, PostSearchPage, UserRecord
from .database import Database
from .driver import NULL, Document, before_filter, driver_errors
from .records import post_record, user_record

#: Documents given their search fields per write when old ones are caught up.
_BATCH = 500


def post_search_fields(text: str) -> Document:
    """The search fields of a post with ``text``: empty ones for a post without text (a repost)
    and for a deleted post, so that only documents written before schema 11 lack them."""
    folded = fold(text)
    return {"search_text": folded, "search_grams": short_grams(folded)}


def query_filter(query: str) -> Document:
    """What a post's search fields must hold to match the folded ``query``."""
    if len(query) < TRIGRAM:
        return {"search_grams": query}
    grams = short_grams(query)
    # Its pairs; a query whose characters are all apart ("a b c") has none: then its characters
    # (an empty $all would match nothing).
    pairs = [g for g in grams if len(g) == 2] or grams
    return {"search_grams": {"$all": pairs}, "search_text": {"$regex": re.escape(query)}}


async def index_old_documents(users: AsyncCollection[Document], posts: AsyncCollection[Document]) -> None:
    """Give users without ``name_key`` and posts without search fields (written before schema
    9) theirs: empty ones for a deleted post. Idempotent; a second run finishes a killed one.
    Posts lacking the fields are found through the ``search_grams`` index: ``{search_grams:
    null}`` matches a missing field and not an array, empty or not, which every post written
    since has; so a start-up with nothing to do reads next to nothing. Users are few, scanned."""
    async for doc in users.find({"name_key": {"$exists": False}}, {"display_name": True}):
        await users.update_one({"_id": doc["_id"]}, {"$set": {"name_key": fold(doc["display_name"])}})
    batch: list[UpdateOne] = []
    async for doc in posts.find({"search_grams": NULL}, {"text": True, "deleted_pos": True}):
        text = "" if doc.get("deleted_pos") is not None else doc.get("text") or ""
        batch.append(UpdateOne({"_id": doc["_id"], "search_grams": NULL}, {"$set": post_search_fields(text)}))
        if len(batch) >= _BATCH:
            await posts.bulk_write(batch, ordered=False)
            batch = []
    if batch:
        await posts.bulk_write(batch, ordered=False)


class SearchStore(Database):
    """search_users and search_posts (server/store/base.py, SearchStorage)."""

    # From PostStore, combined with this class in MongoStorage.
    _community_ids: Callable[[str], Awaitable[list[str]]]

    async def search_users(
        self, query: str, *, hidden: Collection[str], offset: int, limit: int
    ) -> list[UserRecord]:
        if limit <= 0:
            return []
        hidden = list(hidden)
        contains = {"$regex": re.escape(query)}
        with driver_errors():
            exact = await self._users.find_one({"handle_key": query, "_id": {"$nin": hidden}})
            first = [user_record(exact)] if exact else []
            skip = max(0, offset - len(first))
            first = first[offset:]
            if len(first) >= limit:
                return first[:limit]
            others = {
                "$or": [{"handle_key": contains}, {"name_key": contains}],
                "_id": {"$nin": [*hidden, *([exact["_id"]] if exact else [])]},
            }
            cursor = self._users.find(others).sort("_id", ASCENDING).skip(skip).limit(limit - len(first))
            return first + [user_record(doc) async for doc in cursor]

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
        if limit <= 0 or not query:
            return PostSearchPage([], None)
        hidden = set(hidden)
        mine = set(await self._community_ids(viewer_id))
        # Whether a community the viewer is not in is open, read once per community met.
        open_: dict[str, bool] = {}
        found: list[PostRecord] = []
        looked, last = 0, None
        candidates = {**query_filter(query), **before_filter("_id", before)}
        with driver_errors():
            # The search_grams index, newest first; read in batches as they come, so a page
            # that fills early reads no further.
            cursor = (
                self._posts.find(candidates, {"search_text": False, "search_grams": False})
                .sort("_id", DESCENDING)
                .limit(scan)
                .batch_size(min(scan, 2 * limit + 1))
            )
            async for doc in cursor:
                looked, last = looked + 1, doc["_id"]
                post = post_record(doc)
                if post.deleted_pos is not None or post.author_id in hidden:
                    continue
                community = post.community_id
                if community is not None and community not in mine:
                    if community not in open_:
                        found_ = await self._communities.find_one(
                            {"_id": community}, {"approval_required": True}
                        )
                        open_[community] = found_ is not None and not found_["approval_required"]
                    if not open_[community]:
                        continue
                found.append(post)
                if len(found) == limit:
                    await cursor.close()
                    return PostSearchPage(found, last)
        return PostSearchPage(found, last if looked == scan else None)
