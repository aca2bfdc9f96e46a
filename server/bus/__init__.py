"""Bus adapters behind the port in :mod:`server.bus.base`; chosen at start-up by config."""

from __future__ import annotations

from .base import Bus


async def open_bus() -> Bus:
    """The configured bus adapter (the in-process one for now)."""
    from .local import LocalBus

    return LocalBus()
