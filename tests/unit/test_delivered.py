"""The node's record of what it delivered: complete from a moment on, pinned through an outage."""

from __future__ import annotations

from server.gateway.delivered import Delivered


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_it_remembers_what_it_delivered_for_keep_ms_then_forgets_and_says_so() -> None:
    clock = Clock()
    delivered = Delivered(keep_ms=10_000, max_items=100, clock=clock)
    started = int(clock.now * 1000)
    assert delivered.covers(0)  # nothing was delivered before it was made
    delivered.add("A")
    clock.now += 5
    delivered.add("B")
    assert "A" in delivered and "B" in delivered and len(delivered) == 2
    assert delivered.covers(started)
    clock.now += 6  # A is 11 s old: forgotten as the next one comes
    delivered.add("C")
    assert "A" not in delivered and "B" in delivered
    assert not delivered.covers(started)
    assert delivered.covers(int((clock.now - 6) * 1000))  # since B was delivered: complete


def test_while_pinned_nothing_is_forgotten_by_age_only_past_the_maximum() -> None:
    clock = Clock()
    delivered = Delivered(keep_ms=1_000, max_items=3, clock=clock)
    since = int(clock.now * 1000)
    delivered.pin()
    for name in "ABC":
        delivered.add(name)
        clock.now += 60
    assert [name in delivered for name in "ABC"] == [True, True, True]
    assert delivered.covers(since)
    delivered.add("D")  # past the maximum: the oldest goes, and the record no longer reaches back
    assert "A" not in delivered and not delivered.covers(since)
    delivered.unpin()  # and then, by age, everything older than keep_ms
    assert len(delivered) == 1 and "D" in delivered


def test_a_position_delivered_twice_is_one_entry() -> None:
    delivered = Delivered(keep_ms=1_000, max_items=10, clock=Clock())
    delivered.add("A")
    delivered.add("A")
    assert len(delivered) == 1
