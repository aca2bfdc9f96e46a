"""Micro-benchmark of the fan-out hot path: one event to N in-memory connections.

    .venv/bin/python scripts/bench_fanout.py [--connections 5000] [--rounds 400] [--fast-writer]

Two figures:

- ``deliver``: ``Hub.deliver`` alone (look the channel up, append the same bytes to every
  connection's queue), timed per call; queues are emptied between calls, outside the timing.
- ``end-to-end``: ``Bus.publish`` until every connection (its writer, started when frames wait) has handed every frame to a
  fake sink (no sockets), so the writer's share of the work is counted too.

``--fast-writer`` gives every connection a fake fast writer (``server/gateway/fastwrite.py``), so frames
to idle connections are written from the fan-out loop itself, as under ``tsudoi serve``.

Times are the process's CPU time (the benchmark is one thread), which other load on the machine
disturbs less than wall-clock time. It runs against whatever ``server`` package is importable, so
a baseline can be taken from an export of another commit::

    git archive HEAD server protocol | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base .venv/bin/python scripts/bench_fanout.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import statistics
import time
from typing import Any

from protocol.codec import event_tail
from protocol.messages import PostDeletedEvent
from server import channels
from server.bus.local import LocalBus
from server.gateway.connection import Connection
from server.gateway.hub import Hub

CHANNEL = channels.posts("A" * 26)


class Tally:
    """Frames handed to every sink together; ``reached`` is set once ``target`` are in."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()


class FastWriter:
    """A transport that always takes the frame at once (``FastWriter``'s interface)."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def ready(self) -> bool:
        return True

    def write(self, frame: bytes) -> None:
        tally = self.tally
        tally.count += 1
        if tally.count == tally.target:
            tally.reached.set()

    async def writable(self) -> None:
        return None


class Sink:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def send_text(self, data: str) -> None:
        tally = self.tally
        tally.count += 1
        if tally.count == tally.target:
            tally.reached.set()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


def instrumented() -> dict[str, Any]:
    """``metrics=`` for the hub and connections, when this version of the server has metrics."""
    if "metrics" not in inspect.signature(Hub).parameters:
        return {}
    from server.metrics import Metrics

    return {"metrics": Metrics()}


def payload(n: int) -> bytes:
    pos = f"{n:026d}"
    return channels.envelope(
        event_tail(PostDeletedEvent(post_id=pos, author_id="A" * 26, community_id=None), pos), pos
    )


async def node(count: int, queue_max: int, fast: bool) -> tuple[LocalBus, Hub, list[Connection], Tally]:
    extra = instrumented()
    bus = LocalBus()
    hub = Hub(bus, **extra)
    tally = Tally()
    sinks = [Sink(tally) for _ in range(count)]
    conns = []
    for index, sink in enumerate(sinks):
        writer = {"fast_writer": FastWriter(tally)} if fast else {}
        conn = Connection(sink, connection_id=f"c{index}", send_queue_max=queue_max, **writer, **extra)
        conn.user_id = f"u{index}"
        await hub.attach(conn, [CHANNEL])
        conns.append(conn)
    return bus, hub, conns, tally


async def deliver_only(count: int, rounds: int, fast: bool) -> list[float]:
    _, hub, conns, _ = await node(count, queue_max=512, fast=fast)
    payloads = [payload(n) for n in range(rounds)]
    times = []
    gc.collect()
    gc.disable()  # a collection landing in one call would swamp what is measured
    try:
        for data in payloads:
            started = time.process_time()
            hub.deliver(CHANNEL, data)
            times.append(time.process_time() - started)
            for conn in conns:
                if conn._queue:
                    conn._queue.clear()
    finally:
        gc.enable()
    return times


async def end_to_end(count: int, rounds: int, fast: bool, batch: int = 50) -> list[float]:
    bus, _, conns, tally = await node(count, queue_max=512, fast=fast)
    times = []
    gc.collect()
    for first in range(0, rounds, batch):
        tally.target += batch * count
        tally.reached.clear()
        started = time.process_time()
        for n in range(first, first + batch):
            bus.publish(CHANNEL, payload(n))
        await tally.reached.wait()
        times.append((time.process_time() - started) / batch)
    await asyncio.gather(*(conn.finish(grace_s=0) for conn in conns))  # connections run their own writers
    return times


def report(name: str, count: int, times: list[float]) -> None:
    median = statistics.median(times)
    print(
        f"{name:>10}: median {median * 1e3:8.3f} ms per event of CPU "
        f"({median / count * 1e9:6.1f} ns per recipient), best {min(times) * 1e3:8.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--fast-writer", action="store_true", help="write idle connections' frames at once")
    args = parser.parse_args()
    if args.fast_writer and "fast_writer" not in inspect.signature(Connection).parameters:
        parser.error("this version of the server has no fast writer")
    label = "with metrics" if instrumented() else "without metrics"
    path = "fast writes" if args.fast_writer else "writer tasks"
    print(f"{args.connections} connections, {args.rounds} events, {path}, {label}")
    count, rounds, fast = args.connections, args.rounds, args.fast_writer
    report("deliver", count, asyncio.run(deliver_only(count, rounds, fast)))
    report("end-to-end", count, asyncio.run(end_to_end(count, rounds, fast)))


if __name__ == "__main__":
    main()
