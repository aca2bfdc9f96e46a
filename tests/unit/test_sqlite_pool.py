"""The SQLite adapter's thread pool (``server/store/sqlite/pool.py``): what the executor it
replaced promised, results and exceptions to the right callers, in order, on its own threads."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from server.store.sqlite.pool import ThreadPool


async def test_results_and_exceptions_reach_their_callers() -> None:
    pool = ThreadPool(2, "test")
    try:

        def fail() -> int:
            raise ValueError("no")

        results = await asyncio.gather(*(pool.run(functools.partial(pow, n, 2)) for n in range(500)))
        assert results == [n * n for n in range(500)]
        with pytest.raises(ValueError, match="no"):
            await pool.run(fail)
        ran_on = await pool.run(lambda: threading.current_thread().name)
        assert ran_on.startswith("test_") and ran_on != threading.current_thread().name
    finally:
        pool.shutdown()


async def test_one_thread_runs_calls_in_order_and_skips_cancelled_ones() -> None:
    pool = ThreadPool(1, "test")
    ran: list[int] = []
    gate = threading.Event()
    try:
        first = pool.run(gate.wait)  # holds the only thread until the others are queued
        queued = [pool.run(functools.partial(ran.append, n)) for n in range(5)]
        queued[2].cancel()
        gate.set()
        await first
        await asyncio.gather(*queued, return_exceptions=True)
        assert ran == [0, 1, 3, 4]
    finally:
        pool.shutdown()


async def test_shutdown_lets_queued_calls_finish() -> None:
    pool = ThreadPool(1, "test")
    ran: list[int] = []
    futures = [pool.run(functools.partial(ran.append, n)) for n in range(20)]
    pool.shutdown()
    assert ran == list(range(20))
    await asyncio.gather(*futures)
    pool.shutdown()  # idempotent
