"""When each waiting connection must have sent its next frame, kept on one wheel for the node.

The endpoint waits for ``auth`` at most ``auth_timeout_ms`` and, once authenticated, for each
next frame at most ``heartbeat_timeout_ms`` (PROTOCOL.md, closes 4004 and 4001). With
``asyncio.timeout`` around every wait, each idle connection held a timer of its own (a
``Timeout``, the loop's timer handle, and the frame of the timeout's context), about 0.75 KiB of
the node's memory per connection at 5,000 (BENCHMARKS.md, issue 18), and every frame received
cancelled one timer and scheduled another.

:class:`Deadlines` keeps one task for the node instead. A waiting connection records when its
wait ends (:meth:`Deadlines.arm`, a float on the connection) and sits in the slot of the wheel
for the tick that deadline falls in, or in an earlier one. Each tick, the task takes the slots
that are due: a connection whose deadline has passed is expired (the endpoint closes it with the
code its state calls for); one whose deadline moved on since it was placed (it received a frame
and waits again) goes to the slot of its new deadline. So a frame received costs two float
stores, and a connection moves between slots about once per timeout, not once per frame.

A connection expires at most a tick after its deadline. The tick is a twentieth of the shorter
timeout, and never more than a second: 0.5 s for the default 10 s ``auth_timeout_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

#: The longest tick: a connection expires at most this long after its deadline.
MAX_TICK_S = 1.0
#: The shortest tick (the settings allow timeouts of 100 ms).
MIN_TICK_S = 0.005
#: A tick is this fraction of the shortest timeout it serves.
TICK_FRACTION = 1 / 20


class Waiting(Protocol):
    """What the wheel keeps on a connection: when its wait ends (``math.inf`` while it is not
    waiting) and the slot it is in (None when it is in none)."""

    deadline: float
    deadline_slot: int | None


def tick_for(*timeouts_ms: int) -> float:
    """The tick for timeouts of ``timeouts_ms``: a twentieth of the shortest, within bounds."""
    return min(MAX_TICK_S, max(MIN_TICK_S, min(timeouts_ms) / 1000 * TICK_FRACTION))


T = TypeVar("T", bound=Waiting)


class Deadlines(Generic[T]):
    """A timing wheel of connections waiting for a frame (see the module docstring)."""

    __slots__ = ("_expire", "_slots", "_task", "_tick")

    def __init__(self, tick_s: float, expire: Callable[[T], None]) -> None:
        """``expire`` is called, on the loop, with each connection whose deadline has passed;
        the connection is out of the wheel by then (:meth:`arm` puts it back)."""
        self._tick = tick_s
        self._expire = expire
        self._slots: dict[int, set[T]] = {}
        self._task: asyncio.Task[None] | None = None

    def arm(self, item: T, timeout_s: float) -> None:
        """``item`` waits from now, for at most ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        item.deadline = deadline
        slot = math.ceil(deadline / self._tick)
        placed = item.deadline_slot
        if placed is None or placed > slot:  # in no slot, or in one due too late (a shorter wait)
            if placed is not None:
                self._remove(item, placed)
            self._add(item, slot)
        # Otherwise it stays in the slot it is in, due before its deadline: when that slot is
        # swept, it moves on to the right one.
        if self._task is None:
            self._task = loop.create_task(self._run(), name="connection deadlines")

    @staticmethod
    def disarm(item: T) -> None:
        """``item`` is not waiting (it received a frame and handles it): it cannot expire until
        armed again. It leaves the wheel when its slot is swept."""
        item.deadline = math.inf

    def forget(self, item: T) -> None:
        """``item`` is gone: out of the wheel now, so that the wheel keeps nothing of it."""
        item.deadline = math.inf
        if item.deadline_slot is not None:
            self._remove(item, item.deadline_slot)

    async def close(self) -> None:
        """Stop the task (the node is stopping). Connections still in the wheel stay there."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __len__(self) -> int:
        """How many connections are in the wheel (tests, and metrics if wanted)."""
        return sum(len(members) for members in self._slots.values())

    def _add(self, item: T, slot: int) -> None:
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
        members.add(item)
        item.deadline_slot = slot

    def _remove(self, item: T, slot: int) -> None:
        item.deadline_slot = None
        members = self._slots.get(slot)
        if members is not None:
            members.discard(item)
            if not members:
                del self._slots[slot]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            self.sweep(loop.time())

    def sweep(self, now: float) -> None:
        """Expire every connection whose deadline is at or before ``now``, and move on those
        whose deadline moved on (called by the task each tick)."""
        due = [slot for slot in self._slots if slot * self._tick <= now]
        if not due:
            return
        due.sort()
        for slot in due:
            for item in self._slots.pop(slot):
                item.deadline_slot = None
                if item.deadline <= now:
                    item.deadline = math.inf
                    try:
                        self._expire(item)
                    except Exception:  # one connection's fault never stops the others' timeouts
                        log.exception("sweeping connection deadlines failed")
                elif item.deadline != math.inf:
                    self._add(item, math.ceil(item.deadline / self._tick))
