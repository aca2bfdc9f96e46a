"""Uploaded pictures on MongoDB: :class:`MediaStore` (MediaStorage in server/store/base.py), one
part of :class:`~server.store.mongo.MongoStorage`, and the claim that attaches them.

:func:`claim` is the one place an upload is attached. The writes that attach (a post, an
announcement, a message, an avatar) have no transaction to share with it, so they claim first,
each upload with one conditional update, and register each claim's give-back in their
:class:`~.driver.Undo`: if storing the item then fails or refuses (NonceTaken), the uploads are
waiting again as they were. See "Attaching pictures" in :mod:`server.store.mongo`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from ..base import MediaRecord, MediaUnavailable, NonceTaken, TooManyUploads
from .database import Database
from .driver import NULL, Document, Undo, chunks, driver_errors
from .records import media_fields, media_record


def waiting(now_ms: int) -> Document:
    """The filter of uploads not attached to anything and unexpired at ``now_ms``. The
    ``$type`` restates what ``$gt`` on a number implies, so that the filter visibly implies the
    partial filter of the indexes over such records (INDEXES "waiting_by_owner")."""
    return {"subject": NULL, "expires_ms": {"$gt": now_ms, "$type": "number"}}


async def claim_once(
    media: AsyncCollection[Document],
    owner_id: str,
    wanted: Sequence[tuple[str, str | None]],
    *,
    subject: str,
    now_ms: int,
    undo: Undo,
    nonce_taken: Callable[[], Awaitable[bool]] | None,
    taken: str,
) -> tuple[MediaRecord, ...]:
    """:func:`claim` for an item stored with a client's nonce (a post, a message): a nonce
    already taken is told first (NonceTaken with ``taken``), so a retry is answered with what the
    first call stored and does not meet its own pictures, which that call attached. Should the
    pictures be lost to a concurrent call with the nonce, the nonce is looked up again: NonceTaken
    if that call's item is stored by then."""
    if nonce_taken is not None and await nonce_taken():
        raise NonceTaken(taken)
    try:
        return await claim(media, owner_id, wanted, kind="post", subject=subject, now_ms=now_ms, undo=undo)
    except MediaUnavailable:
        if nonce_taken is not None and await nonce_taken():
            raise NonceTaken(taken) from None
        raise


async def claim(
    media: AsyncCollection[Document],
    owner_id: str,
    wanted: Sequence[tuple[str, str | None]],
    *,
    kind: str,
    subject: str,
    now_ms: int,
    undo: Undo,
) -> tuple[MediaRecord, ...]:
    """Attach the owner's waiting uploads ``wanted`` (id, alt) of ``kind`` to ``subject``, in
    order, each with one conditional update (of concurrent claims of one upload exactly one
    matches). MediaUnavailable at the first that is not one; each claim made registers its
    give-back in ``undo`` (the caller's :func:`~.driver.all_or_nothing` runs them)."""
    attached = []
    for media_id, alt in wanted:
        before = await media.find_one_and_update(
            {"_id": media_id, "owner_id": owner_id, "kind": kind, **waiting(now_ms)},
            {"$set": {"subject": subject, "alt": alt, "expires_ms": None}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            raise MediaUnavailable(media_id)
        # The give-back: waiting again as it was, if it is still attached as this call left it
        # (no other call can have claimed it since: it was not waiting).
        undo.add(
            functools.partial(
                media.update_one,
                {"_id": media_id, "subject": subject},
                {"$set": {"subject": None, "alt": before["alt"], "expires_ms": before["expires_ms"]}},
            )
        )
        attached.append(replace(media_record(before, media_id), subject=subject, alt=alt, expires_ms=None))
    return tuple(attached)


async def detach(media: AsyncCollection[Document], subject: str, now_ms: int) -> list[MediaRecord]:
    """Detach what ``subject`` holds (``subject`` null, ``expires_ms`` ``now_ms``), each record
    with one conditional update, and return those this call detached, as they were, by id:
    of concurrent calls each record is returned by the one that detached it."""
    # A string subject: the by_subject index holds those only (see waiting()).
    cursor = media.find({"subject": {"$eq": subject, "$type": "string"}}).sort("_id", ASCENDING)
    detached = []
    async for doc in cursor:
        result = await media.update_one(
            {"_id": doc["_id"], "subject": subject}, {"$set": {"subject": None, "expires_ms": now_ms}}
        )
        if result.matched_count == 1:
            detached.append(media_record(doc, doc["_id"]))
    return detached


class MediaStore(Database):
    """The ``media`` collection: uploads waiting, attached, detached, until collected."""

    async def add_media(self, record: MediaRecord, *, pending_max: int) -> None:
        with driver_errors():
            # Count, then insert: concurrent calls of one owner may pass the bound by their
            # number (the port allows it). Counting stops at the bound: no more is read.
            held = 0
            if pending_max > 0:  # a limit of 0 would be none
                cursor = self._media.find(
                    {"owner_id": record.owner_id, **waiting(record.created_ms)}, {"_id": True}
                ).limit(pending_max)
                held = len(await cursor.to_list())
            if held >= pending_max:
                raise TooManyUploads(f"{record.owner_id} holds {held} uploads")
            await self._media.insert_one({"_id": record.id, **media_fields(record)})

    async def count_waiting_media(self, owner_id: str, *, now_ms: int) -> int:
        with driver_errors():
            return await self._media.count_documents({"owner_id": owner_id, **waiting(now_ms)})

    async def get_media(self, media_id: str) -> MediaRecord | None:
        with driver_errors():
            doc = await self._media.find_one({"_id": media_id})
        return media_record(doc, media_id) if doc else None

    async def detach_media(self, subject: str, *, now_ms: int) -> list[MediaRecord]:
        with driver_errors():
            return await detach(self._media, subject, now_ms)

    async def expired_media(self, now_ms: int, *, limit: int) -> list[MediaRecord]:
        if limit <= 0:
            return []
        query = {"subject": NULL, "expires_ms": {"$lte": now_ms, "$type": "number"}}
        with driver_errors():
            cursor = (
                self._media.find(query).sort([("expires_ms", ASCENDING), ("_id", ASCENDING)]).limit(limit)
            )
            return [media_record(doc, doc["_id"]) async for doc in cursor]

    async def delete_media(self, media_ids: list[str]) -> None:
        with driver_errors():
            for chunk in chunks(media_ids):
                # Only if still not attached: one attached meanwhile stays.
                await self._media.delete_many({"_id": {"$in": chunk}, "subject": NULL})
