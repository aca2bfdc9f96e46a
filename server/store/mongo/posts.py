"""Posts (announcements with their notification to the community's members), the timelines
and streams they make, and reactions on MongoDB: :class:`PostStore`, one part of
:class:`~server.store.mongo.MongoStorage`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from protocol.text import hashtags

from ...ids import floor_id
from ..base import AnnouncementRecord, NonceTaken, NotFound, PostRecord, StreamItem
from .database import Database
from .driver import NULL, Document, Undo, after_filter, all_or_nothing, before_filter, chunks, driver_errors
from .media import claim_once
from .records import attached_documents, post_record
from .search import post_search_fields


class PostStore(Database):
    """Posts and their reactions; the timeline and stream of a user's circle, a community's,
    and the candidates for discovery."""

    # A user's circle starts from whom they follow: AccountStore's, combined with this class
    # in MongoStorage.
    followee_ids: Callable[[str], Awaitable[list[str]]]

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
        )
        with driver_errors():
            async with all_or_nothing() as undo:
                post = await self._attach_to_post(post, media, nonce, undo)
                await self._insert_post(post, nonce, undo)
        return post

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
            id=self._ids.new(now_ms),
            author_id=author_id,
            text=text,
            emotext=emotext,
            reply_to=None,
            created_ms=now_ms,
            deleted_pos=None,
            community_id=community_id,
            announcement=True,
        )
        # Taken after the post's: greater, and never the post's own.
        notification_id = self._ids.new(now_ms)
        with driver_errors():
            if await self._communities.find_one({"_id": community_id}, {"_id": True}) is None:
                raise NotFound(f"no community {community_id}")
            async with all_or_nothing() as undo:
                post = await self._attach_to_post(post, media, None, undo)
                # The post first: a member who finds the notification finds its post.
                await self._insert_post(post, None, undo)
                # Its notification, once for all the members (see notifications.py). Its undo
                # comes first: an insert that fails may have been written.
                undo.add(lambda: self._community_notifications.delete_one({"_id": notification_id}))
                await self._community_notifications.insert_one(
                    {
                        "_id": notification_id,
                        "community_id": community_id,
                        "kind": "announcement",
                        "actor_id": author_id,
                        "post_id": post.id,
                        "created_ms": now_ms,
                    }
                )
        return AnnouncementRecord(post, notification_id)

    async def _attach_to_post(
        self, post: PostRecord, media: Sequence[tuple[str, str | None]], nonce: str | None, undo: Undo
    ) -> PostRecord:
        """Claim the pictures for the post about to be inserted (see "Attaching pictures" in
        :mod:`server.store.mongo`): the post with them, their give-backs in ``undo``.

        A taken nonce is told first (NonceTaken), so a retry is answered with the first call's
        post and does not meet its own pictures, which that call attached. The insert's unique
        index still decides between concurrent calls; should one lose the pictures to a
        concurrent call with its nonce, it looks again and answers NonceTaken if that call's
        post is stored by then."""
        if not media:
            return post
        attached = await claim_once(
            self._media,
            post.author_id,
            media,
            subject=f"post:{post.id}",
            now_ms=post.created_ms,
            undo=undo,
            nonce_taken=functools.partial(self._post_nonce_taken, post.author_id, nonce) if nonce else None,
            taken=f"post nonce {nonce!r} of {post.author_id}",
        )
        return replace(post, media=attached)

    async def _post_nonce_taken(self, author_id: str, nonce: str) -> bool:
        found = await self._posts.find_one({"author_id": author_id, "nonce": nonce}, {"_id": True})
        return found is not None

    async def _insert_post(self, post: PostRecord, nonce: str | None, undo: Undo) -> None:
        """Insert the post, its pictures (attached already) with it; NonceTaken if the author's
        nonce is taken (INDEXES "nonce_unique"), having written nothing. Its undo comes first:
        an insert that fails may have been written, and its pictures must not be given back
        under a post that stands (the id is fresh: deleting it otherwise deletes nothing)."""
        undo.add(lambda: self._posts.delete_one({"_id": post.id}))
        try:
            await self._posts.insert_one(
                {
                    "_id": post.id,
                    "author_id": post.author_id,
                    "text": post.text,
                    "emotext": post.emotext,
                    "reply_to": post.reply_to,
                    "created_ms": post.created_ms,
                    "deleted_pos": None,
                    "community_id": post.community_id,
                    "repost_of": post.repost_of,
                    "quote_of": post.quote_of,
                    "announcement": post.announcement,
                    "nonce": nonce,
                    "media": attached_documents(post.media),
                    # Its normalised hashtags, for tag_timeline (INDEXES "by_tag").
                    "tags": hashtags(post.text),
                    **post_search_fields(post.text),
                }
            )
        except DuplicateKeyError as exc:
            raise NonceTaken(f"post nonce {nonce!r} of {post.author_id}") from exc

    def _community_lookup(self) -> Document:
        """An aggregation stage that puts each post's community in ``community``, a list of one
        (a post outside communities finds none: no community has a null _id)."""
        return {
            "$lookup": {
                "from": self._communities.name,
                "localField": "community_id",
                "foreignField": "_id",
                "as": "community",
            }
        }

    async def post_by_nonce(self, author_id: str, nonce: str) -> PostRecord | None:
        with driver_errors():
            doc = await self._posts.find_one({"author_id": author_id, "nonce": nonce})
        return post_record(doc) if doc else None

    async def get_post(self, post_id: str) -> PostRecord | None:
        with driver_errors():
            doc = await self._posts.find_one({"_id": post_id})
        return post_record(doc) if doc else None

    async def get_posts(self, post_ids: list[str]) -> dict[str, PostRecord]:
        found: dict[str, PostRecord] = {}
        with driver_errors():
            for chunk in chunks(post_ids):
                async for doc in self._posts.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = post_record(doc)
        return found

    async def delete_post(self, post_id: str) -> PostRecord | None:
        with driver_errors():
            doc = await self._posts.find_one_and_update(
                {"_id": post_id, "deleted_pos": NULL},
                # Out of search's index (search.py) in the same write.
                {"$set": {"deleted_pos": self._ids.new(), **post_search_fields("")}},
                return_document=ReturnDocument.AFTER,
            )
        return post_record(doc) if doc else None

    async def posts_by_author_after(self, author_id: str, *, after: str, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"author_id": author_id, "community_id": NULL, "_id": {"$gt": after}, "deleted_pos": NULL}
        with driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [post_record(doc) async for doc in cursor]

    async def _authors(self, user_id: str) -> list[str]:
        """The authors of a user's circle outside communities: everyone they follow, and
        themselves."""
        return [*await self.followee_ids(user_id), user_id]

    async def _community_ids(self, user_id: str) -> list[str]:
        """The communities the user is a member of now."""
        with driver_errors():
            cursor = self._memberships.find({"user_id": user_id}, {"community_id": True, "_id": False})
            return [doc["community_id"] async for doc in cursor]

    async def _circle(self, user_id: str) -> Document:
        """The filter for the posts in a user's circle (see :mod:`server.store.base`): made
        outside communities by the user or those they follow, or in the user's communities.
        Each branch of the ``$or`` has its index (by author, by community)."""
        authors, communities = await asyncio.gather(self._authors(user_id), self._community_ids(user_id))
        outside: Document = {"author_id": {"$in": authors}, "community_id": NULL}
        if not communities:
            return outside
        return {"$or": [outside, {"community_id": {"$in": communities}}]}

    async def following_timeline(self, user_id: str, *, before: str | None, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {**await self._circle(user_id), "deleted_pos": NULL, **before_filter("_id", before)}
        with driver_errors():
            cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
            return [post_record(doc) async for doc in cursor]

    async def user_timeline(
        self, author_id: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        # The by_author index, newest first.
        return await self._readable({"author_id": author_id}, viewer_id, before, limit)

    async def tag_timeline(
        self, tag: str, *, viewer_id: str, before: str | None, limit: int
    ) -> list[PostRecord]:
        # The by_tag index, newest first.
        return await self._readable({"tags": tag}, viewer_id, before, limit, drop=("tags",))

    async def _readable(
        self, match: Document, viewer_id: str, before: str | None, limit: int, drop: tuple[str, ...] = ()
    ) -> list[PostRecord]:
        """Standing posts matching ``match`` that the viewer may read, newest first: outside
        communities, in the viewer's communities, or in open ones."""
        if limit <= 0:
            return []
        mine = await self._community_ids(viewer_id)
        pipeline: list[Document] = [
            {"$match": {**match, "deleted_pos": NULL, **before_filter("_id", before)}},
            {"$sort": {"_id": -1}},
            # Whether a community the viewer is not in is open is the community's.
            self._community_lookup(),
            {
                "$match": {
                    "$or": [
                        {"community_id": NULL},
                        {"community_id": {"$in": mine}},
                        {"community.approval_required": False},
                    ]
                }
            },
            {"$limit": limit},
            {"$project": {"community": False, **{name: False for name in drop}}},
        ]
        with driver_errors():
            cursor = await self._posts.aggregate(pipeline)
            return [post_record(doc) async for doc in cursor]

    async def following_stream_after(self, user_id: str, *, after: str, limit: int) -> list[StreamItem]:
        if limit <= 0:
            return []
        circle = await self._circle(user_id)
        # Creations after the cursor still standing, and deletions after the cursor of posts
        # made at or before it: each query sorted by its position and limited, so the first
        # ``limit`` of their merge are the first ``limit`` of the stream.
        created = (
            self._posts.find({**circle, "_id": {"$gt": after}, "deleted_pos": NULL})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        deleted = (
            self._posts.find({**circle, "deleted_pos": {"$gt": after}, "_id": {"$lte": after}})
            .sort("deleted_pos", ASCENDING)
            .limit(limit)
        )
        with driver_errors():
            creations, deletions = await asyncio.gather(created.to_list(), deleted.to_list())
        items = [StreamItem(doc["_id"], post_record(doc), False) for doc in creations]
        items += [StreamItem(doc["deleted_pos"], post_record(doc), True) for doc in deletions]
        items.sort(key=lambda item: item.pos)
        return items[:limit]

    async def find_repost(self, user_id: str, post_id: str) -> PostRecord | None:
        with driver_errors():
            doc = await self._posts.find_one(
                {"repost_of": post_id, "author_id": user_id, "deleted_pos": NULL}, sort=[("_id", DESCENDING)]
            )
        return post_record(doc) if doc else None

    async def replies(self, post_id: str, *, after: str | None, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"reply_to": post_id, "deleted_pos": NULL, **after_filter("_id", after)}
        with driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [post_record(doc) async for doc in cursor]

    async def community_timeline(
        self, community_id: str, *, before: str | None, limit: int
    ) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, "deleted_pos": NULL, **before_filter("_id", before)}
        with driver_errors():
            cursor = self._posts.find(query).sort("_id", DESCENDING).limit(limit)
            return [post_record(doc) async for doc in cursor]

    async def community_posts_after(self, community_id: str, *, after: str, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, "deleted_pos": NULL, "_id": {"$gt": after}}
        with driver_errors():
            cursor = self._posts.find(query).sort("_id", ASCENDING).limit(limit)
            return [post_record(doc) async for doc in cursor]

    async def discover_candidates(self, user_id: str, *, since_ms: int, limit: int) -> list[PostRecord]:
        if limit <= 0:
            return []
        authors, communities = await asyncio.gather(self._authors(user_id), self._community_ids(user_id))
        pipeline: list[Document] = [
            {
                "$match": {
                    # A post's id is never older than its created_ms (ids only move forward),
                    # so the id range holds every post made since since_ms and lets the scan
                    # walk the _id index newest first; created_ms then makes the bound exact.
                    "_id": {"$gte": floor_id(since_ms)},
                    "created_ms": {"$gte": since_ms},
                    "deleted_pos": NULL,
                    "reply_to": NULL,
                    "repost_of": NULL,
                    "$or": [
                        {"community_id": NULL, "author_id": {"$nin": authors}},
                        {"community_id": {"$nin": [*communities, None]}},
                    ],
                }
            },
            {"$sort": {"_id": -1}},
            # Whether a community is open is the community's.
            self._community_lookup(),
            {"$match": {"$or": [{"community_id": NULL}, {"community.approval_required": False}]}},
            {"$limit": limit},
            {"$project": {"community": False}},
        ]
        with driver_errors():
            cursor = await self._posts.aggregate(pipeline)
            return [post_record(doc) async for doc in cursor]

    # --- reactions ---------------------------------------------------------------------------

    async def add_reaction(self, post_id: str, user_id: str, emoji: str, now_ms: int) -> bool:
        with driver_errors():
            try:
                await self._reactions.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "post_id": post_id,
                        "user_id": user_id,
                        "emoji": emoji,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def remove_reaction(self, post_id: str, user_id: str, emoji: str) -> bool:
        with driver_errors():
            result = await self._reactions.delete_one(
                {"post_id": post_id, "user_id": user_id, "emoji": emoji}
            )
        return result.deleted_count == 1

    async def reaction_counts(self, post_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        groups: list[Document] = []
        with driver_errors():
            for chunk in chunks(post_ids):
                cursor = await self._reactions.aggregate(
                    [
                        {"$match": {"post_id": {"$in": chunk}}},
                        {
                            "$group": {
                                "_id": {"post_id": "$post_id", "emoji": "$emoji"},
                                "users": {"$sum": 1},
                                "first_ms": {"$min": "$created_ms"},
                            }
                        },
                    ]
                )
                groups += await cursor.to_list()
        # In the order each emoji was first used on the post; ties by emoji.
        groups.sort(key=lambda g: (g["first_ms"], g["_id"]["emoji"]))
        counts: dict[str, list[tuple[str, int]]] = {}
        for group in groups:
            counts.setdefault(group["_id"]["post_id"], []).append((group["_id"]["emoji"], group["users"]))
        return counts

    async def share_counts(self, post_ids: list[str]) -> dict[str, tuple[int, int, int]]:
        # One grouped match per kind, each a range of its index (by_parent_standing,
        # by_original_standing, by_quoted_standing). Counted on read rather than kept in the
        # post: nothing to keep in step when a reply is deleted, and posts stored before 1.10.0
        # count right at once.
        counts: dict[str, list[int]] = {}
        with driver_errors():
            for kind, field in enumerate(("reply_to", "repost_of", "quote_of")):
                for chunk in chunks(post_ids):
                    cursor = await self._posts.aggregate(
                        [
                            {"$match": {field: {"$in": chunk}, "deleted_pos": NULL}},
                            {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
                        ]
                    )
                    for group in await cursor.to_list():
                        counts.setdefault(group["_id"], [0, 0, 0])[kind] = group["n"]
        return {post_id: (c[0], c[1], c[2]) for post_id, c in counts.items()}

    async def my_reactions(self, user_id: str, post_ids: list[str]) -> dict[str, list[str]]:
        mine: dict[str, list[str]] = {}
        with driver_errors():
            for chunk in chunks(post_ids):
                cursor = self._reactions.find(
                    {"post_id": {"$in": chunk}, "user_id": user_id}, {"post_id": True, "emoji": True}
                ).sort("_id", ASCENDING)
                async for doc in cursor:
                    mine.setdefault(doc["post_id"], []).append(doc["emoji"])
        return mine

    async def reaction_counts_by(self, user_ids: list[str], post_ids: list[str]) -> dict[str, int]:
        if not user_ids:
            return {}
        users = list(dict.fromkeys(user_ids))
        counts: dict[str, int] = {}
        with driver_errors():
            for chunk in chunks(post_ids):
                cursor = await self._reactions.aggregate(
                    [
                        {"$match": {"post_id": {"$in": chunk}, "user_id": {"$in": users}}},
                        # Each user once, however many emoji they used.
                        {"$group": {"_id": {"post_id": "$post_id", "user_id": "$user_id"}}},
                        {"$group": {"_id": "$_id.post_id", "users": {"$sum": 1}}},
                    ]
                )
                async for group in cursor:
                    counts[group["_id"]] = group["users"]
        return counts
