"""Reads shaped for one viewer: posts with their authors, embedded originals, reactions and
share counts (replies, reposts, quotes), in as few storage round trips as a page needs (a fixed
number, whatever the page's length).

Visibility lives here too, so every read applies the same rules: a viewer does not see posts by
users they hide (mutes, blocks either way), nor posts in a community that needs approval unless
they are a member of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import NamedTuple, Protocol

from protocol.codec import event_tail
from protocol.messages import Post, PostCreatedEvent

from ..store.base import (
    AccountStorage,
    CommunityRecord,
    CommunityStorage,
    PostRecord,
    PostStorage,
    UserRecord,
)
from . import present


class ViewsPorts(AccountStorage, PostStorage, CommunityStorage, Protocol):
    """The storage Views uses: it reads the authors, reactions and communities a post view shows."""


class Views:
    def __init__(self, store: ViewsPorts) -> None:
        self._store = store

    async def posts(
        self,
        viewer_id: str | None,
        records: list[PostRecord],
        *,
        hidden: Collection[str] = (),
        embedded: bool = False,
    ) -> list[Post]:
        """Present standing ``records`` in order, leaving out those by ``hidden`` authors.

        ``viewer_id`` None presents them as events are (no ``my_reactions``). ``embedded``
        presents them as they sit inside another post's ``repost_of``/``quote_of``: one level
        deep, their own ``repost_of`` and ``quote_of`` null (PROTOCOL.md section 1, Post)."""
        records = [r for r in records if r.author_id not in hidden and r.deleted_pos is None]
        # An embedded post's own originals are never shown, so they are not read either.
        embedded_ids = (
            [] if embedded else [r.repost_of or r.quote_of for r in records if r.repost_of or r.quote_of]
        )
        originals = await self._store.get_posts([i for i in embedded_ids if i]) if embedded_ids else {}
        standing = {i: r for i, r in originals.items() if r.deleted_pos is None and r.author_id not in hidden}
        ids = [r.id for r in records] + list(standing)
        authors = await self._store.get_users(list({r.author_id for r in [*records, *standing.values()]}))
        counts = await self._store.reaction_counts(ids) if ids else {}
        shares = await self._store.share_counts(ids) if ids else {}
        mine = await self._store.my_reactions(viewer_id, ids) if viewer_id and ids else {}

        def one(record: PostRecord, *, nested: bool) -> Post | None:
            author = authors.get(record.author_id)
            if author is None:
                return None
            original = None
            if not nested and (record.repost_of or record.quote_of):
                inner = standing.get(record.repost_of or record.quote_of or "")
                original = one(inner, nested=True) if inner else None
            return present.post(
                record,
                author,
                repost_of=original if record.repost_of else None,
                quote_of=original if record.quote_of else None,
                counts=counts.get(record.id, ()),
                mine=mine.get(record.id, ()),
                shares=shares.get(record.id, (0, 0, 0)),
            )

        return [p for p in (one(r, nested=embedded) for r in records) if p is not None]

    async def post(self, viewer_id: str | None, record: PostRecord, *, embedded: bool = False) -> Post:
        presented = await self.posts(viewer_id, [record], embedded=embedded)
        if not presented:  # pragma: no cover - callers pass a standing post by a real user
            raise LookupError(record.id)
        return presented[0]

    async def can_see(self, viewer: UserRecord, record: PostRecord, hidden: Collection[str]) -> bool:
        """A standing post the viewer may read."""
        if record.deleted_pos is not None or record.author_id in hidden:
            return False
        if record.community_id is None:
            return True
        community = await self._store.get_community(record.community_id)
        return community is not None and await self.can_read_community(viewer.id, community)

    async def can_read_community(self, viewer_id: str, community: CommunityRecord) -> bool:
        if not community.approval_required:
            return True
        return await self._store.membership(community.id, viewer_id) is not None


class Presented(NamedTuple):
    """A post as events show it, and its ``post.created`` tail at its own position."""

    post: Post
    tail: bytes


class EventPresenter:
    """Posts as events show them (no viewer: no ``my_reactions``), presented for every caller
    that asks while a presentation is under way in one go: the backlogs of a reconnect storm.

    Ten thousand clients resuming at once ask for the same few posts, and each presentation is
    up to four storage reads (originals, authors, reaction and share counts) and the building of
    each post: 226 k instructions per replayed post per client when each resume presented its
    own (BENCHMARKS.md), 146 k since. Here the first caller presents at once; those who ask
    meanwhile wait for it to end and are then presented together, once per post. Nobody shares a read that began before they asked: a resume reads
    its backlog after subscribing, so that what is published in between reaches it, and a read
    already under way might predate the subscription. A presentation is the same whatever else
    is presented with it (one post's view depends on that post alone when there is no viewer),
    so a caller gets what it would have got alone, in its own order."""

    def __init__(self, views: Views) -> None:
        self._views = views
        self._waiting: list[tuple[list[PostRecord], asyncio.Future[list[Presented]]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def posts(self, records: list[PostRecord]) -> list[Presented]:
        """Standing ``records`` presented in order, as :meth:`Views.posts` with no viewer does,
        each with its ``post.created`` event's tail at the post's own position (that of the
        stream item that created it), encoded once for everyone it was presented to."""
        if not records:
            return []
        answer: asyncio.Future[list[Presented]] = asyncio.get_running_loop().create_future()
        self._waiting.append((records, answer))
        if self._worker is None:
            self._worker = asyncio.create_task(self._present())
        return await answer

    async def _present(self) -> None:
        batch: list[tuple[list[PostRecord], asyncio.Future[list[Presented]]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                union = {record.id: record for records, _ in batch for record in records}
                try:
                    presented = await self._views.posts(None, list(union.values()))
                except Exception as exc:  # storage down: each caller fails as it would alone
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                by_id = {
                    post.id: Presented(post, event_tail(PostCreatedEvent(post=post), post.id))
                    for post in presented
                }
                for records, answer in batch:
                    if not answer.done():  # its caller may have given up (its client left)
                        answer.set_result([by_id[r.id] for r in records if r.id in by_id])
                batch = []
        finally:
            self._worker = None
            for _, answer in [*batch, *self._waiting]:  # cancelled itself: at shut-down
                answer.cancel()
            self._waiting = []
