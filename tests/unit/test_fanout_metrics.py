"""Fan-out metrics, deterministically: delivered frames counted once per fan-out, latency sampled
on one recipient, sheds and slow consumers counted, and frames unchanged by being sampled."""

from __future__ import annotations

import asyncio

from protocol.errors import CloseCode
from server import channels
from server.bus.local import LocalBus
from server.gateway.connection import Connection
from server.gateway.hub import Hub
from server.metrics import Metrics
from tests.unit.test_connection import FakeFastWriter, Sink, event, pos, settle, tail


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of the samples of that name with (at least) those labels."""
    return sum(
        found.value
        for family in metrics.registry.collect()
        for found in family.samples
        if found.name == name and labels.items() <= found.labels.items()
    )


async def test_a_fan_out_counts_every_recipient_and_samples_one() -> None:
    metrics = Metrics()
    hub = Hub(LocalBus(), metrics=metrics)
    sinks = [Sink() for _ in range(3)]
    conns = [
        Connection(sink, connection_id=f"c{n}", send_queue_max=16, metrics=metrics)
        for n, sink in enumerate(sinks)
    ]
    channel = channels.posts("A" * 26)
    for n, conn in enumerate(conns):
        conn.user_id = f"u{n}"
        await hub.attach(conn, [channel])
    hub.deliver(channel, channels.envelope(tail(pos(1)), pos(1)))
    assert hub.events_delivered == 3
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 0  # not sent yet
    await settle()
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 1  # one sample per fan-out
    # The sampled frame is the same frame everyone else got.
    assert sinks[0].sent == sinks[1].sent == sinks[2].sent
    assert [(f["seq"], f["pos"]) for f in sinks[0].sent] == [(1, pos(1))]


async def test_a_frame_written_from_the_fan_out_loop_is_sampled_at_once() -> None:
    metrics = Metrics()
    writer = FakeFastWriter()
    conn = Connection(Sink(), connection_id="c", send_queue_max=16, fast_writer=writer, metrics=metrics)  # type: ignore[arg-type]
    first, second = event(1), event(2)
    conn.push_event(*first)
    assert conn.queue_depth == 0 and len(writer.written) == 1  # gone to the transport already
    conn.probe(first[0], 0.0)
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 1
    writer.open.clear()  # the transport pauses: the next frame is queued, stamped, timed when sent
    conn.push_event(*second)
    conn.probe(second[0], 0.0)
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 1
    writer.open.set()
    await settle()
    assert [f["seq"] for f in writer.written] == [1, 2]
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 2


async def test_an_event_held_for_its_requests_answer_is_sampled_when_it_goes_out() -> None:
    metrics = Metrics()
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16, metrics=metrics)
    conn.expect_answer()
    own = event(1)  # the author's own post, caused by the request being answered
    conn.push_event(*own)
    assert conn.probe(own[0], 0.0)
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 0
    conn.answer(b'{"op":"ok","id":"r1","data":{}}')
    await settle()
    assert [f["op"] for f in sink.sent] == ["ok", "event"]
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 1


async def test_the_hub_samples_another_recipient_when_the_last_one_holds_the_event() -> None:
    metrics = Metrics()
    hub = Hub(LocalBus(), metrics=metrics)
    conns = [Connection(Sink(), connection_id=f"c{n}", send_queue_max=16, metrics=metrics) for n in range(2)]
    channel = channels.posts("A" * 26)
    for n, conn in enumerate(conns):
        conn.user_id = f"u{n}"
        await hub.attach(conn, [channel])
    for n, conn in enumerate(conns, 1):  # each in turn holds the event (resuming): once it is
        conn.hold()  # the recipient the member set yields last
        hub.deliver(channel, channels.envelope(tail(pos(n)), pos(n)))
        conn.release()
    await settle()
    # Two fan-outs: in each, one recipient held the event and the other was sampled.
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 2
    assert hub.events_delivered == 4


async def test_a_held_event_is_not_sampled() -> None:
    metrics = Metrics()
    sink = Sink()
    conn = Connection(sink, connection_id="c", send_queue_max=16, metrics=metrics)
    conn.hold()
    held = event(1)
    conn.push_event(*held)
    conn.probe(held[0], 0.0)
    conn.release()
    await settle()
    assert len(sink.sent) == 1
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 0


async def test_sheds_and_slow_consumers_are_counted_once() -> None:
    metrics = Metrics()
    sink = Sink()
    sink.open.clear()  # the client stopped reading
    conn = Connection(sink, connection_id="c", send_queue_max=4, metrics=metrics)
    conn.push_event(*event(0))  # taken by the writer, stuck in send
    await settle()
    for n in range(1, 5):
        conn.push_event(*event(n), ephemeral=(n == 2))
    conn.push_event(*event(5))  # sheds the ephemeral one
    assert sample(metrics, "tsudoi_send_queue_dropped_total") == 1
    conn.push_event(*event(6))  # nothing left to shed: closed
    conn.push_event(*event(7))
    conn.close(CloseCode.SLOW_CONSUMER)
    await asyncio.wait_for(conn.closed.wait(), 1)
    assert conn.close_code == CloseCode.SLOW_CONSUMER
    assert sample(metrics, "tsudoi_slow_consumers_closed_total") == 1


async def test_a_priority_event_waiting_in_its_lane_is_timed_when_sent() -> None:
    metrics = Metrics()
    writer = FakeFastWriter()
    conn = Connection(Sink(), connection_id="c", send_queue_max=16, fast_writer=writer, metrics=metrics)  # type: ignore[arg-type]
    writer.open.clear()  # the transport pauses: both events wait, the priority one in its lane
    conn.push_event(*event(1))
    urgent = event(2)
    conn.push_event(*urgent, priority=True)
    conn.probe(urgent[0], 0.0, priority=True)
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count") == 0  # not sent yet
    writer.open.set()
    await settle()
    assert [f["seq"] for f in writer.written] == [1, 2] and writer.written[0]["pos"] == pos(2)
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count", kind="priority") == 1
    assert sample(metrics, "tsudoi_fanout_latency_seconds_count", kind="ordinary") == 0
