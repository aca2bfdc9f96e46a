"""One client connection's outgoing side: a bounded send queue and the task that drains it.

Backpressure, stated plainly: nothing that produces events (the hub's fan-out, a request
handler) ever waits for a client. A frame for a connection with nothing queued and a writable
socket is handed to the transport at once (see ``fastwrite.py``); any other frame is appended to the
connection's queue, and the producer returns. The connection's writer task sends the queue in
order. When a client reads more slowly than events arrive, its queue grows to ``send_queue_max``
frames; past that, ephemeral events are dropped first and, if the queue is still full, the
connection is closed with 4002 (slow consumer). The client reconnects with its cursors and
recovers every persisted event from storage, so a slow client loses nothing but time, and never
slows anyone else.

Memory: a server holds tens of thousands of connections, most of them idle, so a connection keeps
nothing it is not using (goal: 20 KiB of server memory per idle connection, BENCHMARKS.md). The
writer task exists only while frames wait or a close frame is to be sent: it is started when the
first frame has to wait and ends when both queues are empty again. The queues, the held events
and the remembered positions are allocated on first use and let go of when empty, and the
instance has ``__slots__``.

Sequence numbers are assigned when a frame is *written*, so ``seq`` is gap-free as seen by the
client even when ephemeral events are dropped.

While a connection is being resumed (its backlog read from storage), or backfilled after a new
follow, live events that arrive are *held* and released after the backlog, minus those the
backlog already contained. Holds nest: a follow may be backfilled in the middle of a resume.
A connection remembers the positions storage reads gave it (``replay``) for a while after the
last one, and drops a live event it was given that way already: a read can see an item before
the item's live copy arrives. The gateway lets go of them (``forget_reads``). What live
delivery gave is remembered once per node, not per connection (``delivered.py``).

The priority lane: events marked priority (safety statuses, direct messages, notifications,
incidents) wait in a second queue that the writer drains first, so in a backed-up connection —
the normal state of affairs in a disaster surge — they overtake ordinary posts. It stays safe to
resume by cursor because a stream's events are either all priority (``direct``,
``notifications``) or all ordinary (``following``): within a stream, order is kept. That holds
by construction: the lane is a property of the event type, declared once in server/publisher.py
and carried in the bus envelope, never chosen at a publish site. The lane
has its own bound of ``send_queue_max`` frames, so a full ordinary queue does not refuse them.

Barriers: some entries of the ordinary queue must not be overtaken by the priority lane. A resume
backlog (it may hold older events of a priority stream); an answer (the events its request
caused come after it, PROTOCOL.md section 3.1); and a priority event that had to queue behind
one of these, or a later one of its stream would overtake it. While any barrier is queued, a
priority event queues in the ordinary queue and becomes a barrier itself; the writer counts
barriers down as it sends them, and the lane is used again once none is left.

Answers first: while the gateway handles a request, :meth:`Connection.expect_answer` holds the
connection's live events (as a resume does) and :meth:`Connection.answer` queues the ok or
error and then lets them go, so every event the request caused on this connection (the bus
delivers a node's own publishes inside ``publish``, that is, inside the handler) is queued after
its answer, and the barrier keeps a priority event from overtaking it. Other connections are
not held. The hold ends when the answer is queued, when the request fails without one (the
gateway's ``finally``), or ``ANSWER_HOLD_MAX_S`` after it first kept an event back, whatever the
handler is doing. That timer is made only when an event is actually held: most requests are
over before any event for their connection arrives, and cost no timer.

Metrics: shed frames and slow-consumer closes are counted here as they happen (both are rare).
Fan-out latency is observed for one event per fan-out, the one the hub hands to
:meth:`Connection.probe` (see ``hub.py``): at once if the frame was written from the fan-out
loop, else by the writer as it sends the stamped entry; an ordinary event costs the writer one
comparison.

See ``docs/topics/fanout.md`` (the send path, backpressure, the priority lane) and
``docs/topics/resume.md`` (holds, replay, gap fills).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from protocol.codec import compact_tail, event_frame
from protocol.errors import CloseCode

from .fastwrite import FastWriter

if TYPE_CHECKING:
    from ..metrics import Metrics

log = logging.getLogger(__name__)

#: Replayed tails made compact, by tail: in a storm the resumes presented together share their
#: tails (``EventPresenter``), and each would otherwise make the same compact copy (9 µs each).
#: Bounded (tails of about 0.5 KiB: a few MiB at most); the oldest go first.
_COMPACTED: dict[bytes, bytes] = {}
COMPACTED_MAX = 4_096


def _compacted(tail: bytes) -> bytes:
    compact = _COMPACTED.get(tail)
    if compact is None:
        if len(_COMPACTED) >= COMPACTED_MAX:
            del _COMPACTED[next(iter(_COMPACTED))]
        compact = _COMPACTED[tail] = compact_tail(tail)
    return compact


#: Queue entry kinds; a _PROBED entry is an event whose payload is (tail, hub clock at arrival,
#: the ``kind`` label of its latency sample). _ANSWER (an ok or error frame), _BACKLOG and
#: _PINNED (a priority event queued behind a barrier) are barriers (see the module docstring).
_FRAME, _EVENT, _EPHEMERAL, _BACKLOG, _PROBED, _ANSWER, _PINNED = 0, 1, 2, 3, 4, 5, 6
#: The fan-out latency histogram's ``kind`` label, by the event's priority.
_KIND = ("ordinary", "priority")
#: How long a request may keep an event of its connection back (seconds, from the first one
#: held): a handler stuck in storage must not stop the connection's events for good. A request
#: answered later than that may have its answer follow events it caused.
ANSWER_HOLD_MAX_S = 10.0


class Sink(Protocol):
    """Where frames go: Starlette's ``WebSocket`` satisfies it."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class State(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    RESUMING = "resuming"
    LIVE = "live"
    CLOSED = "closed"


#: Read on every frame sent. On Python 3.11, ``State.CLOSED`` goes through ``EnumType.__getattr__``
#: (about 200 ns here, a module global 16 ns); Python 3.12 made member access plain again.
_CLOSED = State.CLOSED


class Connection:
    """One client connection's outgoing side (see the module docstring). The endpoint builds it
    after the WebSocket accept and calls :meth:`finish` when it is done with the connection."""

    __slots__ = (
        "_answer_timer",
        "_answering",
        "_barriers",
        "_close",
        "_closed",
        "_fast_writer",
        "_held",
        "_held_probe",
        "_holds",
        "_max",
        "_metrics",
        "_queue",
        "_read",
        "_read_at",
        "_sending",
        "_seq",
        "_sink",
        "_urgent",
        "_writer",
        "channels",
        "compact",
        "deadline",
        "deadline_slot",
        "id",
        "resumed_from",
        "session_id",
        "state",
        "user_id",
    )

    def __init__(
        self,
        sink: Sink,
        *,
        connection_id: str,
        send_queue_max: int,
        fast_writer: FastWriter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = connection_id
        self.state = State.AWAITING_AUTH
        #: When the frame it waits for is due, and its slot on the node's wheel of deadlines
        #: (``deadlines.py``); ``inf`` and None while it waits for nothing.
        self.deadline = math.inf
        self.deadline_slot: int | None = None
        self.user_id: str | None = None
        self.session_id: str | None = None
        #: Bus channels this connection listens to (maintained by the hub).
        self.channels: set[str] = set()
        #: The client asked for compact events (``auth.compact``): the hub hands it the compact
        #: tail of each event (``protocol.codec.compact_tail``), and backlogs are made compact here.
        self.compact = False
        #: Per stream, the position the client holds everything up to as it authenticated: its
        #: cursor, or the moment it connected when it sent none (following, direct,
        #: notifications). A gap fill never reaches back before it.
        self.resumed_from: tuple[str, str, str] | None = None
        #: Positions storage reads gave this connection (``replay``), and when the last one did
        #: (``time.monotonic()``); None once forgotten (``forget_reads``).
        self._read: set[str] | None = None
        self._read_at = 0.0
        self._sink = sink
        #: When the server offers it, frames to an idle connection are written at once, from the
        #: producer, instead of going through the queue and the writer task (see ``fastwrite.py``).
        self._fast_writer = fast_writer
        self._max = send_queue_max
        #: Frames waiting for the writer; None when there are none.
        self._queue: deque[tuple[int, Any, str | None]] | None = None
        self._seq = 0
        #: Live events held while a backlog is read (with their priority).
        self._held: list[tuple[bytes, str | None, bool]] | None = None
        #: A fan-out latency sample on a held event, taken when the hold for an answer ends.
        self._held_probe: tuple[bytes, float, bool] | None = None
        #: The priority lane, made on first use (most connections never need it).
        self._urgent: deque[tuple[int, Any, str | None]] | None = None
        #: Barriers in the ordinary queue: priority events do not overtake them.
        self._barriers = 0
        #: While a request is handled (its events held), and, once one is held, what ends the
        #: hold at the latest.
        self._answering = False
        self._answer_timer: asyncio.TimerHandle | None = None
        self._holds = 0
        self._close: tuple[int, str] | None = None
        #: The writer task, while there is one; it clears this itself as it ends.
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._metrics = metrics
        self._closed: asyncio.Event | None = None

    # --- producers (never block) ------------------------------------------------------------

    def send_frame(self, frame: bytes) -> None:
        """A complete frame (hello, ready): never dropped."""
        self._enqueue(_FRAME, frame, None)

    def expect_answer(self) -> None:
        """A request is about to be handled: hold live events until :meth:`answer` (or
        :meth:`drop_answer`, or ``ANSWER_HOLD_MAX_S``), so none it causes is sent before its
        answer. One request at a time: the gateway reads the next one after answering."""
        if self._answering:
            raise RuntimeError("expect_answer() while a request is already held")
        self.hold()
        self._answering = True
        if self._held:  # held already (a backfill in progress), now held for the request too
            self._time_answer()

    def answer(self, frame: bytes) -> None:
        """An ok or error frame: never dropped, and a barrier (no priority event queued after it
        overtakes it). Then the events held since :meth:`expect_answer` are let go, after it."""
        if self._close is None and self.state is not _CLOSED:
            fast = self._fast_writer
            if fast is not None and self._writer is None and fast.ready():
                fast.write(frame)  # nothing waits, so nothing can overtake it
            else:
                queue = self._queue
                if queue is not None and len(queue) >= self._max and not self._shed_ephemeral(queue):
                    self.close(CloseCode.SLOW_CONSUMER)
                else:
                    self._wait((_ANSWER, frame, None))
                    self._barriers += 1
        self.drop_answer()

    def drop_answer(self) -> None:
        """End the hold of :meth:`expect_answer` without an answer (the request failed, or took
        too long); a no-op if it has ended already."""
        if self._answering:
            self._answering = False
            if self._answer_timer is not None:
                self._answer_timer.cancel()
                self._answer_timer = None
            self.release()

    def _time_answer(self) -> None:
        self._answer_timer = asyncio.get_running_loop().call_later(ANSWER_HOLD_MAX_S, self.drop_answer)

    def push_event(
        self, tail: bytes, pos: str | None = None, *, ephemeral: bool = False, priority: bool = False
    ) -> None:
        """An event: the shared tail from :func:`protocol.codec.event_tail`, and its position;
        ``priority`` events take the priority lane."""
        if pos is not None and self._read is not None and pos in self._read:
            return  # a storage read gave it already (its live copy came late)
        if self._holds:
            if self._held is None:
                self._held = []
            if self._answering and self._answer_timer is None:
                self._time_answer()
            if len(self._held) >= self._max:
                self.close(CloseCode.SLOW_CONSUMER)
            else:
                self._held.append((tail, pos, priority))
            return
        if priority:
            self._enqueue_urgent(tail, pos)
            return
        self._enqueue(_EPHEMERAL if ephemeral else _EVENT, tail, pos)

    def probe(self, tail: bytes, started: float, priority: bool = False) -> bool:
        """Sample fan-out latency on the event just pushed (``tail``; ``started`` is the hub's
        ``time.perf_counter()`` when the message arrived): observed when the frame is handed to
        the transport. A queued event is stamped, and the writer observes it as it sends it; an
        event held (resuming, answering a request) or refused (closing, closed) is not sampled.
        True if the sample was taken or will be (without metrics, always)."""
        if self._metrics is None:
            return True
        if self._close is not None or self.state is _CLOSED:
            return False
        if self._holds:
            held = self._held
            if self._answering and held and held[-1][0] is tail:
                # Held only until the answer goes out: sampled then, the wait included, since
                # that is when this recipient gets it (see release()).
                self._held_probe = (tail, started, priority)
                return True
            return False
        if self._writer is None:
            # Pushed, neither held nor refused, and nothing waits: it went to the transport at once.
            self._metrics.fanout_latency.labels(kind=_KIND[priority]).observe(time.perf_counter() - started)
            return True
        for lane in (self._urgent, self._queue):
            if lane:
                kind, payload, pos = lane[-1]
                if kind == _EVENT and payload is tail:
                    lane[-1] = (_PROBED, (tail, started, _KIND[priority]), pos)
                    return True
        return False

    def hold(self) -> None:
        """Start holding live events (call before subscribing, then read the backlog)."""
        if self.state is State.AWAITING_AUTH:
            self.state = State.RESUMING
        self._holds += 1

    def replay(self, tails: list[bytes], positions: list[str]) -> None:
        """A backlog, queued as one entry ahead of everything held; ``positions`` are its items'
        stream positions. Items an earlier read gave already (a concurrent backfill or gap fill)
        are left out, and live copies of these, held or still to come, are dropped. A backlog is
        bounded by ``resume_max_items`` already, so it does not count against ``send_queue_max``."""
        if self._close is not None or self.state is _CLOSED:
            return
        read = self._read
        if read is None:
            read = self._read = set()
        self._read_at = time.monotonic()
        fresh = [(tail, pos) for tail, pos in zip(tails, positions, strict=True) if pos not in read]
        if fresh:
            self._wait((_BACKLOG, [_compacted(tail) if self.compact else tail for tail, _ in fresh], None))
            self._barriers += 1
            read.update(pos for _, pos in fresh)

    def forget_reads(self, before: float) -> None:
        """Let go of the positions storage reads gave, if the last read was before ``before``
        (``time.monotonic()``): their live copies have come by now."""
        if self._read is not None and self._read_at < before and not self._holds:
            self._read = None

    def release(self) -> None:
        """End one hold. After the last, queue the held events the backlogs did not contain."""
        self._holds -= 1
        if self._holds:
            return
        held, read, probe = self._held, self._read, self._held_probe
        self._held = self._held_probe = None
        for tail, pos, priority in held or ():
            if pos is None or read is None or pos not in read:
                if priority:
                    self._enqueue_urgent(tail, pos)
                else:
                    self._enqueue(_EVENT, tail, pos)
                if probe is not None and tail is probe[0]:
                    self.probe(*probe)
        if self.state is State.RESUMING:
            self.state = State.LIVE

    def _enqueue(self, kind: int, payload: bytes, pos: str | None) -> None:
        if self._close is not None or self.state is _CLOSED:
            return
        fast = self._fast_writer
        if fast is not None and self._writer is None:
            # The fast path: nothing queued in either lane or being sent (the writer runs only
            # then), and the socket takes the frame now.
            if kind != _FRAME:
                if fast.try_write_event(self._seq + 1, payload):
                    self._seq += 1
                    return
            elif fast.ready():
                fast.write(payload)
                return
        queue = self._queue
        if queue is not None and len(queue) >= self._max and not self._shed_ephemeral(queue):
            self.close(CloseCode.SLOW_CONSUMER)
            return
        self._wait((kind, payload, pos))

    def _enqueue_urgent(self, tail: bytes, pos: str | None) -> None:
        if self._close is not None or self.state is _CLOSED:
            return
        fast = self._fast_writer
        if self._writer is None and fast is not None and fast.ready():
            self._enqueue(_EVENT, tail, pos)  # nothing to overtake: the fast path writes it now
            return
        if self._barriers:
            # A barrier is queued (a backlog that may hold older events of this stream, an
            # answer that must come first, or an earlier event of this lane queued behind one):
            # this one waits its turn, and is a barrier for the next.
            queue = self._queue
            if queue is not None and len(queue) >= self._max and not self._shed_ephemeral(queue):
                self.close(CloseCode.SLOW_CONSUMER)
                return
            self._wait((_PINNED, tail, pos))
            self._barriers += 1
            return
        if self._urgent is None:
            self._urgent = deque()
        if len(self._urgent) >= self._max:
            self.close(CloseCode.SLOW_CONSUMER)
            return
        self._urgent.append((_EVENT, tail, pos))
        self._start_writer()

    def _wait(self, entry: tuple[int, Any, str | None]) -> None:
        """Queue an entry for the writer, starting the writer if it is not running."""
        if self._queue is None:
            self._queue = deque()
        self._queue.append(entry)
        self._start_writer()

    def _shed_ephemeral(self, queue: deque[tuple[int, Any, str | None]]) -> bool:
        for index, (kind, _, _) in enumerate(queue):
            if kind == _EPHEMERAL:
                del queue[index]
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
            self._queue = self._urgent = None
            self._barriers = 0
            if self._writer is None:
                self._start_writer()
            elif self._sending:
                self._writer.cancel()

    @property
    def fast_writer(self) -> FastWriter | None:
        """What our uvicorn protocol offers this connection (``fastwrite.py``), if it runs under it."""
        return self._fast_writer

    @property
    def close_requested(self) -> bool:
        return self._close is not None

    @property
    def close_code(self) -> int | None:
        """The close code asked for, or None while the connection is not closing."""
        return self._close[0] if self._close is not None else None

    @property
    def queue_depth(self) -> int:
        return (len(self._queue) if self._queue else 0) + (len(self._urgent) if self._urgent else 0)

    @property
    def closed(self) -> asyncio.Event:
        """Set once the connection is finished: its close frame sent, its peer gone, or the
        endpoint done with it. Made on first use: only a server shutting down waits on it."""
        if self._closed is None:
            self._closed = asyncio.Event()
            if self.state is _CLOSED:
                self._closed.set()
        return self._closed

    async def finish(self, grace_s: float) -> None:
        """The endpoint is done with the connection: let the writer send a close frame asked for,
        but never wait longer than ``grace_s`` seconds for a dead peer; then stop the writer."""
        try:
            if self._writer is not None and self._close is not None:
                await asyncio.wait([self._writer], timeout=grace_s)
        finally:
            if self._writer is not None:
                self._writer.cancel()
            self._finished()

    def _finished(self) -> None:
        self.state = State.CLOSED
        self._queue = self._urgent = None
        self._barriers = 0
        if self._closed is not None:
            self._closed.set()

    # --- the writer task --------------------------------------------------------------------

    def _start_writer(self) -> None:
        if self._writer is None and self.state is not _CLOSED:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _send(self, frame: bytes | list[bytes]) -> None:
        """Send one frame, or (with the fast writer only) several in one write."""
        self._sending = True
        try:
            if self._fast_writer is None:
                assert isinstance(frame, bytes)
                await self._sink.send_text(frame.decode())
            else:
                while not self._fast_writer.ready():
                    if self._fast_writer.gone():
                        return  # the peer is gone or going: the frame has nowhere to go
                    await self._fast_writer.writable()
                    if self._close is not None:
                        return
                if isinstance(frame, list):
                    self._fast_writer.write_many(frame)
                else:
                    self._fast_writer.write(frame)
        except asyncio.CancelledError:
            if self._close is None:
                raise  # cancelled from outside, not by close()
        finally:
            self._sending = False

    async def _write(self) -> None:
        """Send the queues in order, the priority lane first, and end once both are empty; or,
        once a close is asked for, send the close frame and end."""
        try:
            while True:
                if self._close is not None:
                    code, reason = self._close
                    if self._fast_writer is not None:
                        # Into the transport's buffer now, behind the frames written: never
                        # waiting for a client that stopped reading (see FastWriter.close).
                        self._fast_writer.close(code, reason)
                    else:
                        await self._sink.close(code, reason)
                    self._finished()
                    return
                if self._urgent:
                    kind, payload, _ = self._urgent.popleft()
                elif self._queue:
                    kind, payload, _ = self._queue.popleft()
                else:
                    self._queue = self._urgent = None  # nothing waits: let go of both, and end
                    return
                if kind == _FRAME:
                    await self._send(payload)
                elif kind == _ANSWER:
                    self._barriers -= 1
                    await self._send(payload)
                elif kind == _BACKLOG:
                    self._barriers -= 1
                    if self._fast_writer is not None:
                        # One write for the whole backlog rather than one per item: a resume
                        # replaying twenty posts made twenty send calls (BENCHMARKS.md, issue
                        # 18). It is bounded by resume_max_items, as the queue held it already.
                        frames = []
                        for tail in payload:
                            self._seq += 1
                            frames.append(event_frame(self._seq, tail))
                        await self._send(frames)
                        continue
                    for tail in payload:
                        if self._close is not None:
                            break
                        self._seq += 1
                        await self._send(event_frame(self._seq, tail))
                elif kind == _PROBED:
                    tail, started, sampled = payload
                    self._seq += 1
                    frame = event_frame(self._seq, tail)
                    if self._metrics is not None:
                        self._metrics.fanout_latency.labels(kind=sampled).observe(
                            time.perf_counter() - started
                        )
                    await self._send(frame)
                else:
                    if kind == _PINNED:
                        self._barriers -= 1
                    self._seq += 1
                    await self._send(event_frame(self._seq, payload))
        except Exception as exc:  # the peer went away mid-send: nothing more to do
            log.debug("connection %s writer stopped: %r", self.id, exc)
            self._finished()
        finally:
            self._writer = None
