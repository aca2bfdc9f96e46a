"""Communities, their members, join requests and bans on MongoDB: :class:`CommunityStore`,
one part of :class:`~server.store.mongo.MongoStorage`.

How ``member_count``, ``create_community``, ``add_member``, ``ban`` and
``transfer_ownership`` stay correct without transactions is told in :mod:`server.store.mongo`.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Final

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..base import CommunityRecord, JoinRequestRecord, MembershipRecord, NotFound
from .database import Database
from .driver import NULL, Document, Undo, after_filter, all_or_nothing, chunks, driver_errors
from .records import community_record, membership_record

_log = logging.getLogger(__name__)

#: How long a community's ownership transfer holds off others (see transfer_ownership): far
#: longer than its three writes take, short enough that one cut off half way blocks little.
_TRANSFER_LEASE_MS: Final = 60_000


class CommunityStore(Database):
    """Communities, memberships (each counted in its community's ``member_count``), join
    requests and bans."""

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
        membership_id = self._ids.new(now_ms)
        with driver_errors():
            async with all_or_nothing() as undo:
                # The owner's membership first: until the community exists nobody knows its id.
                await self._memberships.insert_one(
                    {
                        "_id": membership_id,
                        "community_id": community.id,
                        "user_id": owner_id,
                        "role": "owner",
                        "joined_ms": now_ms,
                    }
                )
                undo.add(lambda: self._memberships.delete_one({"_id": membership_id}))
                await self._communities.insert_one(
                    {
                        "_id": community.id,
                        "name": name,
                        "name_key": name.casefold(),
                        "description": description,
                        "tags": list(tags),
                        "approval_required": approval_required,
                        "certified": False,
                        "owner_id": owner_id,
                        "created_ms": now_ms,
                        "member_count": 1,
                        "transfer": None,
                    }
                )
        return community

    async def get_community(self, community_id: str) -> CommunityRecord | None:
        with driver_errors():
            doc = await self._communities.find_one({"_id": community_id})
        return community_record(doc) if doc else None

    async def get_communities(self, community_ids: list[str]) -> dict[str, CommunityRecord]:
        found: dict[str, CommunityRecord] = {}
        with driver_errors():
            for chunk in chunks(community_ids):
                async for doc in self._communities.find({"_id": {"$in": chunk}}):
                    found[doc["_id"]] = community_record(doc)
        return found

    async def search_communities(
        self, *, query: str, tag: str | None, offset: int, limit: int
    ) -> list[CommunityRecord]:
        if limit <= 0:
            return []
        wanted: Document = {}
        if key := query.casefold():
            # name_key is the name casefolded when stored; the query, escaped, matches
            # anywhere in it (a backslash before a non-alphanumeric is a literal in PCRE too).
            wanted["name_key"] = {"$regex": re.escape(key)}
        if tag is not None:
            wanted["tags"] = tag
        with driver_errors():
            cursor = (
                self._communities.find(wanted)
                .sort([("member_count", DESCENDING), ("_id", ASCENDING)])
                .skip(max(offset, 0))
                .limit(limit)
            )
            return [community_record(doc) async for doc in cursor]

    async def set_certified(self, community_id: str, certified: bool) -> bool:
        with driver_errors():
            result = await self._communities.update_one(
                {"_id": community_id}, {"$set": {"certified": certified}}
            )
        return result.matched_count == 1

    async def membership(self, community_id: str, user_id: str) -> MembershipRecord | None:
        with driver_errors():
            doc = await self._memberships.find_one({"community_id": community_id, "user_id": user_id})
        return membership_record(doc) if doc else None

    async def memberships_of(self, user_id: str) -> list[MembershipRecord]:
        with driver_errors():
            cursor = self._memberships.find({"user_id": user_id}).sort("_id", ASCENDING)
            return [membership_record(doc) async for doc in cursor]

    async def memberships_page(
        self, user_id: str, *, after: str | None, limit: int
    ) -> list[MembershipRecord]:
        if limit <= 0:
            return []
        query = {"user_id": user_id, **after_filter("_id", after)}
        with driver_errors():
            cursor = self._memberships.find(query).sort("_id", ASCENDING).limit(limit)
            return [membership_record(doc) async for doc in cursor]

    async def add_member(
        self, community_id: str, user_id: str, *, role: str, now_ms: int
    ) -> MembershipRecord | None:
        membership = MembershipRecord(self._ids.new(now_ms), community_id, user_id, role, now_ms)
        with driver_errors():
            if await self._communities.find_one({"_id": community_id}, {"_id": True}) is None:
                raise NotFound(f"no community {community_id}")
            async with all_or_nothing() as undo:
                try:
                    await self._memberships.insert_one(
                        {
                            "_id": membership.id,
                            "community_id": community_id,
                            "user_id": user_id,
                            "role": role,
                            "joined_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return None
                undo.add(lambda: self._memberships.delete_one({"_id": membership.id}))
                await self._count_members(community_id, +1, undo)
                request = await self._join_requests.find_one_and_delete(
                    {"community_id": community_id, "user_id": user_id}
                )
                if request is not None:
                    undo.add(lambda: self._join_requests.insert_one(request))
        return membership

    async def _count_members(self, community_id: str, delta: int, undo: Undo) -> None:
        """``$inc`` the member count by ``delta`` for a membership just inserted or deleted."""
        counted = await self._communities.update_one({"_id": community_id}, {"$inc": {"member_count": delta}})
        if counted.matched_count == 0:
            raise NotFound(f"no community {community_id}")
        undo.add(
            lambda: self._communities.update_one({"_id": community_id}, {"$inc": {"member_count": -delta}})
        )

    async def _remove_membership(self, community_id: str, user_id: str, undo: Undo) -> bool:
        """Delete the membership and count it, registering how to put both back."""
        doc = await self._memberships.find_one_and_delete({"community_id": community_id, "user_id": user_id})
        if doc is None:
            return False
        undo.add(lambda: self._memberships.insert_one(doc))
        await self._count_members(community_id, -1, undo)
        return True

    async def remove_member(self, community_id: str, user_id: str) -> bool:
        with driver_errors():
            async with all_or_nothing() as undo:
                return await self._remove_membership(community_id, user_id, undo)

    async def set_role(self, community_id: str, user_id: str, role: str) -> bool:
        with driver_errors():
            result = await self._memberships.update_one(
                {"community_id": community_id, "user_id": user_id}, {"$set": {"role": role}}
            )
        return result.matched_count == 1

    async def transfer_ownership(self, community_id: str, from_id: str, to_id: str) -> bool:
        with driver_errors():
            community = await self._communities.find_one({"_id": community_id}, {"owner_id": True})
            if community is None or community["owner_id"] != from_id:
                return False
            if await self.membership(community_id, to_id) is None:
                return False
            if to_id == from_id:  # the owner stays the owner: nothing to change
                return True
            now_ms = int(time.time() * 1000)
            token = self._ids.new(now_ms)
            async with all_or_nothing() as undo:
                # The decision: of concurrent transfers of this community one matches, and none
                # while another one's lease is live, so that a transfer by the new owner cannot
                # run between this one's steps.
                moved = await self._communities.update_one(
                    {
                        "_id": community_id,
                        "owner_id": from_id,
                        "$or": [{"transfer": NULL}, {"transfer.until_ms": {"$lt": now_ms}}],
                    },
                    {
                        "$set": {
                            "owner_id": to_id,
                            "transfer": {"token": token, "until_ms": now_ms + _TRANSFER_LEASE_MS},
                        }
                    },
                )
                if moved.matched_count == 0:
                    return False
                undo.add(
                    lambda: self._communities.update_one(
                        {"_id": community_id, "transfer.token": token},
                        {"$set": {"owner_id": from_id, "transfer": None}},
                    )
                )
                heir = await self._memberships.find_one_and_update(
                    {"community_id": community_id, "user_id": to_id}, {"$set": {"role": "owner"}}
                )
                if heir is None:  # they left or were removed since the check
                    await undo.run()
                    return False
                undo.add(
                    lambda: self._memberships.update_one(
                        {"community_id": community_id, "user_id": to_id, "role": "owner"},
                        {"$set": {"role": heir["role"]}},
                    )
                )
                await self._memberships.update_one(
                    {"community_id": community_id, "user_id": from_id}, {"$set": {"role": "moderator"}}
                )
        # Done: release the lease. Should that fail, it expires and only delays the next transfer.
        try:
            await self._communities.update_one(
                {"_id": community_id, "transfer.token": token}, {"$set": {"transfer": None}}
            )
        except PyMongoError:
            _log.warning(
                "community %s transferred, but its transfer lease stays until it expires", community_id
            )
        return True

    async def members(self, community_id: str, *, after: str | None, limit: int) -> list[MembershipRecord]:
        if limit <= 0:
            return []
        query = {"community_id": community_id, **after_filter("_id", after)}
        with driver_errors():
            cursor = self._memberships.find(query).sort("_id", ASCENDING).limit(limit)
            return [membership_record(doc) async for doc in cursor]

    async def member_ids(self, community_id: str, *, roles: tuple[str, ...] | None = None) -> list[str]:
        query: Document = {"community_id": community_id}
        if roles is not None:
            query["role"] = {"$in": list(roles)}
        with driver_errors():
            cursor = self._memberships.find(query, {"user_id": True}).sort("_id", ASCENDING)
            return [doc["user_id"] async for doc in cursor]

    async def add_join_request(self, community_id: str, user_id: str, now_ms: int) -> bool:
        with driver_errors():
            try:
                await self._join_requests.insert_one(
                    {
                        "_id": self._ids.new(now_ms),
                        "community_id": community_id,
                        "user_id": user_id,
                        "created_ms": now_ms,
                    }
                )
            except DuplicateKeyError:
                return False
        return True

    async def remove_join_request(self, community_id: str, user_id: str) -> bool:
        with driver_errors():
            result = await self._join_requests.delete_one({"community_id": community_id, "user_id": user_id})
        return result.deleted_count == 1

    async def join_requests(self, community_id: str, *, limit: int) -> list[JoinRequestRecord]:
        if limit <= 0:
            return []
        with driver_errors():
            cursor = (
                self._join_requests.find({"community_id": community_id})
                .sort([("created_ms", ASCENDING), ("_id", ASCENDING)])
                .limit(limit)
            )
            return [
                JoinRequestRecord(doc["community_id"], doc["user_id"], doc["created_ms"])
                async for doc in cursor
            ]

    async def has_join_request(self, community_id: str, user_id: str) -> bool:
        with driver_errors():
            doc = await self._join_requests.find_one(
                {"community_id": community_id, "user_id": user_id}, {"_id": True}
            )
        return doc is not None

    async def ban(self, community_id: str, user_id: str, *, by: str, now_ms: int) -> bool:
        ban_id = self._ids.new(now_ms)
        with driver_errors():
            async with all_or_nothing() as undo:
                try:
                    await self._bans.insert_one(
                        {
                            "_id": ban_id,
                            "community_id": community_id,
                            "user_id": user_id,
                            "by": by,
                            "created_ms": now_ms,
                        }
                    )
                except DuplicateKeyError:
                    return False
                undo.add(lambda: self._bans.delete_one({"_id": ban_id}))
                await self._remove_membership(community_id, user_id, undo)
                request = await self._join_requests.find_one_and_delete(
                    {"community_id": community_id, "user_id": user_id}
                )
                if request is not None:
                    undo.add(lambda: self._join_requests.insert_one(request))
        return True

    async def unban(self, community_id: str, user_id: str) -> bool:
        with driver_errors():
            result = await self._bans.delete_one({"community_id": community_id, "user_id": user_id})
        return result.deleted_count == 1

    async def is_banned(self, community_id: str, user_id: str) -> bool:
        with driver_errors():
            doc = await self._bans.find_one({"community_id": community_id, "user_id": user_id}, {"_id": True})
        return doc is not None
