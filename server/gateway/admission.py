"""Admission control: how many new connections a node takes on, and when the rest come back.

A reconnect storm (a disaster, a node's restart) sends everyone back at once. A node admits a new
WebSocket while the handshakes it already holds (admitted, not yet ``ready`` or gone) could all be
set up within ``wait_ms`` at the rate it sets them up; past that it closes the socket at once with
4007 and a time to come back. Admitted handshakes then take turns, at most ``concurrency`` at once
between ``auth`` and ``ready``, so that the frames owed to connected users are never queued behind
hundreds of resumes.

**The rate is measured, not configured**: turns ended per second of the time the node had at least
one turn under way. A turn's duration counts everything the node does meanwhile, storage waits and
the fan-out to users already connected included, so the estimate falls when the node is busy with
priority work and rises on a faster machine or a quiet one. A fixed rate (the previous design: 500
a second) throttled a fast node for no reason and overloaded a slow one. Refusing on the event
loop's lag was measured and rejected (docs/topics/disaster-mode.md).

**Refused clients get appointments.** Each is told to come back at the next free moment after the
held handshakes drain, one ``1 / rate`` apart, so that they return spread at the rate the node can
take them rather than together. Appointments are not reservations: a client who returns to a node
still full is given a new one. Beyond ``MAX_RETRY_S`` the wait is drawn at random instead, so one
bad estimate never sends clients minutes away.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")

#: What a node assumes before it has measured a turn: the rate a node of the slowest machine
#: measured so far sets up resumes at (BENCHMARKS.md, issue 18).
INITIAL_RATE = 500.0
#: The rate is sampled once turns have been under way this long (in a storm, four times a
#: second), and each sample weighs half of the estimate: a storm settles it within a second.
SAMPLE_S = 0.25
SMOOTHING = 0.5
#: Bounds of the estimate, so that a storage that hangs never makes it zero.
MIN_RATE, MAX_RATE = 1.0, 100_000.0
#: The least a refused client is told to wait (PROTOCOL.md section 8.5), and the most.
MIN_RETRY_MS = 1_000
MAX_RETRY_S = 60.0


class Admission:
    """One node's admission of new connections and the turns of their handshakes.

    ``rate`` > 0 fixes the rate instead of measuring it (an operator's ceiling; tests)."""

    __slots__ = (
        "_busy_s",
        "_busy_since",
        "_clock",
        "_ended",
        "_fixed",
        "_in_turn",
        "_next",
        "_slots",
        "_wait_s",
        "pending",
        "rate",
    )

    def __init__(
        self, concurrency: int, wait_ms: int, rate: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._wait_s = wait_ms / 1000
        self._fixed = rate > 0
        self._clock = clock
        #: Handshakes set up per second, as measured (or fixed).
        self.rate = float(rate) if rate > 0 else INITIAL_RATE
        #: Admitted connections whose handshake is not over: waiting for ``auth``, for a turn,
        #: or in one.
        self.pending = 0
        self._in_turn = 0
        #: Since the last sample: turns ended, and time with at least one turn under way.
        self._ended = 0
        self._busy_s = 0.0
        self._busy_since = 0.0
        #: The latest appointment handed out (on ``clock``).
        self._next = 0.0

    @property
    def capacity(self) -> int:
        """How many handshakes may be held at once: what the node sets up within the wait."""
        return max(1, int(self.rate * self._wait_s))

    def admit(self) -> int:
        """0 if a new connection is admitted (then counted until :meth:`through` ends), else
        the milliseconds it should wait before it comes back."""
        if self.pending < self.capacity:
            self.pending += 1
            return 0
        now = self._clock()
        appointment = max(self._next, now + self.pending / self.rate)
        if appointment - now > MAX_RETRY_S:
            wait = random.uniform(self._wait_s, MAX_RETRY_S)
        else:
            self._next = appointment + 1 / self.rate
            wait = appointment - now
        return max(MIN_RETRY_MS, math.ceil(wait * 1000))

    async def through(self, handshake: Awaitable[T]) -> T:
        """An admitted connection's handshake, after which it no longer counts as held, whether
        it ended in ``ready`` or in a close."""
        try:
            return await handshake
        finally:
            self.pending -= 1

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One handshake's turn: from ``auth`` read to ``ready`` sent, ``concurrency`` at once."""
        async with self._slots:
            if self._in_turn == 0:
                self._busy_since = self._clock()
            self._in_turn += 1
            try:
                yield
            finally:
                self._in_turn -= 1
                self._count()

    def _count(self) -> None:
        now = self._clock()
        self._busy_s += now - self._busy_since
        self._busy_since = now
        self._ended += 1
        if self._busy_s < SAMPLE_S:
            return
        if not self._fixed:
            estimate = self.rate + SMOOTHING * (self._ended / self._busy_s - self.rate)
            self.rate = min(MAX_RATE, max(MIN_RATE, estimate))
        self._ended, self._busy_s = 0, 0.0
