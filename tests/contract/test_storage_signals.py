"""The Storage contract of the signals area (:class:`server.store.base.SignalStorage`): bus
messages an operator's command leaves in storage for the nodes of a deployment without a shared bus
(server/relay.py).

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

from server.store.base import (
    SIGNAL_TTL_MS,
    Storage,
)
from tests.contract.storage_helpers import NOW


async def test_signals_come_back_in_order_with_their_exact_bytes(storage: Storage) -> None:
    assert await storage.signals_since(0) == []
    await storage.add_signals([("ctl:a", b"\x00first"), ("user:b", b"second")], NOW)
    await storage.add_signals([("cluster", b"incident")], NOW + 5)
    found = await storage.signals_since(NOW - 1000)
    assert [(s.channel, s.payload, s.created_ms) for s in found] == [
        ("ctl:a", b"\x00first", NOW),
        ("user:b", b"second", NOW),
        ("cluster", b"incident", NOW + 5),
    ]
    assert len({s.id for s in found}) == 3
    assert [s.channel for s in await storage.signals_since(NOW + 1)] == ["cluster"]
    assert await storage.signals_since(NOW + 6) == []


async def test_old_signals_are_deleted_when_new_ones_are_stored(storage: Storage) -> None:
    await storage.add_signals([("user:a", b"old")], NOW)
    await storage.add_signals([("user:a", b"kept")], NOW + SIGNAL_TTL_MS - 1)
    assert [s.payload for s in await storage.signals_since(0)] == [b"old", b"kept"]
    await storage.add_signals([("user:a", b"new")], NOW + SIGNAL_TTL_MS + 1)
    assert [s.payload for s in await storage.signals_since(0)] == [b"kept", b"new"]
