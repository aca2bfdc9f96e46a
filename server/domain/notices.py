"""Notifications: an inbox per user, live and resumable (the ``notifications`` stream).

Every other service notifies through :meth:`Notices.notify`, which applies the rules in one
place: nobody is notified of their own doing, nor of anything done by someone they mute or block
or who blocks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from protocol.messages import Notification, NotificationEvent, NotificationPage, UnreadResult

from .. import channels
from ..publisher import Publisher
from ..store.base import (
    AccountStorage,
    NewNotification,
    NotificationRecord,
    NotificationStorage,
    RelationStorage,
    UserRecord,
)
from . import present


class NoticesPorts(AccountStorage, RelationStorage, NotificationStorage, Protocol):
    """The storage Notices uses: it reads the people involved, and whom each recipient hides."""


class Notices:
    def __init__(self, store: NoticesPorts, publisher: Publisher, clock: Callable[[], int]) -> None:
        self._store = store
        self._publisher = publisher
        self._now = clock

    async def notify(
        self, new: list[NewNotification], *, check_hidden: bool = True
    ) -> list[NotificationRecord]:
        """Store and deliver notifications. With ``check_hidden`` (the default), leave out
        those whose recipient hides the actor (one storage read per recipient: pass False for
        a large fan-out such as an announcement, where the caller has checked already).
        Returns the notifications stored."""
        wanted = [n for n in new if n.user_id != n.actor_id]
        if check_hidden:
            kept = []
            for notice in wanted:
                if notice.actor_id is None or notice.actor_id not in await self._store.hidden_ids(
                    notice.user_id
                ):
                    kept.append(notice)
            wanted = kept
        if not wanted:
            return []
        actors = await self._store.get_users(list({n.actor_id for n in wanted if n.actor_id}))
        records = await self._store.add_notifications(wanted, self._now())
        # No await between the commit above and these publishes: delivery follows commit order.
        for record in records:
            event = NotificationEvent(
                notification=present.notification(record, actors.get(record.actor_id or ""))
            )
            self._publisher.event([channels.user(record.user_id)], event, record.id)
        return records

    async def page(self, user: UserRecord, before: str | None, limit: int) -> NotificationPage:
        records = await self._store.notifications(user.id, before=before, limit=limit)
        unread = await self._store.unread_notifications(user.id)
        return NotificationPage(
            notifications=await self.present(records),
            unread=unread,
            next=records[-1].id if len(records) == limit else None,
        )

    async def read(self, user: UserRecord, notification_id: str) -> UnreadResult:
        await self._store.mark_notification_read(user.id, notification_id)
        return UnreadResult(unread=await self._store.unread_notifications(user.id))

    async def read_all(self, user: UserRecord) -> UnreadResult:
        await self._store.mark_all_notifications_read(user.id)
        return UnreadResult(unread=0)

    async def present(self, records: list[NotificationRecord]) -> list[Notification]:
        actors = await self._store.get_users(list({r.actor_id for r in records if r.actor_id}))
        return [present.notification(r, actors.get(r.actor_id or "")) for r in records]
