"""One client connection's outgoing side: a bounded send queue and the task that drains it.

Backpressure, stated plainly: nothing that produces events (the hub's fan-out, a request
handler) ever waits for a client. They append to the connection's queue and return. A single
writer task per connection sends the queue in order. When a client reads more slowly than events
arrive, its queue grows to ``send_queue_max`` frames; past that, ephemeral events are dropped
first and, if the queue is still full, the connection is closed with 4002 (slow consumer). The
client reconnects with its cursors and recovers every persisted event from storage, so a slow
client loses nothing but time, and never slows anyone else.

Sequence numbers are assigned when a frame is *written*, so ``seq`` is gap-free as seen by the
client even when ephemeral events are dropped.

While a connection is being resumed (its backlog read from storage), or backfilled after a new
follow, live events that arrive are *held* and released after the backlog, minus those the
backlog already contained. Holds nest: a follow may be backfilled in the middle of a resume.

The priority lane: events marked priority (safety statuses, direct messages, notifications,
incidents) wait in a second queue that the writer drains first, so in a backed-up connection —
the normal state of affairs in a disaster surge — they overtake ordinary posts. It stays safe to
resume by cursor because a stream's events are either all priority (``direct``,
``notifications``) or all ordinary (``following``): within a stream, order is kept. The lane
has its own bound of ``send_queue_max`` frames, so a full ordinary queue does not refuse them.

Metrics: shed frames and slow-consumer closes are counted here as they happen (both are rare).
Fan-out latency is observed for one event per fan-out, the one the hub hands to
:meth:`Connection.probe` (see ``hub.py``): at once if the frame was written from the fan-out
loop, else by the writer as it sends the stamped entry; an ordinary event costs the writer one
comparison.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from protocol.codec import event_frame
from protocol.errors import CloseCode

from .direct import DirectWriter

if TYPE_CHECKING:
    from ..metrics import Metrics

log = logging.getLogger(__name__)

#: Queue entry kinds; a _PROBED entry is an event whose payload is (tail, hub clock at arrival).
_FRAME, _EVENT, _EPHEMERAL, _BACKLOG, _PROBED = 0, 1, 2, 3, 4
#: Positions a connection remembers having been given (about 75 bytes each): enough to fill the
#: gap of a short bus outage in place. Longer gaps make the client resume by its own cursor.
RECENT_MAX = 128


class Sink(Protocol):
    """Where frames go: Starlette's ``WebSocket`` satisfies it."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class State(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    RESUMING = "resuming"
    LIVE = "live"
    CLOSED = "closed"


class Connection:
    def __init__(
        self,
        sink: Sink,
        *,
        connection_id: str,
        send_queue_max: int,
        direct: DirectWriter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = connection_id
        self.state = State.AWAITING_AUTH
        self.user_id: str | None = None
        self.session_id: str | None = None
        #: Bus channels this connection listens to (maintained by the hub).
        self.channels: set[str] = set()
        #: The greatest stream position this connection has been given.
        self.last_pos: str | None = None
        #: The most recent positions given (at most RECENT_MAX), and the greatest one forgotten:
        #: what ``given_since`` can answer for when a gap is filled from storage.
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self._forgotten: str = ""
        self._sink = sink
        #: When the server offers it, frames to an idle connection are written at once, from the
        #: producer, instead of waking the writer task (see ``direct.py``).
        self._direct = direct
        self._max = send_queue_max
        self._queue: deque[tuple[int, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._seq = 0
        self._held: list[tuple[bytes, str | None, bool]] = []
        #: The priority lane, made on first use (most connections never need it).
        self._urgent: deque[tuple[int, Any, str | None]] | None = None
        #: Resume backlogs in the queue: priority events do not overtake them.
        self._backlogs = 0
        self._holds = 0
        self._replayed: set[str] = set()
        self._close: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._metrics = metrics
        self.closed = asyncio.Event()

    # --- producers (never block) ------------------------------------------------------------

    def send_frame(self, frame: bytes) -> None:
        """A complete frame (hello, ready, ok, error): never dropped."""
        self._enqueue(_FRAME, frame, None)

    def push_event(
        self, tail: bytes, pos: str | None = None, *, ephemeral: bool = False, priority: bool = False
    ) -> None:
        """An event: the shared tail from :func:`protocol.codec.event_tail`, and its position;
        ``priority`` events take the priority lane."""
        if self._holds:
            if len(self._held) >= self._max:
                self.close(CloseCode.SLOW_CONSUMER)
            else:
                self._held.append((tail, pos, priority))
            return
        if priority:
            self._enqueue_urgent(tail, pos)
            return
        self._enqueue(_EPHEMERAL if ephemeral else _EVENT, tail, pos)

    def probe(self, tail: bytes, started: float) -> None:
        """Sample fan-out latency on the event just pushed (``tail``; ``started`` is the hub's
        ``time.perf_counter()`` when the message arrived): observed when the frame is handed to
        the transport. A queued event is stamped, and the writer observes it as it sends it; an
        event held (resuming) or refused (closing) is not sampled."""
        if self._metrics is None or self._close is not None or self._holds:
            return
        if not self._queue:
            # Pushed, neither held nor refused, yet not queued: it went to the transport at once.
            self._metrics.fanout_latency.observe(time.perf_counter() - started)
            return
        kind, payload, pos = self._queue[-1]
        if kind == _EVENT and payload is tail:
            self._queue[-1] = (_PROBED, (tail, started), pos)

    def hold(self) -> None:
        """Start holding live events (call before subscribing, then read the backlog)."""
        if self.state is State.AWAITING_AUTH:
            self.state = State.RESUMING
        self._holds += 1

    def replay(self, tails: list[bytes], positions: list[str]) -> None:
        """A backlog, queued as one entry ahead of everything held; ``positions`` are its items'
        stream positions, so held live copies of them are dropped on release, and items this
        connection was given already (by a concurrent backfill) are left out. A backlog is
        bounded by ``resume_max_items`` already, so it does not count against ``send_queue_max``."""
        if self._close is not None:
            return
        fresh = [
            (tail, pos) for tail, pos in zip(tails, positions, strict=True) if pos not in self._recent_set
        ]
        if fresh:
            self._queue.append((_BACKLOG, [tail for tail, _ in fresh], None))
            self._backlogs += 1
            for _, pos in fresh:
                self._replayed.add(pos)
                self._given(pos)
            self._wakeup.set()

    def release(self) -> None:
        """End one hold. After the last, queue the held events the backlogs did not contain."""
        self._holds -= 1
        if self._holds:
            return
        held, replayed = self._held, self._replayed
        self._held, self._replayed = [], set()
        for tail, pos, priority in held:
            if pos is None or pos not in replayed:
                if priority:
                    self._enqueue_urgent(tail, pos)
                else:
                    self._enqueue(_EVENT, tail, pos)
        if self.state is State.RESUMING:
            self.state = State.LIVE

    # --- what was given: for filling gaps after a bus outage -------------------------------

    def given_since(self, since: str) -> set[str] | None:
        """The positions given after ``since``, or None if some of them were forgotten already
        (then only the client, resuming by its cursor, can tell what it has)."""
        if self._forgotten > since:
            return None
        return {pos for pos in self._recent if pos > since}

    def _given(self, pos: str) -> None:
        if self.last_pos is None or pos > self.last_pos:
            self.last_pos = pos
        self._recent.append(pos)
        self._recent_set.add(pos)
        if len(self._recent) > RECENT_MAX:
            forgotten = self._recent.popleft()
            self._recent_set.discard(forgotten)
            if forgotten > self._forgotten:
                self._forgotten = forgotten

    def _enqueue(self, kind: int, payload: bytes, pos: str | None) -> None:
        if self._close is not None:
            return
        direct = self._direct
        if (
            direct is not None
            and not self._queue
            and not self._urgent
            and not self._sending
            and direct.ready()
        ):
            # The fast path: nothing ahead of this frame and the socket takes it now.
            if kind != _FRAME:
                self._seq += 1
                payload = event_frame(self._seq, payload)
            direct.write(payload)
            if pos is not None:
                self._given(pos)
            return
        if len(self._queue) >= self._max and not self._shed_ephemeral():
            self.close(CloseCode.SLOW_CONSUMER)
            return
        self._queue.append((kind, payload, pos))
        if pos is not None:
            self._given(pos)
        self._wakeup.set()

    def _enqueue_urgent(self, tail: bytes, pos: str | None) -> None:
        if self._close is not None:
            return
        direct = self._direct
        idle = not self._queue and not self._urgent and not self._sending
        if (idle and direct is not None and direct.ready()) or self._backlogs:
            # Nothing to overtake (the fast path writes it now); or a resume backlog is queued,
            # which may hold older events of the same stream: then it waits its turn.
            self._enqueue(_EVENT, tail, pos)
            return
        if self._urgent is None:
            self._urgent = deque()
        if len(self._urgent) >= self._max:
            self.close(CloseCode.SLOW_CONSUMER)
            return
        self._urgent.append((_EVENT, tail, pos))
        if pos is not None:
            self._given(pos)
        self._wakeup.set()

    def _shed_ephemeral(self) -> bool:
        for index, (kind, _, _) in enumerate(self._queue):
            if kind == _EPHEMERAL:
                del self._queue[index]
                if self._metrics is not None:
                    self._metrics.send_queue_dropped.inc()
                return True
        return False

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Ask the writer to close the connection now; queued frames are discarded.

        A writer blocked in a send (the client is not reading) is interrupted: the frame it was
        sending is already whole in the transport's buffer, so the close frame follows it and a
        client that reads on finds the close code after the last complete event."""
        if self._close is None:
            reason_text = (reason or code.name.lower()).encode()[:123].decode(errors="ignore")
            self._close = (int(code), reason_text)
            if code == CloseCode.SLOW_CONSUMER and self._metrics is not None:
                self._metrics.slow_consumers_closed.inc()
            self._queue.clear()
            self._urgent = None
            self._backlogs = 0
            self._wakeup.set()
            if self._sending and self._writer is not None:
                self._writer.cancel()

    @property
    def close_requested(self) -> bool:
        return self._close is not None

    @property
    def close_code(self) -> int | None:
        """The close code asked for, or None while the connection is not closing."""
        return self._close[0] if self._close is not None else None

    @property
    def queue_depth(self) -> int:
        return len(self._queue) + (len(self._urgent) if self._urgent else 0)

    async def _send(self, frame: bytes) -> None:
        self._sending = True
        try:
            if self._direct is None:
                await self._sink.send_text(frame.decode())
            else:
                while not self._direct.ready():
                    await self._direct.writable()
                    if self._close is not None:
                        return
                self._direct.write(frame)
        except asyncio.CancelledError:
            if self._close is None:
                raise  # cancelled from outside, not by close()
        finally:
            self._sending = False

    # --- the writer task --------------------------------------------------------------------

    async def run_writer(self) -> None:
        """Drain the queue until closed. Run as one task per connection."""
        self._writer = asyncio.current_task()
        try:
            while True:
                while not self._queue and not self._urgent and self._close is None:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                if self._close is not None:
                    code, reason = self._close
                    await self._sink.close(code, reason)
                    return
                kind, payload, _ = self._urgent.popleft() if self._urgent else self._queue.popleft()
                if kind == _FRAME:
                    await self._send(payload)
                elif kind == _BACKLOG:
                    self._backlogs -= 1
                    for tail in payload:
                        if self._close is not None:
                            break
                        self._seq += 1
                        await self._send(event_frame(self._seq, tail))
                elif kind == _PROBED:
                    tail, started = payload
                    self._seq += 1
                    frame = event_frame(self._seq, tail)
                    if self._metrics is not None:
                        self._metrics.fanout_latency.observe(time.perf_counter() - started)
                    await self._send(frame)
                else:
                    self._seq += 1
                    await self._send(event_frame(self._seq, payload))
        except Exception as exc:  # the peer went away mid-send: nothing more to do
            log.debug("connection %s writer stopped: %r", self.id, exc)
        finally:
            self.state = State.CLOSED
            self._queue.clear()
            self.closed.set()
