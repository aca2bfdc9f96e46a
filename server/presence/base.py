"""The Presence port: which users have live connections, anywhere in the cluster, and since when
they have been active.

Presence is soft state, unlike storage: it may be lost (a Redis restart) and rebuilds itself as
nodes refresh their connections. Each live connection is registered with an expiry; its node
refreshes every connection it holds well before that (``refresh``), so the connections of a node
that dies expire by themselves, and one surviving node reaps each of them (``reap``) and tells
the users' friends.

Times are explicit ``now_ms`` values, so adapters never read a clock and tests control time.
Times are raise-only (a late reap never moves ``last_gone_ms`` back), and an adapter may forget
a user's times after a quiet week: storage's ``last_seen_ms`` is the durable record. Every method
may raise :class:`PresenceUnavailable`.

Contract tests: ``tests/contract/test_presence.py`` runs the same tests against every adapter
(in-process for the embedded default, Redis for scale-out).

See ``docs/topics/presence.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PresenceInfo", "PresenceStore", "PresenceUnavailable"]


class PresenceUnavailable(Exception):
    """The presence store could not be reached or refused the command (only the Redis adapter
    raises it). Presence is soft state: callers degrade (treat the call as not done, log) and try
    again later; the store rebuilds itself as nodes refresh their connections."""


@dataclass(frozen=True, slots=True)
class PresenceInfo:
    #: Live (unexpired) connections of the user, on every node.
    connections: int
    #: The user's latest activity reported with ``activity``, or None.
    last_active_ms: int | None
    #: When the user's last live connection went away (closed or expired), or None.
    last_gone_ms: int | None


class PresenceStore(Protocol):
    async def connected(self, user_id: str, connection_id: str, *, now_ms: int, ttl_ms: int) -> bool:
        """Register a live connection that expires at ``now_ms + ttl_ms`` unless refreshed; it
        also counts as activity. True if the user had no live connection before (came online)."""

    async def disconnected(self, user_id: str, connection_id: str, *, now_ms: int) -> bool:
        """Forget a connection. True if it was registered and was the user's last live one (then
        ``last_gone_ms`` becomes ``now_ms``). Forgetting an unknown connection is harmless."""

    async def refresh(self, connections: list[tuple[str, str]], *, now_ms: int, ttl_ms: int) -> None:
        """Extend these (user id, connection id) pairs to expire at ``now_ms + ttl_ms``. Pairs no
        longer registered (reaped meanwhile) are registered again: the node still holds them."""

    async def activity(self, last_active: dict[str, int]) -> None:
        """Raise each user's ``last_active_ms`` to the time given (never lower it)."""

    async def info(self, user_ids: list[str], *, now_ms: int) -> dict[str, PresenceInfo]:
        """Per user asked: their presence now. Expired connections do not count."""

    async def reap(self, *, now_ms: int, limit: int) -> list[tuple[str, str]]:
        """Forget up to ``limit`` connections that expired (their node died) and return them as
        (user id, connection id). Each is returned to exactly one caller, whatever the number of
        nodes reaping at once; a user whose last live connection this was gets ``last_gone_ms``
        at the connection's expiry."""

    async def close(self) -> None: ...
