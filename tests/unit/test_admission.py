"""Admission control's arithmetic on a clock of our own: what is held, what is measured, and
the appointments the refused are given (server/gateway/admission.py)."""

from __future__ import annotations

import asyncio

import pytest

from server.gateway.admission import INITIAL_RATE, MAX_RETRY_S, MIN_RETRY_MS, Admission


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _nothing() -> None:
    return None


def test_a_node_holds_what_it_can_set_up_within_the_wait_and_not_one_more() -> None:
    admission = Admission(concurrency=32, wait_ms=2_000, clock=Clock())
    assert admission.rate == INITIAL_RATE and admission.capacity == 1_000
    assert [admission.admit() for _ in range(1_000)] == [0] * 1_000
    assert admission.pending == 1_000
    assert admission.admit() > 0 and admission.pending == 1_000


async def test_a_handshake_over_in_any_way_frees_its_place() -> None:
    admission = Admission(concurrency=1, wait_ms=1_000, rate=2, clock=Clock())
    assert admission.admit() == 0 and admission.admit() == 0 and admission.admit() > 0
    await admission.through(_nothing())

    async def refused() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        await admission.through(refused())
    assert admission.pending == 0
    assert admission.admit() == 0


async def test_the_refused_are_given_appointments_spaced_at_the_rate() -> None:
    clock = Clock()
    admission = Admission(concurrency=4, wait_ms=2_000, rate=10, clock=clock)
    for _ in range(admission.capacity):
        assert admission.admit() == 0
    # The 20 held take 2 s at 10 a second; then one each 100 ms.
    waits = [admission.admit() for _ in range(5)]
    assert waits == [2_000, 2_100, 2_200, 2_300, 2_400]
    # Half a second later, ten are done: ten places, then the next appointment, which
    # comes after those already given.
    clock.now += 0.5
    for _ in range(10):
        await admission.through(_nothing())
    assert [admission.admit() for _ in range(10)] == [0] * 10
    assert admission.admit() == 2_000
    # Long past every appointment: they start again once the held handshakes are set up.
    clock.now += 60.0
    assert admission.admit() == 2_000


def test_a_wait_is_never_under_a_second_nor_an_appointment_past_the_horizon() -> None:
    clock = Clock()
    admission = Admission(concurrency=4, wait_ms=100, rate=1_000, clock=clock)
    for _ in range(admission.capacity):
        assert admission.admit() == 0
    assert admission.admit() == MIN_RETRY_MS
    slow = Admission(concurrency=4, wait_ms=10_000, rate=1, clock=clock)
    for _ in range(slow.capacity):
        assert slow.admit() == 0
    waits = [slow.admit() for _ in range(200)]
    assert all(MIN_RETRY_MS <= wait <= MAX_RETRY_S * 1000 for wait in waits)
    assert len(set(waits[60:])) > 1  # beyond the horizon: drawn at random, not all together


async def test_the_rate_is_what_turns_end_at_while_the_node_is_at_them() -> None:
    clock = Clock()
    admission = Admission(concurrency=8, wait_ms=2_000, clock=clock)

    async def turn(took_s: float, entered: asyncio.Event, leave: asyncio.Event) -> None:
        async with admission.turn():
            entered.set()
            await leave.wait()
            clock.now += took_s

    # Eight at once, the last of them done 40 ms after they began: 200 a second, whatever
    # was assumed and however many were in their turn together.
    for _ in range(200):
        events = [(asyncio.Event(), asyncio.Event()) for _ in range(8)]
        tasks = [asyncio.create_task(turn(0.005, entered, leave)) for entered, leave in events]
        for entered, _ in events:
            await entered.wait()
        for _, leave in events:
            leave.set()
        await asyncio.gather(*tasks)
        clock.now += 1.0  # idle between batches: time the node was not at handshakes
    assert abs(admission.rate - 200) < 1
    assert admission.capacity == 400


async def test_a_slow_turn_lowers_the_rate_and_a_fixed_rate_never_moves() -> None:
    clock = Clock()
    measured = Admission(concurrency=1, wait_ms=2_000, clock=clock)
    fixed = Admission(concurrency=1, wait_ms=2_000, rate=50, clock=clock)
    for admission in (measured, fixed):
        for _ in range(200):
            async with admission.turn():
                clock.now += 0.1  # a turn of 100 ms: 10 a second
    assert abs(measured.rate - 10) < 0.5
    assert fixed.rate == 50
