"""Safety in a disaster: status broadcasts, the safety board, and incidents.

In March 2011 people in Japan checked on friends by the time each had last logged in to mixi and
by short status posts, which rose eightfold in the first hour. Here that is a designed feature:
``safety.set`` says how you are and reaches your audience at once (a live ``safety.status``
event and a ``safety`` notification each); ``safety.board`` lists your friends, those who need
help first, then those unheard from longest; operators declare incidents that every client shows.

See ``docs/topics/disaster-mode.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from protocol.codec import format_timestamp, parse_timestamp
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    BoardEntry,
    BoardPage,
    Incident,
    IncidentEndedEvent,
    IncidentResult,
    IncidentStartedEvent,
    SafetyPage,
    SafetyResult,
    SafetyStatus,
    SafetyStatusEvent,
)

from .. import channels
from ..logs import OutageLog
from ..publisher import Publisher, envelope
from ..store.base import (
    AccountStorage,
    IncidentRecord,
    NewNotification,
    RelationStorage,
    SafetyRecord,
    SafetyStorage,
    StorageUnavailable,
    UserRecord,
)
from . import present, rules
from .notices import Notices
from .presence import PresenceService
from .pushes import Pushes

log = logging.getLogger(__name__)

#: Who reads a status of each audience, besides its author: friends read all three, followers
#: "followers" and "everyone", anyone "everyone".
FRIEND_AUDIENCES = ("friends", "followers", "everyone")
FOLLOWER_AUDIENCES = ("followers", "everyone")
PUBLIC_AUDIENCES = ("everyone",)
NEED_HELP = "need_help"


class SafetyPorts(AccountStorage, RelationStorage, SafetyStorage, Protocol):
    """The storage Safety uses: it writes safety statuses, and reads the audiences that may see
    them."""


class Safety:
    def __init__(
        self,
        store: SafetyPorts,
        publisher: Publisher,
        notices: Notices,
        presence: PresenceService,
        clock: Callable[[], int],
        pushes: Pushes | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._pushes = pushes
        self._notices = notices
        self._presence = presence
        self._now = clock

    async def set(
        self, user: UserRecord, state: str, note: str, area: str | None, audience: str
    ) -> SafetyResult:
        note = rules.safety_note(note)
        area = rules.area(area) if area is not None else None
        recipients = await self._audience(user.id, audience)
        record = await self._store.add_safety_status(
            user_id=user.id, state=state, note=note, area=area, audience=audience, now_ms=self._now()
        )
        status = self._status(record, user)
        # A mute quiets timelines, not a friend's word on their safety: statuses pass mutes (no
        # origin to filter by). Blocks need no filter here: a block ends follows either way, so
        # no audience holds a blocked user.
        event = SafetyStatusEvent(status=status)
        self._publisher.event([channels.user(r) for r in [user.id, *recipients]], event)
        notices = [NewNotification(r, "safety", actor_id=user.id) for r in recipients]
        await self._notices.notify(notices, check_hidden=False)
        if self._pushes is not None:  # to friends, whatever the audience: the board is theirs
            await self._pushes.safety(user, record.id, record.state, record.created_ms)
        return SafetyResult(status=status)

    async def _audience(self, user_id: str, audience: str) -> list[str]:
        """Whose connections and inboxes a status of this audience goes to."""
        if audience == "friends":
            return await self._store.friend_ids(user_id)
        return await self._store.follower_ids(
            user_id
        )  # followers include friends; "everyone" is readable by anyone

    async def board(self, viewer: UserRecord, cursor: str | None, limit: int) -> BoardPage:
        """Friends, need-help first, then unheard from longest (never heard from first)."""
        offset = rules.page_offset(cursor)
        friend_ids = await self._store.friend_ids(viewer.id)
        users = await self._store.get_users(friend_ids)
        latest = await self._store.latest_safety(friend_ids)
        shown = [u for u in users.values() if u.presence_visibility == "friends"]
        presences = await self._presence.present(shown)

        def heard(user: UserRecord) -> int:
            status = latest.get(user.id)
            seen = presences.get(user.id)
            last_seen = user.last_seen_ms if seen is not None else None
            if seen is not None and seen.last_seen_at is not None:
                last_seen = max(last_seen or 0, parse_timestamp(seen.last_seen_at))
            return max(status.created_ms if status else 0, last_seen or 0)

        def key(user: UserRecord) -> tuple[int, int, str]:
            status = latest.get(user.id)
            return (0 if status and status.state == NEED_HELP else 1, heard(user), user.id)

        ordered = sorted(users.values(), key=key)
        page = ordered[offset : offset + limit]
        entries = [
            BoardEntry(
                user=present.user(u),
                status=self._status(latest[u.id], u) if u.id in latest else None,
                presence=presences.get(u.id),
            )
            for u in page
        ]
        more = offset + limit < len(ordered)
        return BoardPage(entries=entries, next=rules.page_cursor(offset + limit) if more else None)

    async def history(self, viewer: UserRecord, user_id: str, before: str | None, limit: int) -> SafetyPage:
        user = await self._store.get_user(user_id)
        if user is None or await self._store.blocks_between(viewer.id, user_id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        audiences = await self._audiences_for(viewer.id, user_id)
        records = await self._store.safety_history(user_id, audiences=audiences, before=before, limit=limit)
        statuses = [self._status(r, user) for r in records]
        return SafetyPage(statuses=statuses, next=records[-1].id if len(records) == limit else None)

    async def _audiences_for(self, viewer_id: str, user_id: str) -> tuple[str, ...]:
        if viewer_id == user_id:
            return FRIEND_AUDIENCES
        follows, followed_by = await self._store.follow_state(user_id, viewer_id)
        if follows and followed_by:
            return FRIEND_AUDIENCES
        return FOLLOWER_AUDIENCES if followed_by else PUBLIC_AUDIENCES

    @staticmethod
    def _status(record: SafetyRecord, user: UserRecord) -> SafetyStatus:
        return SafetyStatus(
            id=record.id,
            user=present.user(user),
            state=record.state,  # type: ignore[arg-type]
            note=record.note,
            area=record.area,
            audience=record.audience,  # type: ignore[arg-type]
            created_at=format_timestamp(record.created_ms),
        )


class Incidents:
    """Incidents, as every node sees them. Each node delivers an incident's start and end to its
    own connections exactly once: it compares what storage says with what it last told them
    (on a start or end made here, at once; at once when another node or an operator's command
    nudges it through the bus; and otherwise every ``poll_ms``, the net under a nudge that was
    lost: the bus delivers at most once).

    Operators start and end incidents from a client (:meth:`start`, :meth:`end`) or from the
    shell (:meth:`declare`, :meth:`finish`, which ``tsudoi admin incident`` calls in a process
    of its own: what it delivers there reaches no one, and its nudge reaches the nodes)."""

    def __init__(
        self,
        store: SafetyStorage,
        publisher: Publisher,
        clock: Callable[[], int],
        poll_ms: int = 2_000,
        pushes: Pushes | None = None,
    ) -> None:
        self._store = store
        self._pushes = pushes
        self._publisher = publisher
        self._now = clock
        self._poll_ms = poll_ms
        #: The active incident, as this node last told its connections.
        self.active: Incident | None = None
        self._deliver: Callable[[bytes], None] = lambda payload: None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.on_change: Callable[[Incident | None], None] = lambda incident: None
        #: A storage outage fails every poll: one line when it starts and one when it ends.
        self._outage = OutageLog("storage (incident poll)", log, expected=(StorageUnavailable,))

    async def start_watching(self, deliver: Callable[[bytes], None]) -> None:
        """``deliver`` hands an event envelope to every local connection."""
        self._deliver = deliver
        record = await self._store.active_incident()
        self.active = _incident(record) if record else None
        self.on_change(self.active)
        self._task = asyncio.create_task(self._outage.every(self._poll_ms / 1000, self.check))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def start(self, user: UserRecord, title: str, area: str | None) -> IncidentResult:
        if not user.operator:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only operators declare incidents")
        return IncidentResult(incident=await self.declare(title, area, started_by=user.id))

    async def end(self, user: UserRecord) -> IncidentResult:
        if not user.operator:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only operators end incidents")
        return IncidentResult(incident=await self.finish())

    async def declare(self, title: str, area: str | None, *, started_by: str | None) -> Incident:
        """Start an incident (``started_by`` None: from the shell) and tell every node.
        ProtocolError: a title or area out of bounds, or ``incident_active``."""
        title = rules.incident_title(title)
        area = rules.area(area) if area is not None else None
        record = await self._store.start_incident(
            title=title, area=area, started_by=started_by, now_ms=self._now()
        )
        if record is None:
            raise ProtocolError(ErrorCode.INCIDENT_ACTIVE)
        await self.check()
        self._publisher.cluster(channels.INCIDENT_NUDGE)
        if self._pushes is not None:
            await self._pushes.incident(record.id, record.title, record.started_ms)
        return _incident(record)

    async def finish(self) -> Incident:
        """End the active incident and tell every node; ProtocolError ``no_incident``."""
        record = await self._store.end_incident(self._now())
        if record is None:
            raise ProtocolError(ErrorCode.NO_INCIDENT)
        await self.check()
        self._publisher.cluster(channels.INCIDENT_NUDGE)
        return _incident(record)

    async def current(self) -> Incident | None:
        """The active incident as storage has it now (not as this node last told it)."""
        record = await self._store.active_incident()
        return _incident(record) if record else None

    async def check(self) -> None:
        """Tell this node's connections of any change since they were last told."""
        async with self._lock:
            record = await self._store.active_incident()
            now_active = _incident(record) if record else None
            before = self.active
            if (before.id if before else None) == (now_active.id if now_active else None):
                return
            if before is not None:
                ended_record = await self._store.get_incident(before.id)
                ended = _incident(ended_record) if ended_record else before
                self._deliver(envelope(IncidentEndedEvent(incident=ended)))
            if now_active is not None:
                self._deliver(envelope(IncidentStartedEvent(incident=now_active)))
            self.active = now_active
            self.on_change(now_active)


def _incident(record: IncidentRecord) -> Incident:
    return Incident(
        id=record.id,
        title=record.title,
        area=record.area,
        started_at=format_timestamp(record.started_ms),
        ended_at=format_timestamp(record.ended_ms) if record.ended_ms is not None else None,
    )
