"""The Storage contract of the lifecycle area (:class:`server.store.base.Lifecycle`): the adapter
answers its health check.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

from server.store.base import Storage


async def test_ping_answers(storage: Storage) -> None:
    await storage.ping()
