"""The three resumable streams, read back for a connection that resumes or fills a gap.

A client keeps the last position it saw on each stream (``following``, ``direct``,
``notifications``) and sends them in ``auth``; this module reads what came after each one from
storage and shapes it exactly as the live events were, so the client cannot tell a replayed event
from a live one. Positions are ids, unique across streams, so one connection de-duplicates them
in a single set (see ``Connection.replay``).

See ``docs/topics/resume.md``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from protocol.codec import event_tail
from protocol.messages import Cursors, DmMessageEvent, NotificationEvent

from ..ids import floor_id, timestamp_ms
from ..store.base import ConversationStorage, NotificationStorage
from .conversations import Conversations
from .notices import Notices
from .social import NOT_RECOVERED, Backlog, Social

#: Which positions of a page to present and give (the others are only read, and counted).
Wanted = Callable[[str], bool]


@dataclass
class Resume:
    """What a resuming connection missed, on every stream it sent a cursor for."""

    tails: list[bytes] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    #: Streams whose cursor was too far behind: the client reloads those views.
    reload: list[str] = field(default_factory=list)
    #: A cursor was sent for at least one stream.
    any_cursor: bool = False

    @property
    def recovered(self) -> bool:
        return self.any_cursor and not self.reload

    def add(self, stream: str, backlog: Backlog) -> None:
        self.any_cursor = True
        if not backlog.recovered:
            self.reload.append(stream)
            return
        self.tails.extend(backlog.tails)
        self.positions.extend(backlog.positions)


class StreamsPorts(ConversationStorage, NotificationStorage, Protocol):
    """The storage Streams uses: it reads the direct and notification streams (the following stream
    through :class:`.social.Social`)."""


class Streams:
    def __init__(
        self, store: StreamsPorts, social: Social, conversations: Conversations, notices: Notices
    ) -> None:
        self._store = store
        self._social = social
        self._conversations = conversations
        self._notices = notices

    async def resume(
        self,
        user_id: str,
        cursors: Cursors | None,
        limit: int,
        hidden: Collection[str],
        *,
        recent: Collection[str] | None = None,
        window_ms: int = 0,
    ) -> Resume:
        """What came after each cursor, at most ``limit`` items per stream.

        With ``recent`` (the positions the client holds within ``window_ms`` behind its cursors,
        PROTOCOL.md section 6.5), each stream also gives the items of that window the client
        lacks: items stored after one with a greater position, by another writer. They come
        first, oldest first, and count towards ``limit``."""
        resume = Resume()
        if cursors is None:
            return resume
        for stream, cursor in (
            ("following", cursors.following),
            ("direct", cursors.direct),
            ("notifications", cursors.notifications),
        ):
            if cursor is None:
                continue
            if recent is not None and window_ms > 0:
                backlog = await self._since_window(user_id, stream, cursor, limit, hidden, recent, window_ms)
            else:
                backlog = await self._backlog(user_id, stream, cursor, limit, hidden)
            resume.add(stream, backlog)
        return resume

    async def _backlog(
        self, user_id: str, stream: str, after: str, limit: int, hidden: Collection[str]
    ) -> Backlog:
        if stream == "following":
            return await self._social.following_backlog(user_id, after, limit, hidden)
        if stream == "direct":
            return await self.direct_backlog(user_id, after, limit)
        return await self.notification_backlog(user_id, after, limit)

    async def _since_window(
        self,
        user_id: str,
        stream: str,
        cursor: str,
        limit: int,
        hidden: Collection[str],
        recent: Collection[str],
        window_ms: int,
    ) -> Backlog:
        """What came after ``cursor``, preceded by the items of the ``window_ms`` before it that
        are not in ``recent`` (the client holds the others), in one read: the window's items
        come first, so reading ``2 × (limit + 1)`` from the window's start tells whether the
        window itself, or what follows the cursor, holds more than ``limit`` (either means the
        client reloads). Only the items given are presented: presenting the whole window was a
        third of a storm's resume work, and one read instead of two is a hop to storage less
        per stream."""
        start = floor_id(max(0, timestamp_ms(cursor) - window_ms))
        page = await self.page(
            user_id,
            stream,
            start,
            2 * (limit + 1),
            hidden,
            wanted=lambda pos: pos > cursor or pos not in recent,
        )
        within = bisect_right(page.scanned, cursor)
        if within > limit or page.read - within > limit or len(page.positions) > limit:
            return NOT_RECOVERED
        return Backlog(True, page.tails, page.positions)

    async def page(
        self,
        user_id: str,
        stream: str,
        after: str,
        limit: int,
        hidden: Collection[str] = (),
        *,
        wanted: Wanted | None = None,
    ) -> Backlog:
        """The first ``limit`` items of one stream after ``after``, however many more there
        are, shaped as the live events were; ``last`` says where the next page starts. For
        readers that keep up page by page (webhooks) rather than all at once. With ``wanted``,
        only the items whose position it accepts are presented and given (``last`` and
        ``read`` still count every item read)."""
        if stream == "following":
            return await self._social.following_page(user_id, after, limit, hidden, wanted=wanted)
        if stream == "direct":
            return await self._direct_page(user_id, after, limit, wanted)
        if stream == "notifications":
            return await self._notification_page(user_id, after, limit, wanted)
        raise ValueError(f"no stream {stream!r}")

    async def direct_backlog(self, user_id: str, after: str, limit: int) -> Backlog:
        backlog = await self._direct_page(user_id, after, limit + 1)
        return NOT_RECOVERED if backlog.read > limit else backlog

    async def notification_backlog(self, user_id: str, after: str, limit: int) -> Backlog:
        backlog = await self._notification_page(user_id, after, limit + 1)
        return NOT_RECOVERED if backlog.read > limit else backlog

    async def _direct_page(
        self, user_id: str, after: str, limit: int, wanted: Wanted | None = None
    ) -> Backlog:
        records = await self._store.direct_stream_after(user_id, after=after, limit=limit)
        messages = await self._conversations.messages(
            records if wanted is None else [r for r in records if wanted(r.id)]
        )
        tails = [event_tail(DmMessageEvent(message=message), message.id) for message in messages]
        positions = [message.id for message in messages]
        return Backlog(True, tails, positions, scanned=[r.id for r in records])

    async def _notification_page(
        self, user_id: str, after: str, limit: int, wanted: Wanted | None = None
    ) -> Backlog:
        records = await self._store.notifications_after(user_id, after=after, limit=limit)
        notifications = await self._notices.present(
            records if wanted is None else [r for r in records if wanted(r.id)]
        )
        tails = [event_tail(NotificationEvent(notification=n), n.id) for n in notifications]
        positions = [n.id for n in notifications]
        return Backlog(True, tails, positions, scanned=[r.id for r in records])
