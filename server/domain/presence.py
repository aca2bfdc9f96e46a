"""Presence and last-seen: who is online, idle or offline, as their friends may see it.

A user is online while they have at least one live connection on any node and have been active
(any request but a heartbeat) within ``idle_after_ms``; idle while connected but quiet; offline
once their last connection has been gone for ``offline_grace_ms``, so a quick reconnect does not
flap. Live connections are registered in the Presence port (in-process, or Redis across nodes),
each with an expiry its node keeps refreshing: a node that dies takes its users offline by itself
when another node reaps its expired connections.

Cheap under a storm, by design: activity is kept in memory and flushed every tick; last-seen is
written behind to storage at most once a minute per user; a user's changes are pushed to their
online friends at most once per tick (coalesced), and during an incident ticks widen.

See ``docs/topics/presence.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from protocol.codec import format_timestamp
from protocol.messages import Presence, PresenceEvent

from .. import channels
from ..logs import OutageLog
from ..presence.base import PresenceInfo, PresenceStore, PresenceUnavailable
from ..publisher import Publisher
from ..store.base import AccountStorage, RelationStorage, StorageUnavailable, UserRecord

log = logging.getLogger(__name__)

LAST_SEEN_EVERY_MS = 60_000
REAP_BATCH = 200


@dataclass(frozen=True)
class PresenceTiming:
    idle_after_ms: int
    offline_grace_ms: int
    #: How often a node flushes activity, detects idleness, reaps and pushes changes.
    tick_ms: int
    #: How long a registered connection lives unless its node refreshes it.
    ttl_ms: int


class PresencePorts(AccountStorage, RelationStorage, Protocol):
    """The storage PresenceService uses: it reads users and their friends, and writes last-seen
    times."""


class PresenceService:
    def __init__(
        self,
        store: PresencePorts,
        presence: PresenceStore,
        publisher: Publisher,
        timing: PresenceTiming,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._presence = presence
        self._publisher = publisher
        self.timing = timing
        self._now = clock
        #: This node's live connections, by user.
        self._local: dict[str, set[str]] = {}
        #: Activity not flushed yet, and the last activity seen here, by user.
        self._pending_activity: dict[str, int] = {}
        self._last_activity: dict[str, int] = {}
        #: Users this node has told their friends are idle.
        self._idle: set[str] = set()
        #: Last-seen times waiting to be written, and when each user's was last written (for the
        #: once-a-minute rule).
        self._seen_due: dict[str, int] = {}
        self._last_seen_written: dict[str, int] = {}
        #: Users whose change is to be pushed at the next tick.
        self._dirty: set[str] = set()
        self._gone: dict[str, int] = {}
        self._last_refresh = 0
        #: Connections closed while a refresh was in flight (it may have registered them again).
        self._refreshing = False
        self._closed_meanwhile: list[tuple[str, str]] = []
        #: Ticks are this many times longer during an incident (presence is not essential then).
        self.slowdown = 1
        self._task: asyncio.Task[None] | None = None
        #: What the log says while the presence store (Redis) or storage fails the tick: a line
        #: when it goes and one when it is back, not a traceback per tick. The gateway reports
        #: its failed registrations here too, so one outage is one pair of lines.
        self.outage = OutageLog("presence store", log, expected=(PresenceUnavailable,))
        self._storage_outage = OutageLog("storage (presence tick)", log, expected=(StorageUnavailable,))

    # --- connections ---------------------------------------------------------------------------

    async def opened(self, user_id: str, connection_id: str) -> None:
        now = self._now()
        self._local.setdefault(user_id, set()).add(connection_id)
        self._last_activity[user_id] = now
        # Back within the grace period after leaving from this node: friends never saw them go.
        returning = self._gone.pop(user_id, None) is not None
        came_online = await self._presence.connected(
            user_id, connection_id, now_ms=now, ttl_ms=self.timing.ttl_ms
        )
        if (came_online and not returning) or user_id in self._idle:
            self._idle.discard(user_id)
            self._dirty.add(user_id)

    async def closed(self, user_id: str, connection_id: str) -> None:
        local = self._local.get(user_id)
        if local is not None:
            local.discard(connection_id)
            if not local:
                del self._local[user_id]
        now = self._now()
        if self._refreshing:
            self._closed_meanwhile.append((user_id, connection_id))
        if await self._presence.disconnected(user_id, connection_id, now_ms=now):
            # Offline only after the grace period, if nobody came back meanwhile (next ticks).
            self._gone[user_id] = now
            self._record_seen(user_id, self._last_activity.get(user_id, now))

    def touch(self, user_id: str) -> None:
        """Activity: any request but a heartbeat. Memory only; flushed every tick."""
        now = self._now()
        self._pending_activity[user_id] = now
        self._last_activity[user_id] = now
        if user_id in self._idle:
            self._idle.discard(user_id)
            self._dirty.add(user_id)

    # --- reading --------------------------------------------------------------------------------

    def state_of(self, info: PresenceInfo, now: int) -> str:
        present = info.connections > 0 or (
            info.last_gone_ms is not None and now - info.last_gone_ms < self.timing.offline_grace_ms
        )
        if not present:
            return "offline"
        active = info.last_active_ms is not None and now - info.last_active_ms < self.timing.idle_after_ms
        return "online" if active else "idle"

    async def visible(self, viewer: UserRecord, user_ids: list[str]) -> list[Presence]:
        """The presence of those of ``user_ids`` the viewer may see: themselves, and friends
        (mutual follows) whose ``presence_visibility`` is "friends". In the order asked, each
        once; ids of unknown users and of users the viewer may not see are left out."""
        wanted = list(dict.fromkeys(user_ids))
        users = await self._store.get_users(wanted)
        friends = set(await self._store.friend_ids(viewer.id))
        shown = [
            u
            for u in users.values()
            if u.id == viewer.id or (u.id in friends and u.presence_visibility == "friends")
        ]
        found = await self.present(shown)
        return [found[i] for i in wanted if i in found]

    async def present(self, users: list[UserRecord]) -> dict[str, Presence]:
        if not users:
            return {}
        now = self._now()
        infos = await self._presence.info([u.id for u in users], now_ms=now)
        result = {}
        for user in users:
            info = infos.get(user.id, PresenceInfo(0, None, None))
            seen = max(info.last_active_ms or 0, self._last_activity.get(user.id, 0), user.last_seen_ms or 0)
            result[user.id] = Presence(
                user_id=user.id,
                state=self.state_of(info, now),  # type: ignore[arg-type]
                last_seen_at=format_timestamp(seen) if seen else None,
            )
        return result

    # --- the node's tick -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._flush_last_seen(force=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.timing.tick_ms * self.slowdown / 1000)
            try:
                await self.tick()
            except PresenceUnavailable as exc:  # presence is soft state: try again next tick
                self.outage.failed(exc)
            except Exception as exc:  # storage down, or a bug (then its traceback, once)
                self._storage_outage.failed(exc)
            else:
                self.outage.recovered()
                self._storage_outage.recovered()

    async def tick(self) -> None:
        now = self._now()
        if now - self._last_refresh >= self.timing.ttl_ms // 3:
            pairs = [(user, conn) for user, conns in self._local.items() for conn in conns]
            if pairs:
                self._refreshing = True
                try:
                    await self._presence.refresh(pairs, now_ms=now, ttl_ms=self.timing.ttl_ms)
                finally:
                    self._refreshing = False
                # A connection that closed during the refresh may have been registered again by
                # it: forget it once more, or it would linger until its TTL ran out.
                closed, self._closed_meanwhile = self._closed_meanwhile, []
                for user_id, connection_id in closed:
                    await self._presence.disconnected(user_id, connection_id, now_ms=self._now())
            self._last_refresh = now
        if self._pending_activity:
            pending, self._pending_activity = self._pending_activity, {}
            await self._presence.activity(pending)
            for user_id, at in pending.items():
                self._record_seen(user_id, at)
        # Connections of nodes that died: their users are checked like any that left here.
        for user_id, _ in await self._presence.reap(now_ms=now, limit=REAP_BATCH):
            self._gone.setdefault(user_id, now)
        await self._detect_idle(now)
        await self._detect_offline(now)
        await self._flush_last_seen()
        await self._push()

    async def _detect_idle(self, now: int) -> None:
        quiet = [
            user
            for user in self._local
            if user not in self._idle
            and now - self._last_activity.get(user, now) >= self.timing.idle_after_ms
        ]
        if not quiet:
            return
        infos = await self._presence.info(quiet, now_ms=now)
        for user in quiet:
            if self.state_of(infos[user], now) == "idle":  # no other device of theirs is active
                self._idle.add(user)
                self._dirty.add(user)

    async def _detect_offline(self, now: int) -> None:
        due = [user for user, gone in self._gone.items() if now - gone >= self.timing.offline_grace_ms]
        if not due:
            return
        infos = await self._presence.info(due, now_ms=now)
        for user in due:
            del self._gone[user]
            if self.state_of(infos[user], now) == "offline":
                self._idle.discard(user)
                self._last_activity.pop(user, None)
                self._dirty.add(user)

    def _record_seen(self, user_id: str, at: int) -> None:
        self._seen_due[user_id] = max(at, self._seen_due.get(user_id, 0))

    async def _flush_last_seen(self, *, force: bool = False) -> None:
        """Write last-seen behind: at most once a minute per user (all of them when stopping)."""
        due = self._seen_due
        now = self._now()
        ready = {
            user: at
            for user, at in due.items()
            if force or now - self._last_seen_written.get(user, 0) >= LAST_SEEN_EVERY_MS
        }
        if not ready:
            return
        await self._store.record_last_seen(ready)
        for user in ready:
            del due[user]
            self._last_seen_written[user] = now
        # Forget write times older than the rule's window: they no longer hold anyone back.
        for user in [u for u, at in self._last_seen_written.items() if now - at >= LAST_SEEN_EVERY_MS]:
            del self._last_seen_written[user]

    async def _push(self) -> None:
        """Tell each changed user's online friends their presence now: one event per user per
        tick, however many changes happened since the last."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        users = await self._store.get_users(list(dirty))
        shown = [u for u in users.values() if u.presence_visibility == "friends"]
        presences = await self.present(shown)
        now = self._now()
        for user in shown:
            friends = await self._store.friend_ids(user.id)
            if not friends:
                continue
            infos = await self._presence.info(friends, now_ms=now)
            online = [f for f in friends if infos[f].connections > 0]
            if online:
                event = PresenceEvent(presence=presences[user.id])
                self._publisher.event([channels.user(f) for f in online], event, origin=user.id)
