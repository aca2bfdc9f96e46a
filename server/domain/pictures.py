"""Pictures: uploads made into stored variants, served to whoever may see them, and collected.

An upload's life (the records in :mod:`server.store.records`, ``MediaRecord``):

1. ``upload``: the bytes go through the image pipeline in its pool (:mod:`server.media`), the two
   variants into the Blob port, content-addressed and owned by ``media:<id>``, and a record that
   waits ``media_pending_ttl_ms`` for its owner to attach it.
2. Attaching is a write of another area (a post, a message, an avatar: see "Attaching pictures"
   in :mod:`server.store.base`), so the picture and what shows it are stored together.
3. When what shows it goes (a post deleted, an avatar replaced), the record is detached, and
   ``collect`` releases its blobs and deletes it, as it does uploads never attached.

Who may see a picture (``served``) follows what it is attached to: an avatar, a post outside
communities or in an open community, anyone; a post in a community that needs approval, its
members; a message, the conversation's members; an upload not attached, its owner. Anything
else is ``not_found``, the same answer as for an id that does not exist, so the answer tells a
stranger nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import Media

from ..blobs.base import BlobNotFound, BlobStorage
from ..ids import IdGenerator
from ..media.images import MediaError, Processed, Variant
from ..media.worker import ImageWorker
from ..metrics import Metrics
from ..store.base import (
    AccountStorage,
    CommunityStorage,
    ConversationStorage,
    MediaRecord,
    MediaStorage,
    MediaVariantRecord,
    PostStorage,
    TooManyUploads,
    UserRecord,
)
from . import present

log = logging.getLogger(__name__)

Kind = Literal["post", "avatar"]
#: Who asks for a picture: called only when the answer depends on it.
Viewer = Callable[[], Awaitable[UserRecord | None]]
VARIANTS = ("display", "thumbnail")
COLLECT_BATCH = 500


class PicturesPorts(
    AccountStorage, PostStorage, CommunityStorage, ConversationStorage, MediaStorage, Protocol
):
    """The storage Pictures uses: media records, and what a picture is attached to."""


@dataclass(frozen=True, slots=True)
class Served:
    """A variant to send: its bytes and type, its digest (the ETag), and whether anyone may see
    it (cacheable by shared caches) or only some people."""

    data: bytes
    content_type: str
    digest: str
    public: bool


class Pictures:
    def __init__(
        self,
        store: PicturesPorts,
        blobs: BlobStorage,
        worker: ImageWorker,
        *,
        clock: Callable[[], int],
        metrics: Metrics,
        pending_max: int,
        pending_ttl_ms: int,
        collect_margin_ms: int,
        blob_grace_ms: int,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._worker = worker
        self._clock = clock
        self._metrics = metrics
        self._pending_max = pending_max
        self._pending_ttl_ms = pending_ttl_ms
        #: Uploads that expired less than this long ago are left for the next round: a node
        #: whose clock is behind may still be attaching one (it compares with its own clock).
        self._margin_ms = collect_margin_ms
        self._blob_grace_ms = blob_grace_ms
        self._ids = IdGenerator()

    async def upload(self, owner: UserRecord, data: bytes, kind: Kind) -> tuple[Media, int]:
        """Process and store an upload; the picture (its ``alt`` null) and when it expires.
        Refusals are ProtocolErrors with the pipeline's codes, ``too_many_uploads``."""
        try:
            # Checked again, exactly, when the record is stored; this spares the pool the work
            # of an upload that would be refused after it.
            if await self._store.count_waiting_media(owner.id, now_ms=self._clock()) >= self._pending_max:
                raise self._too_many()
            processed = await self._process(data, kind)
            record = await self._store_variants(owner, processed)
        except ProtocolError as exc:
            self._metrics.uploads.labels(outcome=exc.code.value).inc()
            raise
        self._metrics.uploads.labels(outcome="stored").inc()
        self._metrics.upload_bytes.inc(record.display.size + record.thumbnail.size)
        assert record.expires_ms is not None
        return present.media(record), record.expires_ms

    async def _process(self, data: bytes, kind: Kind) -> Processed:
        started = time.perf_counter()
        try:
            return await self._worker.process(data, kind=kind)
        except MediaError as exc:
            retry = 1_000 if exc.code.value == ErrorCode.BUSY.value else None
            raise ProtocolError(ErrorCode(exc.code.value), exc.message, retry_after_ms=retry) from None
        finally:
            self._metrics.image_processing.observe(time.perf_counter() - started)

    async def _store_variants(self, owner: UserRecord, processed: Processed) -> MediaRecord:
        now = self._clock()
        media_id = self._ids.new(now)
        holder = f"media:{media_id}"
        variants = [
            await self._put(variant, holder, now) for variant in (processed.display, processed.thumbnail)
        ]
        record = MediaRecord(
            id=media_id,
            owner_id=owner.id,
            kind=processed.kind,
            width=processed.width,
            height=processed.height,
            placeholder=processed.placeholder,
            animated=processed.animated,
            display=variants[0],
            thumbnail=variants[1],
            created_ms=now,
            expires_ms=now + self._pending_ttl_ms,
        )
        try:
            await self._store.add_media(record, pending_max=self._pending_max)
        except TooManyUploads:
            await self._release(record)
            raise self._too_many() from None
        return record

    def _too_many(self) -> ProtocolError:
        return ProtocolError(
            ErrorCode.TOO_MANY_UPLOADS,
            f"you have {self._pending_max} uploads waiting to be attached; attach or let them expire",
        )

    async def _put(self, variant: Variant, holder: str, now: int) -> MediaVariantRecord:
        """Store one variant and take a reference to it. A put renews a blob already stored, but
        the collector may still delete it between the put and the reference: then put again."""
        for _attempt in range(3):
            ref = await self._blobs.put(variant.data, content_type=variant.content_type, now_ms=now)
            try:
                await self._blobs.add_ref(ref.digest, holder)
            except BlobNotFound:
                continue
            return MediaVariantRecord(
                digest=ref.digest,
                content_type=variant.content_type,
                width=variant.width,
                height=variant.height,
                size=ref.size,
            )
        raise ProtocolError(ErrorCode.UNAVAILABLE, "the picture could not be stored; try again")

    async def _release(self, record: MediaRecord) -> None:
        for digest in record.digests:
            await self._blobs.release(digest, f"media:{record.id}")

    # --- serving ----------------------------------------------------------------------------------

    async def served(self, viewer: Viewer, media_id: str, variant: str) -> Served:
        """The variant of a picture the viewer may see; else not_found. ``viewer`` finds who
        asks (None: not signed in), only for a picture not everyone may see."""
        record = await self._store.get_media(media_id) if variant in VARIANTS else None
        public = await self._audience(record, viewer) if record is not None else None
        if record is None or public is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such picture")
        stored = record.display if variant == "display" else record.thumbnail
        blob = await self._blobs.get(stored.digest)
        if blob is None:
            # Collected under a record about to go (detached, expired): the same as gone.
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such picture")
        return Served(blob.data, stored.content_type, stored.digest, public)

    async def _audience(self, record: MediaRecord, viewer: Viewer) -> bool | None:
        """True if anyone may see the picture, False if ``viewer`` may as one of the few who
        may, None if ``viewer`` may not."""
        kind, _, rest = (record.subject or "").partition(":")
        if kind == "avatar":
            return True
        if kind == "post":
            post = await self._store.get_post(rest)
            if post is None or post.deleted_pos is not None:
                return None
            if post.community_id is None:
                return True
            community = await self._store.get_community(post.community_id)
            if community is None:
                return None
            if not community.approval_required:
                return True
            who = await viewer()
            member = who is not None and await self._store.membership(community.id, who.id) is not None
            return False if member else None
        who = await viewer()
        if who is None:
            return None
        if kind == "message":
            conversation_id = rest.partition(":")[0]
            return False if await self._store.conversation_member(conversation_id, who.id) else None
        # Not attached: an upload waiting, or a picture whose post or avatar has gone.
        return False if who.id == record.owner_id else None

    # --- collection -------------------------------------------------------------------------------

    async def collect(self) -> int:
        """Release the blobs of uploads expired unattached and of detached pictures, then
        delete their records, and collect the blobs nothing owns any more. Returns how many
        records went. Safe on several nodes at once: every step is idempotent."""
        now = self._clock()
        gone = 0
        while True:
            expired = await self._store.expired_media(now - self._margin_ms, limit=COLLECT_BATCH)
            if not expired:
                break
            for record in expired:
                await self._release(record)
            await self._store.delete_media([record.id for record in expired])
            gone += len(expired)
            self._metrics.media_collected.inc(len(expired))
            if len(expired) < COLLECT_BATCH:
                break
        await self._blobs.collect(now_ms=now, grace_ms=self._blob_grace_ms)
        return gone

    async def run_collector(self, interval_ms: int) -> None:
        """Collect every ``interval_ms`` until cancelled; a failed round is logged and retried
        at the next."""
        while True:
            await asyncio.sleep(interval_ms / 1000)
            try:
                collected = await self.collect()
            except Exception as exc:  # storage down: the next round tries again
                log.warning("collecting pictures failed: %s", exc)
            else:
                if collected:
                    log.info("collected %d pictures no longer used", collected)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._worker.close)
        await self._blobs.close()
