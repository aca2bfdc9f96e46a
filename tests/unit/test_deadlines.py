"""The wheel of connection deadlines (server/gateway/deadlines.py), swept by hand at chosen
times: its own task sleeps a whole tick first, longer than any of these tests."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from server.gateway.deadlines import MAX_TICK_S, MIN_TICK_S, Deadlines, tick_for

TICK = 10.0  # the wheel's own sweeps never come during a test


class Waiter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.deadline = math.inf
        self.deadline_slot: int | None = None

    def __repr__(self) -> str:
        return self.name


async def wheel() -> tuple[Deadlines[Waiter], list[Waiter], float]:
    expired: list[Waiter] = []
    return Deadlines(TICK, expired.append), expired, asyncio.get_running_loop().time()


async def test_a_wait_expires_within_a_tick_after_its_deadline_and_not_before() -> None:
    deadlines, expired, now = await wheel()
    a = Waiter("a")
    deadlines.arm(a, 25.0)
    deadlines.sweep(now + 24.0)
    assert expired == []
    deadlines.sweep(now + 25.0 + TICK)
    assert expired == [a]
    assert len(deadlines) == 0 and a.deadline_slot is None
    await deadlines.close()


async def test_a_wait_armed_again_moves_on() -> None:
    deadlines, expired, now = await wheel()
    a = Waiter("a")
    deadlines.arm(a, 25.0)
    a.deadline += 30.0  # as if armed again 30 s later (a frame came, and it waits again)
    deadlines.sweep(now + 40.0)
    assert expired == [] and len(deadlines) == 1  # moved to the slot of its new deadline
    deadlines.sweep(now + 55.0 + TICK)
    assert expired == [a]
    await deadlines.close()


async def test_a_shorter_wait_after_a_longer_one_expires_on_its_own_deadline() -> None:
    """auth_timeout_ms, then a much shorter heartbeat_timeout_ms: the connection must not sit in
    the slot of the longer wait."""
    deadlines, expired, now = await wheel()
    a = Waiter("a")
    deadlines.arm(a, 100.0)
    deadlines.disarm(a)
    deadlines.arm(a, 20.0)
    deadlines.sweep(now + 20.0 + TICK)
    assert expired == [a]
    assert len(deadlines) == 0
    await deadlines.close()


async def test_a_disarmed_wait_never_expires_and_leaves_the_wheel_when_swept() -> None:
    deadlines, expired, now = await wheel()
    a, b = Waiter("a"), Waiter("b")
    deadlines.arm(a, 20.0)
    deadlines.arm(b, 20.0)
    deadlines.disarm(a)  # handling a frame
    deadlines.sweep(now + 100.0)
    assert expired == [b]
    assert len(deadlines) == 0 and a.deadline_slot is None
    await deadlines.close()


async def test_a_forgotten_connection_is_out_of_the_wheel_at_once() -> None:
    deadlines, expired, now = await wheel()
    a = Waiter("a")
    deadlines.arm(a, 20.0)
    deadlines.forget(a)
    assert len(deadlines) == 0 and a.deadline_slot is None
    deadlines.sweep(now + 100.0)
    assert expired == []
    deadlines.forget(a)  # twice is harmless
    await deadlines.close()


async def test_many_waits_expire_in_order_of_their_slots() -> None:
    deadlines, expired, now = await wheel()
    waiters = [Waiter(str(n)) for n in range(50)]
    for n, w in enumerate(waiters):
        deadlines.arm(w, 20.0 * (n + 1))
    deadlines.sweep(now + 20.0 * 25 + TICK)
    assert expired == waiters[:25]
    assert len(deadlines) == 25
    await deadlines.close()


async def test_its_own_task_sweeps_and_stops() -> None:
    expired: list[Waiter] = []
    deadlines: Deadlines[Waiter] = Deadlines(0.01, expired.append)
    a = Waiter("a")
    deadlines.arm(a, 0.05)
    for _ in range(200):
        if expired:
            break
        await asyncio.sleep(0.01)
    assert expired == [a]
    await deadlines.close()
    await deadlines.close()


async def test_a_failing_expiry_is_logged_and_the_others_still_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Waiter] = []

    def expire(w: Waiter) -> None:
        seen.append(w)
        if w.name == "bad":
            raise RuntimeError("boom")

    deadlines: Deadlines[Waiter] = Deadlines(0.01, expire)
    bad = Waiter("bad")
    deadlines.arm(bad, 0.02)
    good = Waiter("good")
    deadlines.arm(good, 0.2)
    with caplog.at_level(logging.ERROR, logger="server.gateway.deadlines"):
        for _ in range(300):
            if good in seen:
                break
            await asyncio.sleep(0.01)
    assert seen == [bad, good]
    assert "sweeping connection deadlines failed" in caplog.text
    await deadlines.close()


def test_the_tick_is_a_twentieth_of_the_shortest_timeout_within_bounds() -> None:
    assert tick_for(10_000, 60_000) == 0.5
    assert tick_for(300, 60_000) == pytest.approx(0.015)
    assert tick_for(100, 100) == pytest.approx(MIN_TICK_S)
    assert tick_for(600_000, 600_000) == MAX_TICK_S
