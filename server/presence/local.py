"""The in-process presence of the embedded default: one node, plain dicts, no I/O.

It keeps the whole contract of :mod:`server.presence.base`, expiry and reaping included, although
one process rarely needs them (its connections go away with it): the same contract tests run
against it and against Redis, and a refresh the node's tick skipped still expires on time.

Expiry order is a heap of ``(expiry, user id, connection id)`` that is invalidated lazily: a
refresh pushes a new entry instead of moving the old one, and :meth:`LocalPresence.reap` skips
entries whose expiry is no longer the connection's. Stale entries leave the heap when their
time comes, and the heap is rebuilt if they ever outnumber the live ones by far (a node whose
tick stopped reaping but kept refreshing).

Last-active and last-gone times are kept for the life of the process: one pair of integers per
user who ever connected, bounded by the number of accounts. (The Redis adapter lets them expire
after a quiet week instead; storage's ``last_seen_ms`` is the durable record either way.)
"""

from __future__ import annotations

import heapq

from .base import PresenceInfo

__all__ = ["LocalPresence"]

#: Rebuild the expiry heap when it holds more than this many entries beyond twice the live ones.
_HEAP_SLACK = 1024


class LocalPresence:
    """Presence port in process memory. Every method completes without awaiting, so concurrent
    calls from one event loop never interleave inside one."""

    def __init__(self) -> None:
        #: Registered connections (live or expired but not reaped yet): user → connection → expiry.
        self._connections: dict[str, dict[str, int]] = {}
        self._registered = 0
        self._expiries: list[tuple[int, str, str]] = []
        self._last_active: dict[str, int] = {}
        self._last_gone: dict[str, int] = {}

    async def connected(self, user_id: str, connection_id: str, *, now_ms: int, ttl_ms: int) -> bool:
        connections = self._connections.setdefault(user_id, {})
        came_online = not _any_live(connections, now_ms)
        self._register(user_id, connection_id, now_ms + ttl_ms)
        _raise(self._last_active, user_id, now_ms)
        return came_online

    async def disconnected(self, user_id: str, connection_id: str, *, now_ms: int) -> bool:
        """True if the connection was registered, even if expired but not reaped yet, and no live
        one is left: nobody else would tell (reap will not return what is forgotten here)."""
        connections = self._connections.get(user_id)
        if connections is None or connections.pop(connection_id, None) is None:
            return False
        self._registered -= 1
        if not connections:
            del self._connections[user_id]
        if _any_live(connections, now_ms):
            return False
        _raise(self._last_gone, user_id, now_ms)
        return True

    async def refresh(self, connections: list[tuple[str, str]], *, now_ms: int, ttl_ms: int) -> None:
        expiry = now_ms + ttl_ms
        for user_id, connection_id in connections:
            self._register(user_id, connection_id, expiry)
        if len(self._expiries) > 2 * self._registered + _HEAP_SLACK:
            self._expiries = [
                (at, user_id, connection_id)
                for user_id, registered in self._connections.items()
                for connection_id, at in registered.items()
            ]
            heapq.heapify(self._expiries)

    async def activity(self, last_active: dict[str, int]) -> None:
        for user_id, at in last_active.items():
            _raise(self._last_active, user_id, at)

    async def info(self, user_ids: list[str], *, now_ms: int) -> dict[str, PresenceInfo]:
        result = {}
        for user_id in user_ids:
            connections = self._connections.get(user_id, {})
            live = sum(1 for at in connections.values() if at > now_ms)
            gone = self._last_gone.get(user_id)
            if not live and connections:
                # Expired, not reaped yet: the last one went away at the latest expiry, which is
                # what reap will record.
                latest = max(connections.values())
                gone = latest if gone is None else max(gone, latest)
            result[user_id] = PresenceInfo(live, self._last_active.get(user_id), gone)
        return result

    async def reap(self, *, now_ms: int, limit: int) -> list[tuple[str, str]]:
        reaped: list[tuple[str, str]] = []
        heap = self._expiries
        while heap and heap[0][0] <= now_ms and len(reaped) < limit:
            expiry, user_id, connection_id = heapq.heappop(heap)
            connections = self._connections.get(user_id)
            if connections is None or connections.get(connection_id) != expiry:
                continue  # refreshed, disconnected or reaped since this entry was pushed
            del connections[connection_id]
            self._registered -= 1
            if not connections:
                del self._connections[user_id]
            if not _any_live(connections, now_ms):
                _raise(self._last_gone, user_id, expiry)
            reaped.append((user_id, connection_id))
        return reaped

    async def close(self) -> None:
        self._connections.clear()
        self._registered = 0
        self._expiries.clear()

    def _register(self, user_id: str, connection_id: str, expiry: int) -> None:
        connections = self._connections.setdefault(user_id, {})
        if connection_id not in connections:
            self._registered += 1
        connections[connection_id] = expiry
        heapq.heappush(self._expiries, (expiry, user_id, connection_id))


def _any_live(connections: dict[str, int], now_ms: int) -> bool:
    return any(at > now_ms for at in connections.values())


def _raise(times: dict[str, int], user_id: str, at: int) -> None:
    """Raise-only: times reported late or out of order never move a user's time back."""
    if at > times.get(user_id, at - 1):
        times[user_id] = at
