"""The scenarios. Each sets up accounts, opens the connections in worker processes, drives the
load, and returns one result dict (see ``report.py`` for the figures)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from . import workers
from .client import LoadClient
from .local import LocalServer
from .report import deliveries, machine, percentiles


@dataclass(frozen=True)
class FanoutOptions:
    followers: int
    rate: float  # posts per second
    duration: float  # seconds of posting
    workers: int = 0  # generator processes; 0: one per core not given to the server
    server_workers: int = 1
    redis_url: str = ""
    drain: float = 10.0  # seconds to wait for the last deliveries
    ceiling: bool = False  # measure the bare-websockets ceiling server instead
    storm: bool = False  # halfway through, every follower drops and reconnects at once


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """Server on the first core, the generator on the others, when the machine allows it."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


class Progress:
    """Prints rates once a second while the load runs."""

    def __init__(self, pipes: list[Connection]) -> None:
        self.pipes = pipes
        self.received = [0] * len(pipes)
        self.started = time.monotonic()
        self.paused = False

    def poll(self) -> int:
        if self.paused:
            return sum(self.received)
        for index, pipe in enumerate(self.pipes):
            while pipe.poll():
                kind, value = pipe.recv()
                if kind == "progress":
                    self.received[index] = value
        return sum(self.received)

    async def run(self, sent: list[int]) -> None:
        last = 0
        while True:
            await asyncio.sleep(1)
            total = self.poll()
            elapsed = time.monotonic() - self.started
            print(
                f"  t={elapsed:5.1f}s  posts={sent[0]:6d}  delivered={total:9d}  ({total - last:7d}/s)",
                flush=True,
            )
            last = total


async def _storm(pipes: list[Connection], progress: Progress) -> list[dict[str, Any]]:
    """Tell every worker to reconnect all its clients at once; wait for their reports."""
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        pipe.send(("storm",))

    def wait(pipe: Connection) -> dict[str, Any]:
        while True:
            kind, value = pipe.recv()
            if kind == "stormed":
                return dict(value)

    progress.paused = True  # the reports come through the same pipes
    try:
        return list(await asyncio.gather(*(loop.run_in_executor(None, wait, pipe) for pipe in pipes)))
    finally:
        progress.paused = False


async def fanout(options: FanoutOptions) -> dict[str, Any]:
    """One author, N followers online; the author posts at a fixed rate."""
    server_cores, generator_cores = _cores()
    env = {"TSUDOI_REDIS_URL": options.redis_url} if options.redis_url else {}
    server = LocalServer(workers=options.server_workers, env=env, ceiling=options.ceiling)
    seeded = server.seed(options.followers + 1, star=True)
    author, followers = seeded["accounts"][0], seeded["accounts"][1:]
    server.start(server_cores)
    count = options.workers or max(1, len(generator_cores or {0}))
    processes = [workers.start(generator_cores) for _ in range(count)]
    try:
        began = time.monotonic()
        for index, (_, pipe) in enumerate(processes):
            pipe.send(("connect", server.ws_url, [a["token"] for a in followers[index::count]]))
        ready = [pipe.recv()[1] for _, pipe in processes]
        connect_s = time.monotonic() - began
        connected = sum(r["connected"] for r in ready)
        handshakes = [d for r in ready for d in r["handshake_s"]]
        print(f"  {connected} followers connected in {connect_s:.1f}s", flush=True)

        writer = await LoadClient.open(server.ws_url, author["token"], record=False)
        cpu_before, _ = server.usage()
        ok_times: dict[str, float] = {}
        sent = [0]
        progress = Progress([pipe for _, pipe in processes])
        ticker = asyncio.create_task(progress.run(sent))
        start = time.monotonic()

        async def post(n: int) -> None:
            frame = await writer.request("post.create", text=f"load {n}")
            if frame["op"] == "ok":
                ok_times[frame["data"]["post"]["id"]] = time.time()

        posting = []
        total = int(options.rate * options.duration)
        storm: asyncio.Task[list[dict[str, Any]]] | None = None
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / options.rate - time.monotonic()))
            posting.append(asyncio.create_task(post(n)))
            sent[0] += 1
            if options.storm and n == total // 2:
                print("  every follower drops and reconnects now", flush=True)
                storm = asyncio.create_task(_storm([pipe for _, pipe in processes], progress))  # noqa: RUF006 (awaited below)
        await asyncio.gather(*posting)
        stormed = await storm if storm is not None else None
        expected = len(ok_times) * connected
        deadline = time.monotonic() + options.drain
        while progress.poll() < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ticker.cancel()
        elapsed = time.monotonic() - start
        cpu_after, rss = server.usage()
        await writer.close()
        for _, pipe in processes:
            pipe.send(("collect",))
        results = []
        for _, pipe in processes:
            while True:
                kind, value = pipe.recv()
                if kind == "result":
                    results.append(value)
                    break
    finally:
        for process, _ in processes:
            process.join(10)
        server.stop()

    outcome = deliveries(ok_times, results, {post_id: connected for post_id in ok_times})
    cpu = cpu_after - cpu_before
    storm_report = None
    if stormed is not None:
        storm_report = {
            "seconds": max(s["seconds"] for s in stormed),
            "resumed": sum(s["resumed"] for s in stormed),
            "failed": {k: v for s in stormed for k, v in s["failed"].items()},
        }
    return {
        "scenario": "reconnect-storm"
        if options.storm
        else ("fanout-ceiling" if options.ceiling else "fanout"),
        "storm": storm_report,
        "options": asdict(options),
        "machine": machine(),
        "connections": {
            "established": connected,
            "failed": {k: v for r in ready for k, v in r["failed"].items()},
            "connect_seconds": connect_s,
            "handshakes_per_second": connected / connect_s if connect_s else None,
            "handshake_ms": {
                k: (v * 1000 if v is not None else None) for k, v in percentiles(handshakes).items()
            },
        },
        "posts": len(ok_times),
        "seconds": elapsed,
        "delivered_per_second": outcome["delivered"] / elapsed if elapsed else None,
        **outcome,
        "server": {
            "cpu_seconds": cpu,
            "rss_bytes": rss,
            "cpu_us_per_delivered_frame": cpu / outcome["delivered"] * 1e6 if outcome["delivered"] else None,
            "pinned": server_cores is not None,
        },
    }
