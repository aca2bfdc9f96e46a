"""Conversations, their members and messages on MongoDB: :class:`ConversationStore`, one part
of :class:`~server.store.mongo.MongoStorage`.

How ``create_conversation`` keeps one direct conversation per pair, and how appends and member
changes stay ordered without transactions, is told in :mod:`server.store.mongo`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from ..base import (
    ConversationMemberRecord,
    ConversationRecord,
    MessageRecord,
    NonceTaken,
    NotFound,
    StorageUnavailable,
)
from .database import Database
from .driver import CLAIM_ATTEMPTS, Undo, after_filter, all_or_nothing, before_filter, driver_errors
from .media import claim_once
from .records import attached_documents, conversation_member_record, conversation_record, message_record


def _pair_key(member_ids: list[str]) -> str:
    """A direct conversation's key: the same for both orders of its two members."""
    return ":".join(sorted(member_ids))


class ConversationStore(Database):
    """Direct and group conversations, their members with read markers, and their messages."""

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
        if kind != "direct":
            with driver_errors():
                made = await self._insert_conversation(kind, owner_id, members, title, None, now_ms)
            if made is None:  # pragma: no cover - only a pair_key can be a duplicate
                raise StorageUnavailable("mongodb: a group conversation's key was taken")
            return made
        pair_key = _pair_key(members)
        with driver_errors():
            for _ in range(CLAIM_ATTEMPTS):
                # The partial index holds string keys only: the filter says so, as a query must
                # imply a partial index's filter for the planner to use it.
                existing = await self._conversations.find_one(
                    {"pair_key": {"$eq": pair_key, "$type": "string"}}
                )
                if existing is not None:
                    return conversation_record(existing), None
                made = await self._insert_conversation(kind, owner_id, members, title, pair_key, now_ms)
                if made is not None:
                    return made
                # Another call made the pair's conversation between the look and the insert:
                # look again (again, should its maker have undone it meanwhile).
        raise StorageUnavailable("mongodb: the pair's conversation kept appearing and vanishing")

    async def _insert_conversation(
        self,
        kind: str,
        owner_id: str,
        members: list[str],
        title: str | None,
        pair_key: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord] | None:
        """Insert the conversation, its members and its "created" message, in that order; None
        (nothing written) if the pair has a conversation already."""
        conversation_id = self._ids.new(now_ms)
        member_docs = [
            {
                "_id": self._ids.new(now_ms),
                "conversation_id": conversation_id,
                "user_id": user_id,
                "joined_ms": now_ms,
                "last_read": None,
            }
            for user_id in members
        ]
        message = MessageRecord(self._ids.new(now_ms), conversation_id, owner_id, "created", "", None, now_ms)
        conversation = ConversationRecord(
            id=conversation_id,
            kind=kind,
            title=title,
            owner_id=owner_id if kind == "group" else None,
            created_ms=now_ms,
            last_message_id=message.id,
        )
        async with all_or_nothing() as undo:
            try:
                await self._conversations.insert_one(
                    {
                        "_id": conversation.id,
                        "kind": kind,
                        "title": title,
                        "owner_id": conversation.owner_id,
                        "created_ms": now_ms,
                        "last_message_id": message.id,
                        "pair_key": pair_key,
                    }
                )
            except DuplicateKeyError:  # the only unique key but the fresh _id: pair_key
                return None
            undo.add(lambda: self._conversations.delete_one({"_id": conversation_id}))
            undo.add(lambda: self._members.delete_many({"conversation_id": conversation_id}))
            await self._members.insert_many(member_docs)
            await self._insert_message(message, undo)
        return conversation, message

    async def _insert_message(self, message: MessageRecord, undo: Undo, nonce: str | None = None) -> None:
        """Insert the message, its pictures (attached already) with it; NonceTaken if the
        author's nonce is taken in the conversation (INDEXES "nonce_unique"), having written
        nothing. Its undo comes first: an insert that fails may have been written (the id is
        fresh: deleting it otherwise deletes nothing)."""
        undo.add(lambda: self._messages.delete_one({"_id": message.id}))
        try:
            await self._messages.insert_one(
                {
                    "_id": message.id,
                    "conversation_id": message.conversation_id,
                    "author_id": message.author_id,
                    "kind": message.kind,
                    "text": message.text,
                    "subject_id": message.subject_id,
                    "created_ms": message.created_ms,
                    "nonce": nonce,
                    "media": attached_documents(message.media),
                }
            )
        except DuplicateKeyError as exc:
            raise NonceTaken(
                f"message nonce {nonce!r} of {message.author_id} in {message.conversation_id}"
            ) from exc

    async def _make_last(self, conversation_id: str, message_id: str) -> None:
        """Make the message the conversation's last unless a later one is already (``$max``:
        concurrent appends leave the newest). NotFound if there is no such conversation."""
        result = await self._conversations.update_one(
            {"_id": conversation_id}, {"$max": {"last_message_id": message_id}}
        )
        if result.matched_count == 0:
            raise NotFound(f"no conversation {conversation_id}")

    async def _require_conversation(self, conversation_id: str) -> None:
        if await self._conversations.find_one({"_id": conversation_id}, {"_id": True}) is None:
            raise NotFound(f"no conversation {conversation_id}")

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        with driver_errors():
            doc = await self._conversations.find_one({"_id": conversation_id})
        return conversation_record(doc) if doc else None

    async def conversation_members(self, conversation_id: str) -> list[ConversationMemberRecord]:
        with driver_errors():
            cursor = self._members.find({"conversation_id": conversation_id}).sort("_id", ASCENDING)
            return [conversation_member_record(doc) async for doc in cursor]

    async def conversation_member(
        self, conversation_id: str, user_id: str
    ) -> ConversationMemberRecord | None:
        with driver_errors():
            doc = await self._members.find_one({"conversation_id": conversation_id, "user_id": user_id})
        return conversation_member_record(doc) if doc else None

    async def _conversation_ids(self, user_id: str) -> list[str]:
        """The conversations the user is a member of now."""
        cursor = self._members.find({"user_id": user_id}, {"conversation_id": True, "_id": False})
        return [doc["conversation_id"] async for doc in cursor]

    async def conversations_of(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[ConversationRecord]:
        if limit <= 0:
            return []
        with driver_errors():
            ids = await self._conversation_ids(user_id)
            if not ids:
                return []
            query = {"_id": {"$in": ids}, **before_filter("last_message_id", before)}
            # Most recently active first; last_message_ids are message ids, unique.
            cursor = self._conversations.find(query).sort("last_message_id", DESCENDING).limit(limit)
            return [conversation_record(doc) async for doc in cursor]

    async def add_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> MessageRecord:
        with driver_errors():
            await self._require_conversation(conversation_id)
            message = MessageRecord(
                self._ids.new(now_ms), conversation_id, author_id, kind, text, subject_id, now_ms
            )
            async with all_or_nothing() as undo:
                message = await self._attach_to_message(message, media, nonce, undo)
                await self._insert_message(message, undo, nonce)
                await self._make_last(conversation_id, message.id)
        return message

    async def _attach_to_message(
        self, message: MessageRecord, media: Sequence[tuple[str, str | None]], nonce: str | None, undo: Undo
    ) -> MessageRecord:
        """Claim the pictures for the message about to be inserted, as PostStore._attach_to_post does
        for a post (a taken nonce told first), as "message:<conversation id>:<message id>"."""
        if not media:
            return message
        attached = await claim_once(
            self._media,
            message.author_id,
            media,
            subject=f"message:{message.conversation_id}:{message.id}",
            now_ms=message.created_ms,
            undo=undo,
            nonce_taken=functools.partial(self._message_nonce_taken, message, nonce) if nonce else None,
            taken=f"message nonce {nonce!r} of {message.author_id} in {message.conversation_id}",
        )
        return replace(message, media=attached)

    async def _message_nonce_taken(self, message: MessageRecord, nonce: str) -> bool:
        found = await self._messages.find_one(
            {"conversation_id": message.conversation_id, "author_id": message.author_id, "nonce": nonce},
            {"_id": True},
        )
        return found is not None

    async def message_by_nonce(
        self, conversation_id: str, author_id: str, nonce: str
    ) -> MessageRecord | None:
        with driver_errors():
            doc = await self._messages.find_one(
                {"conversation_id": conversation_id, "author_id": author_id, "nonce": nonce}
            )
        return message_record(doc) if doc else None

    async def add_conversation_members(
        self, conversation_id: str, user_ids: list[str], *, by: str, now_ms: int
    ) -> list[MessageRecord]:
        added: list[MessageRecord] = []
        with driver_errors():
            await self._require_conversation(conversation_id)
            async with all_or_nothing() as undo:
                for user_id in dict.fromkeys(user_ids):
                    member_id = self._ids.new(now_ms)
                    try:
                        await self._members.insert_one(
                            {
                                "_id": member_id,
                                "conversation_id": conversation_id,
                                "user_id": user_id,
                                "joined_ms": now_ms,
                                "last_read": None,
                            }
                        )
                    except DuplicateKeyError:  # a member already
                        continue
                    undo.add(functools.partial(self._members.delete_one, {"_id": member_id}))
                    message = MessageRecord(
                        self._ids.new(now_ms), conversation_id, by, "added", "", user_id, now_ms
                    )
                    await self._insert_message(message, undo)
                    added.append(message)
                if added:
                    await self._make_last(conversation_id, added[-1].id)
        return added

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
        with driver_errors():
            async with all_or_nothing() as undo:
                gone = await self._members.find_one_and_delete(
                    {"conversation_id": conversation_id, "user_id": user_id}
                )
                if gone is None:
                    return None
                undo.add(lambda: self._members.insert_one(gone))
                if new_owner_id is not None:
                    before = await self._conversations.find_one_and_update(
                        {"_id": conversation_id}, {"$set": {"owner_id": new_owner_id}}
                    )
                    if before is not None:
                        undo.add(
                            lambda: self._conversations.update_one(
                                {"_id": conversation_id, "owner_id": new_owner_id},
                                {"$set": {"owner_id": before["owner_id"]}},
                            )
                        )
                message = MessageRecord(self._ids.new(now_ms), conversation_id, by, kind, "", user_id, now_ms)
                await self._insert_message(message, undo)
                await self._make_last(conversation_id, message.id)
        return message

    async def messages(self, conversation_id: str, *, before: str | None, limit: int) -> list[MessageRecord]:
        if limit <= 0:
            return []
        query = {"conversation_id": conversation_id, **before_filter("_id", before)}
        with driver_errors():
            cursor = self._messages.find(query).sort("_id", DESCENDING).limit(limit)
            return [message_record(doc) async for doc in cursor]

    async def direct_stream_after(self, user_id: str, *, after: str, limit: int) -> list[MessageRecord]:
        if limit <= 0:
            return []
        with driver_errors():
            ids = await self._conversation_ids(user_id)
            if not ids:
                return []
            query = {"conversation_id": {"$in": ids}, "_id": {"$gt": after}}
            cursor = self._messages.find(query).sort("_id", ASCENDING).limit(limit)
            return [message_record(doc) async for doc in cursor]

    async def set_last_read(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        with driver_errors():
            # $max: only forward (null, no marker yet, sorts before every string).
            result = await self._members.update_one(
                {"conversation_id": conversation_id, "user_id": user_id}, {"$max": {"last_read": message_id}}
            )
        return result.modified_count == 1

    async def unread_counts(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        if not conversation_ids:
            return {}
        with driver_errors():
            cursor = self._members.find(
                {"user_id": user_id, "conversation_id": {"$in": list(dict.fromkeys(conversation_ids))}},
                {"conversation_id": True, "last_read": True},
            )
            markers = {doc["conversation_id"]: doc["last_read"] async for doc in cursor}
            if not markers:
                return {}
            unread = dict.fromkeys(markers, 0)
            # One branch per conversation, each whole: its text messages by others after the
            # member's marker (one range of the by_conversation index).
            unread_here = [
                {
                    "conversation_id": conversation_id,
                    **after_filter("_id", last_read),
                    "kind": "text",
                    "author_id": {"$ne": user_id},
                }
                for conversation_id, last_read in markers.items()
            ]
            groups = await self._messages.aggregate(
                [
                    {"$match": {"$or": unread_here}},
                    {"$group": {"_id": "$conversation_id", "unread": {"$sum": 1}}},
                ]
            )
            async for group in groups:
                unread[group["_id"]] = group["unread"]
        return unread
