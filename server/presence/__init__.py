"""Presence adapters behind the port in :mod:`server.presence.base`; chosen at start-up by config.

- :class:`~server.presence.local.LocalPresence`: in process, the embedded default (one node).
- :class:`~server.presence.redis.RedisPresence`: shared by every node through Redis, a single
  Redis (with or without sharded pub/sub for the bus) or a Redis Cluster.
"""

from __future__ import annotations

from ..config import Settings
from .base import PresenceStore, PresenceUnavailable

__all__ = ["PresenceUnavailable", "open_presence"]


async def open_presence(settings: Settings) -> PresenceStore:
    """The configured presence adapter: Redis when ``redis_url`` is set (with the cluster client
    when ``redis_cluster`` is), else in process."""
    if settings.redis_url:
        from .redis import RedisPresence

        return RedisPresence(settings.redis_url, cluster=settings.redis_cluster)
    from .local import LocalPresence

    return LocalPresence()
