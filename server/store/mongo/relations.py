"""Follows, blocks and mutes on MongoDB: :class:`RelationStore`, one part of
:class:`~server.store.mongo.MongoStorage`."""

from __future__ import annotations

import asyncio
import functools
from typing import Final

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from ..base import BlockOutcome, FollowEdge, Surroundings
from .database import Database
from .driver import Document, all_or_nothing, chunks, driver_errors

#: "Most recent first" for the few blocks or mutes of one user: by time, then by id.
_MOST_RECENT: Final = [("created_ms", DESCENDING), ("_id", DESCENDING)]


class RelationStore(Database):
    """Whom a user follows, and what they do to keep others away (blocks, ending follows both
    ways; mutes)."""

    # --- follows -----------------------------------------------------------------------------

    async def follow(self, follower_id: str, followee_id: str, now_ms: int) -> bool:
        with driver_errors():
            try:
                await self._follows.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "follower_id": follower_id,
                        "followee_id": followee_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        with driver_errors():
            result = await self._follows.delete_one({"follower_id": follower_id, "followee_id": followee_id})
        return result.deleted_count == 1

    async def followee_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._follows.find({"follower_id": user_id}, {"followee_id": True, "_id": False}).sort(
                "followee_id", ASCENDING
            )
            return [doc["followee_id"] async for doc in cursor]

    async def follow_state(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        with driver_errors():
            following = await self._follows.find_one(
                {"follower_id": viewer_id, "followee_id": user_id}, {"_id": True}
            )
            followed_by = await self._follows.find_one(
                {"follower_id": user_id, "followee_id": viewer_id}, {"_id": True}
            )
        return following is not None, followed_by is not None

    async def follow_counts(self, user_id: str) -> tuple[int, int]:
        with driver_errors():
            followers = await self._follows.count_documents({"followee_id": user_id})
            following = await self._follows.count_documents({"follower_id": user_id})
        return followers, following

    async def friend_ids(self, user_id: str) -> list[str]:
        # Whom the user follows, then which of those follow back: both are covered reads of
        # pair_unique, the second point lookups, so the cost grows with the user's followees
        # and not with their followers (possibly many more).
        with driver_errors():
            followees = [
                doc["followee_id"]
                async for doc in self._follows.find(
                    {"follower_id": user_id}, {"followee_id": True, "_id": False}
                )
            ]
            friends: list[str] = []
            for chunk in chunks(followees):
                cursor = self._follows.find(
                    {"follower_id": {"$in": chunk}, "followee_id": user_id},
                    {"follower_id": True, "_id": False},
                )
                friends.extend([doc["follower_id"] async for doc in cursor])
        return friends

    async def follower_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._follows.find({"followee_id": user_id}, {"follower_id": True, "_id": False})
            return [doc["follower_id"] async for doc in cursor]

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
        """One range of by_followee_newest or by_follower_newest: (created_ms, other) below
        ``before``, newest first."""
        if limit <= 0:
            return []
        query: Document = {mine: user_id}
        if before is not None:
            ms, other = before
            query["$or"] = [{"created_ms": {"$lt": ms}}, {"created_ms": ms, theirs: {"$lt": other}}]
        with driver_errors():
            cursor = (
                self._follows.find(query, {theirs: True, "created_ms": True, "_id": False})
                .sort([("created_ms", DESCENDING), (theirs, DESCENDING)])
                .limit(limit)
            )
            return [FollowEdge(doc[theirs], doc["created_ms"]) async for doc in cursor]

    # --- blocks and mutes --------------------------------------------------------------------

    async def block(self, blocker_id: str, blocked_id: str, now_ms: int) -> BlockOutcome:
        block_id = self._ids.new(now_ms)
        unfollowed: list[tuple[str, str]] = []
        with driver_errors():
            async with all_or_nothing() as undo:
                try:
                    await self._blocks.insert_one(
                        {
                            "_id": block_id,
                            "blocker_id": blocker_id,
                            "blocked_id": blocked_id,
                            "created_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return BlockOutcome(created=False, unfollowed=[])
                undo.add(lambda: self._blocks.delete_one({"_id": block_id}))
                for follower, followee in ((blocker_id, blocked_id), (blocked_id, blocker_id)):
                    ended = await self._follows.find_one_and_delete(
                        {"follower_id": follower, "followee_id": followee}
                    )
                    if ended is not None:
                        undo.add(functools.partial(self._follows.insert_one, ended))
                        unfollowed.append((follower, followee))
        return BlockOutcome(created=True, unfollowed=unfollowed)

    async def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        with driver_errors():
            result = await self._blocks.delete_one({"blocker_id": blocker_id, "blocked_id": blocked_id})
        return result.deleted_count == 1

    async def blocked_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._blocks.find({"blocker_id": user_id}, {"blocked_id": True}).sort(_MOST_RECENT)
            return [doc["blocked_id"] async for doc in cursor]

    async def blocks_between(self, a: str, b: str) -> bool:
        with driver_errors():
            doc = await self._blocks.find_one(
                {"$or": [{"blocker_id": a, "blocked_id": b}, {"blocker_id": b, "blocked_id": a}]},
                {"_id": True},
            )
        return doc is not None

    async def mute(self, user_id: str, target_id: str, now_ms: int) -> bool:
        with driver_errors():
            try:
                await self._mutes.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "user_id": user_id,
                        "target_id": target_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def unmute(self, user_id: str, target_id: str) -> bool:
        with driver_errors():
            result = await self._mutes.delete_one({"user_id": user_id, "target_id": target_id})
        return result.deleted_count == 1

    async def muted_ids(self, user_id: str) -> list[str]:
        with driver_errors():
            cursor = self._mutes.find({"user_id": user_id}, {"target_id": True}).sort(_MOST_RECENT)
            return [doc["target_id"] async for doc in cursor]

    async def relation(self, viewer_id: str, user_id: str) -> tuple[bool, bool]:
        with driver_errors():
            blocking, muting = await asyncio.gather(
                self._blocks.find_one({"blocker_id": viewer_id, "blocked_id": user_id}, {"_id": True}),
                self._mutes.find_one({"user_id": viewer_id, "target_id": user_id}, {"_id": True}),
            )
        return blocking is not None, muting is not None

    async def surroundings(self, user_id: str) -> Surroundings:
        # The reads go out together: one round trip's wait rather than four in a row.
        with driver_errors():
            followee_ids, memberships, hidden_ids, (followers, following) = await asyncio.gather(
                self.followee_ids(user_id),
                self._memberships.find({"user_id": user_id}, {"community_id": True})
                .sort("_id", ASCENDING)
                .to_list(),
                self.hidden_ids(user_id),
                self.follow_counts(user_id),
            )
        return Surroundings(
            followee_ids=followee_ids,
            community_ids=[doc["community_id"] for doc in memberships],
            hidden_ids=hidden_ids,
            followers=followers,
            following=following,
        )

    async def hidden_ids(self, user_id: str) -> set[str]:
        with driver_errors():
            muted, blocked, blockers = await asyncio.gather(
                self._mutes.find({"user_id": user_id}, {"target_id": True}).to_list(),
                self._blocks.find({"blocker_id": user_id}, {"blocked_id": True}).to_list(),
                self._blocks.find({"blocked_id": user_id}, {"blocker_id": True}).to_list(),
            )
        return (
            {doc["target_id"] for doc in muted}
            | {doc["blocked_id"] for doc in blocked}
            | {doc["blocker_id"] for doc in blockers}
        )
