"""Bus adapters behind the port in :mod:`server.bus.base`; chosen at start-up by config."""

from __future__ import annotations

from ..config import Settings
from .base import Bus


async def open_bus(settings: Settings) -> Bus:
    """The configured bus adapter: Redis when ``redis_url`` is set, else the in-process bus."""
    if settings.redis_url:
        from .redis import RedisBus

        return await RedisBus.open(
            settings.redis_url, sharded=settings.redis_sharded, cluster=settings.redis_cluster
        )
    from .local import LocalBus

    return LocalBus()
