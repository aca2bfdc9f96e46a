"""What a health check found, in words an operator can act on.

Each adapter answers for itself (:func:`server.store.check_storage` asks the configured storage
adapter, :func:`server.bus.check_bus` the configured bus); ``tsudoi doctor`` only prints what
they found. This module is neutral ground for that: adapters import it, never a CLI module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One component's state. ``name`` is the component ("storage", "bus"); ``detail`` says
    what it is when ``ok``, and what is wrong and what to do about it when not."""

    name: str
    ok: bool
    detail: str
