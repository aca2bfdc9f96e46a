"""The timing proxy around a Storage adapter keeps the port's behaviour exactly.

The whole Storage contract also runs through the proxy (``sqlite-timed`` in
tests/contract/conftest.py); these tests pin what a contract cannot see: the very same
exception object comes back, failed calls are timed too, and the adapter's own extras still reach
through.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.metrics import Metrics
from server.store import open_storage
from server.store.base import InviteNotFound, NewUser, Storage, StorageUnavailable
from server.store.sqlite import SqliteStorage
from server.store.timed import PORT_METHODS, TimedStorage, timed_storage


def observed(metrics: Metrics, op: str) -> float:
    value = metrics.registry.get_sample_value("tsudoi_storage_latency_seconds_count", {"op": op})
    return value or 0.0


class Failing:
    """Just enough of an adapter: one method that fails, one that answers, one extra."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.flavour = "failing"

    async def get_user(self, user_id: str) -> None:
        self.calls.append(((user_id,), {}))
        raise self.error

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[str]:
        self.calls.append(((inviter_id,), {"limit": limit}))
        return [f"{inviter_id}:{limit}"]


def test_every_coroutine_of_the_port_is_timed() -> None:
    # Storage declares no method of its own: it is the sum of the areas' Protocols.
    expected = {name for name, _ in inspect.getmembers(Storage, inspect.iscoroutinefunction)}
    assert set(PORT_METHODS) == expected
    assert {"create_post", "following_stream_after", "ping", "close"} <= expected


async def test_the_same_exception_passes_through_and_the_failed_call_is_timed() -> None:
    metrics = Metrics()
    error = StorageUnavailable("disk on fire")
    inner = Failing(error)
    store: Any = TimedStorage(inner, metrics.storage_latency)  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailable) as raised:
        await store.get_user("u1")
    assert raised.value is error
    assert inner.calls == [(("u1",), {})]
    assert observed(metrics, "get_user") == 1


async def test_arguments_and_results_pass_unchanged_and_extras_reach_the_adapter() -> None:
    metrics = Metrics()
    inner = Failing(RuntimeError())
    store: Any = TimedStorage(inner, metrics.storage_latency)  # type: ignore[arg-type]
    assert await store.list_invites("u1", limit=3) == ["u1:3"]
    assert inner.calls == [(("u1",), {"limit": 3})]
    assert store.flavour == "failing"  # not part of the port: the adapter's own attribute
    assert store.list_invites.__name__ == "list_invites"
    assert inspect.signature(store.list_invites) == inspect.signature(inner.list_invites)
    assert observed(metrics, "list_invites") == 1
    assert observed(metrics, "get_user") == 0  # a method never called exposes no series


async def test_a_real_adapter_behind_the_proxy(tmp_path: Path) -> None:
    metrics = Metrics()
    store = timed_storage(await SqliteStorage.open(tmp_path / "db.sqlite3"), metrics.storage_latency)
    try:
        await store.ping()
        new = NewUser(handle="taro", display_name="Taro", password_hash="x", birth_date="1990-01-01")
        with pytest.raises(InviteNotFound):
            await store.create_user(new, invite_code="nope", now_ms=1)
        invite = await store.create_invite(inviter_id=None, now_ms=1, ttl_ms=10, max_unused=None)
        user = await store.create_user(new, invite_code=invite.code, now_ms=2)
        assert await store.get_user(user.id) == user
        assert observed(metrics, "create_user") == 2
    finally:
        await store.close()
    assert observed(metrics, "close") == 1


async def test_open_storage_times_only_when_given_metrics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    tmp_path.mkdir(exist_ok=True)
    plain = await open_storage(settings)
    assert isinstance(plain, SqliteStorage)
    await plain.close()
    timed = await open_storage(settings, Metrics())
    assert isinstance(timed, TimedStorage)
    await timed.close()
