"""The three resumable streams, read back for a connection that resumes or fills a gap.

A client keeps the last position it saw on each stream (``following``, ``direct``,
``notifications``) and sends them in ``auth``; this module reads what came after each one from
storage and shapes it exactly as the live events were, so the client cannot tell a replayed event
from a live one. Positions are ids, unique across streams, so one connection de-duplicates them
in a single set (see ``Connection.replay``).

See ``docs/topics/resume.md``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from protocol.codec import event_tail
from protocol.messages import Cursors, DmMessageEvent, NotificationEvent

from ..store.base import ConversationStorage, NotificationStorage
from .conversations import Conversations
from .notices import Notices
from .social import NOT_RECOVERED, Backlog, Social


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
        self, user_id: str, cursors: Cursors | None, limit: int, hidden: Collection[str]
    ) -> Resume:
        resume = Resume()
        if cursors is None:
            return resume
        if cursors.following is not None:
            resume.add(
                "following", await self._social.following_backlog(user_id, cursors.following, limit, hidden)
            )
        if cursors.direct is not None:
            resume.add("direct", await self.direct_backlog(user_id, cursors.direct, limit))
        if cursors.notifications is not None:
            resume.add(
                "notifications", await self.notification_backlog(user_id, cursors.notifications, limit)
            )
        return resume

    async def page(
        self, user_id: str, stream: str, after: str, limit: int, hidden: Collection[str] = ()
    ) -> Backlog:
        """The first ``limit`` items of one stream after ``after``, however many more there
        are, shaped as the live events were; ``last`` says where the next page starts. For
        readers that keep up page by page (webhooks) rather than all at once."""
        if stream == "following":
            return await self._social.following_page(user_id, after, limit, hidden)
        if stream == "direct":
            return await self._direct_page(user_id, after, limit)
        if stream == "notifications":
            return await self._notification_page(user_id, after, limit)
        raise ValueError(f"no stream {stream!r}")

    async def direct_backlog(self, user_id: str, after: str, limit: int) -> Backlog:
        backlog = await self._direct_page(user_id, after, limit + 1)
        return NOT_RECOVERED if backlog.read > limit else backlog

    async def notification_backlog(self, user_id: str, after: str, limit: int) -> Backlog:
        backlog = await self._notification_page(user_id, after, limit + 1)
        return NOT_RECOVERED if backlog.read > limit else backlog

    async def _direct_page(self, user_id: str, after: str, limit: int) -> Backlog:
        records = await self._store.direct_stream_after(user_id, after=after, limit=limit)
        messages = await self._conversations.messages(records)
        tails = [event_tail(DmMessageEvent(message=message), message.id) for message in messages]
        positions = [message.id for message in messages]
        return Backlog(True, tails, positions, last=records[-1].id if records else None, read=len(records))

    async def _notification_page(self, user_id: str, after: str, limit: int) -> Backlog:
        records = await self._store.notifications_after(user_id, after=after, limit=limit)
        notifications = await self._notices.present(records)
        tails = [event_tail(NotificationEvent(notification=n), n.id) for n in notifications]
        positions = [n.id for n in notifications]
        return Backlog(True, tails, positions, last=records[-1].id if records else None, read=len(records))
