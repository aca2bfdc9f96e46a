"""The outgoing side of one connection, deterministically: ordering, holds, dedup, backpressure,
and a writer task that exists only while frames wait.

The sink stands in for the WebSocket (a transport, not one of our ports); it can stall like a
client that stopped reading.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from protocol.codec import event_frame, event_tail
from protocol.errors import CloseCode
from protocol.messages import PostDeletedEvent
from server.gateway import connection
from server.gateway.connection import Connection, State


class Sink:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.closed: tuple[int, str | None] | None = None
        self.open = asyncio.Event()
        self.open.set()

    async def send_text(self, data: str) -> None:
        await self.open.wait()
        self.sent.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def tail(pos: str) -> bytes:
    return event_tail(PostDeletedEvent(post_id=pos, author_id="A" * 26, community_id=None), pos)


def pos(n: int) -> str:
    return f"{n:026d}"


def event(n: int) -> tuple[bytes, str]:
    """A stream event's tail and its position, as the hub hands them over."""
    return tail(pos(n)), pos(n)


def state_of(conn: Connection) -> State:
    """The connection's state, read fresh: mypy would otherwise keep the narrowing from an earlier
    ``assert state_of(conn) is ...`` across calls that change it behind its back."""
    return conn.state


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_and_events_go_out_in_order_with_gap_free_seq() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.send_frame(b'{"op":"hello"}')
    conn.push_event(*event(1))
    conn.push_event(*event(2), ephemeral=True)
    conn.push_event(*event(3))
    await settle()
    assert [f.get("seq") for f in sink.sent] == [None, 1, 2, 3]
    assert [f.get("pos") for f in sink.sent[1:]] == [pos(1), pos(2), pos(3)]
    await conn.finish(grace_s=0)


async def test_held_events_follow_the_backlog_without_repeats() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()
    assert state_of(conn) is State.RESUMING
    conn.push_event(*event(3))  # live copies of backlog items, and a newer one
    conn.push_event(*event(4))
    conn.push_event(*event(5))
    await settle()
    assert sink.sent == []  # nothing goes out while held
    conn.send_frame(b'{"op":"ready"}')
    conn.replay([tail(pos(1)), tail(pos(2)), tail(pos(3)), tail(pos(4))], [pos(1), pos(2), pos(3), pos(4)])
    conn.release()
    await settle()
    assert [f.get("pos") for f in sink.sent] == [None, pos(1), pos(2), pos(3), pos(4), pos(5)]
    assert [f.get("seq") for f in sink.sent[1:]] == [1, 2, 3, 4, 5]
    assert state_of(conn) is State.LIVE
    await conn.finish(grace_s=0)


async def test_holds_nest_and_release_after_the_last() -> None:
    """A follow backfill may start in the middle of a resume."""
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()  # the resume
    conn.push_event(*event(10))
    conn.hold()  # a follow's backfill
    conn.push_event(*event(11))
    conn.replay([tail(pos(11))], [pos(11)])  # the backfill already had 11
    conn.release()
    await settle()
    assert [f.get("pos") for f in sink.sent] == [pos(11)]  # the backlog goes out, held still held
    conn.replay([tail(pos(10))], [pos(10)])  # the resume's backlog had 10
    conn.release()
    await settle()
    assert [f.get("pos") for f in sink.sent] == [pos(11), pos(10)]  # each once, nothing held repeated
    await conn.finish(grace_s=0)


async def test_a_full_queue_sheds_ephemeral_events_first_then_closes_4002() -> None:
    sink = Sink()
    sink.open.clear()  # the client stopped reading
    conn = Connection(sink, connection_id="c", send_queue_max=4)
    conn.push_event(*event(0))  # taken by the writer, stuck in send
    await settle()
    for n in range(1, 5):
        conn.push_event(*event(n), ephemeral=(n == 2))
    assert conn.queue_depth == 4  # full
    conn.push_event(*event(5))  # ephemeral 2 is shed to make room instead of closing
    assert not conn.close_requested and conn.queue_depth == 4
    conn.push_event(*event(6))  # full, nothing left to shed
    assert conn.close_requested
    await asyncio.wait_for(conn.closed.wait(), 1)  # close() interrupted the stuck send
    assert sink.closed is not None and sink.closed[0] == CloseCode.SLOW_CONSUMER


async def test_a_backlog_does_not_count_against_the_queue_bound() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=4)
    conn.hold()
    conn.replay([tail(pos(n)) for n in range(100)], [pos(n) for n in range(100)])
    conn.release()
    await settle()
    await asyncio.sleep(0.01)
    assert not conn.close_requested
    assert len(sink.sent) == 100
    await conn.finish(grace_s=0)


async def test_overflowing_the_hold_closes_4002() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=4)
    conn.hold()
    for n in range(5):
        conn.push_event(*event(n))
    assert conn.close_requested
    await asyncio.wait_for(conn.closed.wait(), 1)
    assert sink.closed is not None and sink.closed[0] == CloseCode.SLOW_CONSUMER


async def test_a_live_copy_of_what_a_read_gave_is_dropped_until_the_reads_are_forgotten() -> None:
    """A storage read can see an item before the item's live copy reaches the node."""
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=1000)
    conn.hold()
    conn.replay([tail(pos(7))], [pos(7)])
    conn.release()
    conn.push_event(*event(7))  # the live copy, after the read
    conn.push_event(*event(8))
    conn.forget_reads(before=0.0)  # the last read is not older than that: kept
    conn.push_event(*event(7))
    conn.forget_reads(before=float("inf"))
    conn.push_event(*event(7))  # forgotten: a live event is sent as it comes
    await settle()
    assert [f.get("pos") for f in sink.sent] == [pos(7), pos(8), pos(7)]
    await conn.finish(grace_s=0)


async def test_reads_are_not_forgotten_while_held() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=1000)
    conn.hold()
    conn.replay([tail(pos(1))], [pos(1)])
    conn.push_event(*event(1))
    conn.forget_reads(before=float("inf"))
    conn.release()
    await settle()
    assert [f.get("pos") for f in sink.sent] == [pos(1)]
    await conn.finish(grace_s=0)


async def test_two_fills_of_one_gap_give_each_item_once() -> None:
    """A node's own gap fill and another node's broadcast can run at once on one connection."""
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()
    conn.hold()
    backlog = [pos(1), pos(2), pos(3)]
    conn.replay([tail(p) for p in backlog], backlog)
    conn.replay([tail(p) for p in [*backlog, pos(4)]], [*backlog, pos(4)])  # the second fill
    conn.release()
    conn.release()
    await settle()
    assert [f.get("pos") for f in sink.sent] == [pos(1), pos(2), pos(3), pos(4)]
    await conn.finish(grace_s=0)


class FakeFastWriter:
    """Stands in for uvicorn's transport behind FastWriter: writable or paused on demand, or
    gone (then, like uvicorn's, it is "writable" at once, yet takes nothing)."""

    def __init__(self) -> None:
        self.written: list[dict[str, object]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.closing = False
        self.waits = 0
        #: Transport writes: one per frame, or one for several (write_many).
        self.writes = 0

    def ready(self) -> bool:
        return self.open.is_set() and not self.closing

    def gone(self) -> bool:
        return self.closing

    def write(self, frame: bytes) -> None:
        self.written.append(orjson.loads(frame))
        self.writes += 1

    def try_write_event(self, seq: int, tail: bytes) -> bool:
        if not self.ready():
            return False
        self.write(event_frame(seq, tail))
        return True

    def write_many(self, frames: list[bytes]) -> None:
        self.written += [orjson.loads(frame) for frame in frames]
        self.writes += 1

    async def writable(self) -> None:
        self.waits += 1
        if self.waits > 100:
            raise AssertionError("the writer spins on a connection that is gone")
        await self.open.wait()

    def close(self, code: int, reason: str) -> None:
        """Like FastWriter's: the close frame goes behind the others, paused or not."""
        if not self.closing:
            self.written.append({"close": code, "reason": reason})
            self.closing = True


async def test_idle_connections_are_written_at_once_and_busy_ones_keep_order() -> None:
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=16, fast_writer=writer)  # type: ignore[arg-type]
    conn.push_event(*event(1))
    assert [f["pos"] for f in writer.written] == [pos(1)]  # synchronously, no task involved
    writer.open.clear()  # the client stops reading: the transport pauses
    conn.push_event(*event(2))
    conn.push_event(*event(3))
    assert conn.queue_depth >= 1 and len(writer.written) == 1
    writer.open.set()  # it reads again: the writer drains in order, then the fast path resumes
    await settle()
    conn.push_event(*event(4))
    await settle()
    assert [f["pos"] for f in writer.written] == [pos(1), pos(2), pos(3), pos(4)]
    assert [f["seq"] for f in writer.written] == [1, 2, 3, 4]
    assert sink.sent == []  # nothing went the ASGI way
    await conn.finish(grace_s=0)


async def test_priority_events_overtake_a_full_queue_of_ordinary_ones() -> None:
    sink = Sink()
    sink.open.clear()  # the client has stopped reading: everything queues
    conn = Connection(sink, connection_id="c", send_queue_max=4)
    for n in range(1, 5):
        conn.push_event(*event(n))  # the ordinary queue is now full
    conn.push_event(*event(10), priority=True)  # a safety status, say: not refused, not last
    conn.push_event(*event(11), priority=True)
    assert conn.close_code is None
    sink.open.set()
    await settle()
    sent = [f["pos"] for f in sink.sent]
    # The priority events first, in their own order, then the ordinary ones in theirs.
    assert sent == [pos(10), pos(11), pos(1), pos(2), pos(3), pos(4)]
    assert [f["seq"] for f in sink.sent] == [1, 2, 3, 4, 5, 6]
    conn.push_event(*event(5))
    assert conn.close_code is None
    await conn.finish(grace_s=0)


async def test_priority_events_do_not_overtake_a_resume_backlog() -> None:
    sink = Sink()
    sink.open.clear()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()
    conn.push_event(*event(7), priority=True)  # live, while the backlog is read
    conn.replay([tail(pos(5)), tail(pos(6))], [pos(5), pos(6)])
    conn.release()
    conn.push_event(*event(8), priority=True)
    sink.open.set()
    await settle()
    assert [f["pos"] for f in sink.sent] == [pos(5), pos(6), pos(7), pos(8)]
    await conn.finish(grace_s=0)


async def test_a_backlog_goes_out_in_one_write_in_order_then_what_was_held() -> None:
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=16, fast_writer=writer)  # type: ignore[arg-type]
    conn.hold()
    conn.push_event(*event(21))  # live, while the backlog is read
    conn.replay([tail(pos(n)) for n in range(1, 21)], [pos(n) for n in range(1, 21)])
    conn.release()
    await settle()
    assert [f["pos"] for f in writer.written] == [pos(n) for n in range(1, 22)]
    assert [f["seq"] for f in writer.written] == list(range(1, 22))
    assert writer.writes == 2  # the twenty of the backlog together, then the held one
    await conn.finish(grace_s=0)


async def test_a_writer_task_exists_only_while_frames_wait() -> None:
    """Most connections are idle: their frames go straight to the transport and they hold no
    task; a connection that falls behind gets a writer until its queue is empty again."""
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=16, fast_writer=writer)  # type: ignore[arg-type]
    before = asyncio.all_tasks()
    conn.push_event(*event(1))
    assert asyncio.all_tasks() == before
    writer.open.clear()
    conn.push_event(*event(2))
    conn.push_event(*event(3))
    assert len(asyncio.all_tasks() - before) == 1 and conn.queue_depth == 2
    writer.open.set()
    await settle()
    assert asyncio.all_tasks() == before and conn.queue_depth == 0
    conn.push_event(*event(4))
    assert asyncio.all_tasks() == before
    assert [f["seq"] for f in writer.written] == [1, 2, 3, 4]


async def test_a_close_is_sent_and_then_the_connection_counts_as_closed() -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    closed = asyncio.ensure_future(conn.closed.wait())  # as a server shutting down waits
    conn.close(CloseCode.GOING_AWAY)
    await asyncio.wait_for(closed, 1)
    assert sink.closed == (CloseCode.GOING_AWAY, "going_away")
    assert state_of(conn) is State.CLOSED
    await conn.finish(grace_s=1)
    assert conn.closed.is_set()


async def test_finish_gives_a_dead_peer_only_the_grace_period_and_nothing_starts_after() -> None:
    class DeadSink(Sink):
        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            await asyncio.Event().wait()  # the close frame never gets out

    before = asyncio.all_tasks()
    conn = Connection(DeadSink(), connection_id="c", send_queue_max=16)
    conn.send_frame(b'{"op":"hello"}')
    conn.close(CloseCode.SERVER_ERROR)
    await asyncio.wait_for(conn.finish(grace_s=0.05), 1)
    await settle()
    assert state_of(conn) is State.CLOSED and conn.closed.is_set()
    assert asyncio.all_tasks() == before  # the stuck writer was stopped
    conn.send_frame(b'{"op":"late"}')
    conn.replay([tail(pos(1))], [pos(1)])
    assert asyncio.all_tasks() == before and conn.queue_depth == 0


async def test_a_connection_finished_without_a_close_sends_nothing_more() -> None:
    """The client left: the endpoint finishes the connection; later frames go nowhere."""
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.push_event(*event(1))
    await settle()
    await conn.finish(grace_s=1)
    conn.push_event(*event(2))
    await settle()
    assert [f["pos"] for f in sink.sent] == [pos(1)] and sink.closed is None
    assert state_of(conn) is State.CLOSED


async def test_frames_waiting_when_the_peer_goes_are_dropped_without_spinning() -> None:
    """A paused transport that closes is writable at once but takes nothing: the writer must
    give up on the frames rather than wait for writability in a loop that never yields."""
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=16, fast_writer=writer)  # type: ignore[arg-type]
    writer.open.clear()  # the client stops reading
    conn.push_event(*event(1))
    conn.push_event(*event(2))
    await settle()
    writer.closing = True  # then goes away: uvicorn sets the writability flag as the socket closes
    writer.open.set()
    await settle()
    assert writer.written == [] and conn.queue_depth == 0 and writer.waits < 100
    await conn.finish(grace_s=0)


async def test_a_slow_consumer_gets_its_close_frame_behind_the_frames_it_was_given() -> None:
    """The client stopped reading: the frames queued are dropped, and the close frame goes into
    the paused transport at once, behind those written, not after waiting for writability
    (which never comes) or for finish()'s grace (which used to end it with no close frame)."""
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=2, fast_writer=writer)  # type: ignore[arg-type]
    conn.push_event(*event(1))
    writer.open.clear()  # the transport pauses: the client stopped reading
    for n in range(2, 6):
        conn.push_event(*event(n))
    await settle()
    assert conn.close_code == CloseCode.SLOW_CONSUMER
    await conn.finish(grace_s=0)  # no grace at all: the close frame is written already
    assert [f.get("pos") for f in writer.written[:-1]] == [pos(1)]
    assert writer.written[-1] == {"close": 4002, "reason": "slow_consumer"}
    assert sink.closed is None and state_of(conn) is State.CLOSED


async def test_priority_events_queued_behind_a_backlog_are_not_overtaken_by_later_ones() -> None:
    """A priority event that waited behind a backlog keeps its place in its stream: one that
    arrives after the writer has taken the backlog (and is still sending it) comes after it."""
    sink = Sink()
    sink.open.clear()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()
    conn.replay([tail(pos(5)), tail(pos(6))], [pos(5), pos(6)])
    conn.release()
    conn.push_event(*event(7), priority=True)  # behind the backlog
    await settle()  # the writer has taken the backlog and is stuck sending its first item
    conn.push_event(*event(8), priority=True)
    sink.open.set()
    await settle()
    assert [f["pos"] for f in sink.sent] == [pos(5), pos(6), pos(7), pos(8)]
    conn.push_event(*event(9), priority=True)  # no barrier left: the lane is used again
    await settle()
    assert [f["seq"] for f in sink.sent] == [1, 2, 3, 4, 5]
    await conn.finish(grace_s=0)


async def test_an_answer_goes_before_the_events_held_while_its_request_ran() -> None:
    """Idle connection with a fast writer: the answer is written first, then what was held."""
    sink, writer = Sink(), FakeFastWriter()
    conn = Connection(sink, connection_id="c", send_queue_max=16, fast_writer=writer)  # type: ignore[arg-type]
    conn.expect_answer()
    conn.push_event(*event(1))
    conn.push_event(*event(2), priority=True)
    assert writer.written == []  # held while the request is handled
    conn.answer(b'{"op":"ok","id":"r1","data":{}}')
    assert [f.get("id") or f["pos"] for f in writer.written] == ["r1", pos(1), pos(2)]
    assert [f.get("seq") for f in writer.written] == [None, 1, 2]
    await conn.finish(grace_s=0)


async def test_priority_events_do_not_overtake_a_queued_answer() -> None:
    """In a backed-up connection the answer waits behind earlier ordinary events; the priority
    events its request caused (a direct message, say) wait behind it, and so do later ones of
    their stream; the lane is used again once the answer is sent."""
    sink = Sink()
    sink.open.clear()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.push_event(*event(1))
    conn.push_event(*event(2), priority=True)  # before the request: overtakes as ever
    conn.expect_answer()
    conn.push_event(*event(3), priority=True)  # caused by the request
    conn.answer(b'{"op":"ok","id":"r1","data":{}}')
    conn.push_event(*event(4), priority=True)
    conn.push_event(*event(5))
    sink.open.set()
    await settle()
    assert [f.get("id") or f["pos"] for f in sink.sent] == [pos(2), pos(1), "r1", pos(3), pos(4), pos(5)]
    assert [f["seq"] for f in sink.sent if "seq" in f] == [1, 2, 3, 4, 5]
    sink.open.clear()
    conn.push_event(*event(6))
    conn.push_event(*event(7), priority=True)
    sink.open.set()
    await settle()
    assert [f["pos"] for f in sink.sent[-2:]] == [pos(7), pos(6)]
    await conn.finish(grace_s=0)


async def test_answers_keep_request_order_and_a_full_queue_still_closes_4002() -> None:
    sink = Sink()
    sink.open.clear()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    for n in range(3):
        conn.expect_answer()
        conn.push_event(*event(n), priority=True)
        conn.answer(b'{"op":"ok","id":"r%d","data":{}}' % n)
    sink.open.set()
    await settle()
    assert [f.get("id") or f["pos"] for f in sink.sent] == ["r0", pos(0), "r1", pos(1), "r2", pos(2)]
    sink.open.clear()
    for n in range(16):
        conn.push_event(*event(10 + n))
    conn.answer(b'{"op":"ok","id":"late","data":{}}')  # no room, nothing to shed
    assert conn.close_code == CloseCode.SLOW_CONSUMER
    await conn.finish(grace_s=0)


async def test_a_request_that_fails_or_hangs_does_not_hold_events_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.expect_answer()
    conn.push_event(*event(1))
    conn.drop_answer()  # the handler raised before there was an answer
    conn.drop_answer()  # and a second end is harmless
    await settle()
    assert [f["pos"] for f in sink.sent] == [pos(1)]

    monkeypatch.setattr(connection, "ANSWER_HOLD_MAX_S", 0.01)
    conn.expect_answer()
    conn.push_event(*event(2))
    async with asyncio.timeout(5):  # the handler never returns: the hold ends by itself
        while len(sink.sent) < 2:
            await asyncio.sleep(0.01)
    conn.answer(b'{"op":"ok","id":"slow","data":{}}')  # the late answer still goes out, once
    await settle()
    assert [f.get("id") or f["pos"] for f in sink.sent] == [pos(1), pos(2), "slow"]
    await conn.finish(grace_s=0)


async def test_events_held_by_a_backfill_are_not_kept_for_good_by_a_stuck_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "ANSWER_HOLD_MAX_S", 0.01)
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16)
    conn.hold()  # a backfill after a follow, say
    conn.push_event(*event(1))
    conn.expect_answer()  # a request begins while it runs, and never ends
    conn.replay([], [])
    conn.release()  # the backfill is done; the request still holds
    await settle()
    assert sink.sent == []
    async with asyncio.timeout(5):
        while not sink.sent:
            await asyncio.sleep(0.01)
    assert [f["pos"] for f in sink.sent] == [pos(1)]
    await conn.finish(grace_s=0)
