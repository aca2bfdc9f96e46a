"""Bus adapters behind the port in :mod:`server.bus.base`; chosen at start-up by config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..health import Finding
from .base import Bus

if TYPE_CHECKING:
    from ..metrics import Metrics


async def open_bus(settings: Settings, metrics: Metrics | None = None) -> Bus:
    """The configured bus adapter: Redis when ``redis_url`` is set, else the in-process bus.
    With ``metrics``, the Redis bus times its publish batches (the in-process bus has none)."""
    if settings.redis_url:
        from .redis import RedisBus

        return await RedisBus.open(
            settings.redis_url,
            sharded=settings.redis_sharded,
            cluster=settings.redis_cluster,
            observe_batch=metrics.bus_latency.labels(op="publish_batch").observe if metrics else None,
        )
    from .local import LocalBus

    return LocalBus()


async def check_bus(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: the configured adapter's own check (the in-process bus cannot
    fail). :attr:`Bus.healthy` is the check of a running bus (``/healthz``)."""
    if settings.redis_url:
        from .redis import check

        return await check(settings)
    return Finding("bus", True, "in-process (single node; set TSUDOI_REDIS_URL to scale out)")
