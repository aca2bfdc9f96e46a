"""What this node has delivered: the stream positions its hub handed to its connections.

After a bus outage a node must send each open connection what other nodes stored meanwhile, and
nothing the connection already has (docs/topics/resume.md, "Filling the gap after a bus
outage"). What a connection already has from live delivery is exactly what this node's hub
delivered on the connection's channels: local publishes reach the hub even while the bus is
down, and what the bus brought before it went down reached it too. So the node keeps one record
of the positions it delivered, shared by all its connections, instead of each connection
remembering what it was given: a few hundred kilobytes for the node rather than kilobytes per
connection.

The record is complete from some moment on (:attr:`Delivered.complete_from_ms`): it keeps every
position delivered during the last ``keep_ms``, and, while an outage lasts (:meth:`pin`), every
position since the outage began, up to ``max_items``. A gap fill reading from before that
moment cannot tell what was delivered, and closes the connection with 4006 instead, so the client
resumes by its cursors; :meth:`covers` says which.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Delivered:
    __slots__ = ("_clock", "_keep_ms", "_max", "_order", "_pins", "_positions", "complete_from_ms")

    def __init__(self, *, keep_ms: int, max_items: int, clock: Callable[[], float] = time.time) -> None:
        self._keep_ms = keep_ms
        self._max = max_items
        self._clock = clock
        #: (wall-clock ms when delivered, position), oldest first; and the same positions as a set.
        self._order: deque[tuple[int, str]] = deque()
        self._positions: set[str] = set()
        self._pins = 0
        #: Every position delivered since this moment (wall-clock ms) is remembered: from the
        #: beginning, until something is forgotten (nothing was delivered before start-up).
        self.complete_from_ms = 0

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def add(self, pos: str) -> None:
        """A stream item this node's hub handed to its connections (once per fan-out)."""
        if pos in self._positions:
            return
        now = self._now()
        self._positions.add(pos)
        self._order.append((now, pos))
        if len(self._order) > self._max:
            self._forget_one()
        elif not self._pins and now - self._order[0][0] > self._keep_ms:
            self._forget(now - self._keep_ms)

    def __contains__(self, pos: object) -> bool:
        return pos in self._positions

    def __len__(self) -> int:
        return len(self._order)

    def covers(self, since_ms: int) -> bool:
        """Whether every item delivered from wall-clock ``since_ms`` on is remembered."""
        return self.complete_from_ms <= since_ms

    @property
    def pinned(self) -> bool:
        return self._pins > 0

    def pin(self) -> None:
        """An outage began: forget nothing by age until :meth:`unpin` (only past ``max_items``)."""
        self._pins += 1

    def unpin(self) -> None:
        self._pins = max(0, self._pins - 1)
        if not self._pins:
            self._forget(self._now() - self._keep_ms)

    def _forget(self, before_ms: int) -> None:
        order = self._order
        while order and order[0][0] < before_ms:
            self._forget_one()

    def _forget_one(self) -> None:
        delivered_ms, pos = self._order.popleft()
        self._positions.discard(pos)
        # Nothing delivered before the next entry can be vouched for any more.
        self.complete_from_ms = max(self.complete_from_ms, delivered_ms + 1)
