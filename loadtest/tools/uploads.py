"""Pictures under load (issue 16): do fifty concurrent uploads stall delivery, and how fast do
uploads go through a real server?

Starts a seeded ``tsudoi serve`` (its default picture pool: 2 workers, 48 waiting), connects
``--followers`` WebSocket clients that all follow one author, and has the author post
``--rate`` times a second throughout. Two phases, each measured on its own:

1. **quiet**: ``--quiet`` seconds of posting alone;
2. **uploading**: the same posting while ``--uploads`` uploads (50) are sent at once over HTTP
   (``POST /api/media``, through the SDK's ``upload_media``, each from an account of its own, as
   fifty people would; no retries, so a ``busy`` refusal is counted, not hidden), until the last
   answer comes. The uploads are sent by a process of their own, so that pushing 150 MB through
   HTTP does not slow the followers' event loop and pass for the server's delay.

For each phase: post fan-out latency from the author's send to each follower's event (client
side, nearest rank) and the server's own ``tsudoi_fanout_latency_seconds``; the event loop's
lag (``tsudoi_event_loop_lag_seconds``: how late a task sleeping 100 ms wakes, estimated from the
histogram's buckets as Prometheus does); posts lost by any follower; and the lag of this load
generator's own loop (a task asking to wake every 10 ms), which the client-side latency includes. For the uploads: how many
were stored or refused (by code), uploads/s over the wave, latency p50/p99/max, and the server's
``tsudoi_image_processing_seconds``.

Photos are ``--megapixels`` (12) JPEGs at quality 90 made by ``loadtest/tools/images.py``
(gradients, blurred shapes, sensor-like noise: 3 MB at 12 MP, like a phone's), ``--photos``
distinct ones used in turn, cached in ``--cache`` so that later runs skip making them. Nothing is
pinned: the server, its pool and this load generator share the machine's cores, as on a small
node.

    .venv/bin/python -m loadtest.tools.uploads [--followers 100] [--uploads 50] [--rate 5] [--out r.json]

Figures are recorded in BENCHMARKS.md ("Pictures: uploads under load").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson

from protocol.sdk import RequestError, SdkError, upload_media

from ..client import LoadClient
from ..local import LocalServer
from ..report import percentiles
from ..scrape import Samples, _grown, _latency_ms, scrape
from .images import photo

#: Each uploader is its own account; lift the per-user upload budget anyway (the harness is one
#: address, and the budget is not what is measured).
UPLOAD_ENV = {"TSUDOI_UPLOAD_BURST": "1000000"}
#: After the last post of a phase, how long followers get to receive it before the phase ends.
SETTLE_S = 1.0
#: Uploads before measuring, at once: as many as the server's picture workers (2 by default).
WARM_UP = 2
#: How often the load generator's own loop is asked to wake, to see how late it does.
TICK_S = 0.01


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tsudoi-loadtest" / "photos"


def photos(count: int, megapixels: float, cache: Path) -> list[Path]:
    """``count`` distinct photos of about ``megapixels`` (4:3), made once and kept in ``cache``."""
    width = max(8, round(math.sqrt(megapixels * 1_000_000 * 4 / 3)))
    size = (width, width * 3 // 4)
    cache.mkdir(parents=True, exist_ok=True)
    made = []
    for seed in range(1, count + 1):
        path = cache / f"photo-{size[0]}x{size[1]}-q90-{seed}.jpg"
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_bytes(photo(seed, size=size))
            partial.replace(path)  # a run stopped halfway leaves no half photo
        made.append(path)
    return made


class LoopLag:
    """How late this process's event loop wakes a task that sleeps ``TICK_S``: (when, ms late)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(TICK_S)
            woke = time.monotonic()
            self.samples.append((woke, (woke - asked - TICK_S) * 1000))

    def between(self, start: float, end: float) -> dict[str, float | None]:
        return percentiles([lag for at, lag in self.samples if start <= at <= end])


class Posting:
    """The author posting at a steady rate; when each post was sent, by id."""

    def __init__(self, author: LoadClient, rate: float) -> None:
        self.author, self.interval = author, 1 / rate
        self.sent: dict[str, float] = {}
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def _post(self, n: int) -> None:
        started = time.time()
        try:
            answer = await self.author.request("post.create", text=f"load {n}")
        except ConnectionError:
            self.failed += 1
            return
        if answer.get("op") == "ok":
            self.sent[answer["data"]["post"]["id"]] = started
        else:
            self.failed += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Post every ``interval`` (by the clock, not after each answer: a stalled server is
        sent the next post on time) until ``stop``, then wait for the answers."""
        start, n = time.monotonic(), 0
        while not stop.is_set():
            task = asyncio.create_task(self._post(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
            delay = start + n * self.interval - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        if self._tasks:
            await asyncio.gather(*self._tasks)


def delivery(followers: list[LoadClient], sent: dict[str, float], began: float) -> dict[str, Any]:
    """Fan-out latency (ms, from the send) of the posts in ``sent`` over every follower, how
    many (follower, post) pairs never arrived, and the slowest posts: (seconds into the phase
    it was sent, its slowest delivery in ms), to see whether delay is spread or bunched."""
    latencies: list[float] = []
    slowest: dict[str, float] = {}
    lost = 0
    for follower in followers:
        got = {post_id: at for post_id, at in follower.received if post_id in sent}
        lost += len(sent) - len(got)
        for post_id, at in got.items():
            ms = (at - sent[post_id]) * 1000
            latencies.append(ms)
            slowest[post_id] = max(slowest.get(post_id, ms), ms)
    worst = sorted(slowest.items(), key=lambda item: -item[1])[:5]
    return {
        "posts": len(sent),
        "deliveries": len(latencies),
        "lost": lost,
        "ms": percentiles(latencies),
        "slowest_posts": [(round(sent[post_id] - began, 2), round(ms, 1)) for post_id, ms in worst],
    }


def slow_storage(start: Samples, end: Samples, over_ms: float = 50.0) -> dict[str, Any]:
    """Storage calls whose p99 over the phase passed ``over_ms``, by op: where a stall came from."""
    ops = {
        dict(labels).get("op", "") for name, labels in end if name == "tsudoi_storage_latency_seconds_count"
    }
    slow = {}
    for op in sorted(ops):
        figures = _latency_ms(start, end, "tsudoi_storage_latency_seconds", op=op)
        if figures["count"] and (figures["p99"] or 0) > over_ms:
            slow[op] = figures
    return slow


def server_view(start: Samples, end: Samples) -> dict[str, Any]:
    return {
        "slow_storage_ms": slow_storage(start, end),
        "loop_lag_ms": _latency_ms(start, end, "tsudoi_event_loop_lag_seconds"),
        "fanout_ms": _latency_ms(start, end, "tsudoi_fanout_latency_seconds", kind="ordinary"),
        "post_create_ms": _latency_ms(start, end, "tsudoi_request_latency_seconds", op="post.create"),
        "image_processing_ms": _latency_ms(start, end, "tsudoi_image_processing_seconds"),
        "uploads": _grown(start, end, "tsudoi_uploads_total", "outcome"),
    }


async def phase(
    server: LocalServer,
    author: LoadClient,
    followers: list[LoadClient],
    rate: float,
    work: Callable[[], Awaitable[dict[str, Any]]] | None,
    seconds: float,
    lag: LoopLag,
) -> dict[str, Any]:
    """Post at ``rate`` for ``seconds``, or, given ``work``, until it is done (its result is
    the phase's ``work``)."""
    start = await asyncio.to_thread(scrape, server.url)
    posting, stop = Posting(author, rate), asyncio.Event()
    poster = asyncio.create_task(posting.run(stop))
    began, began_wall = time.monotonic(), time.time()
    done: dict[str, Any] | None = None
    if work is None:
        await asyncio.sleep(seconds)
    else:
        done = await work()
    elapsed = time.monotonic() - began
    stop.set()
    await poster
    await asyncio.sleep(SETTLE_S)
    end = await asyncio.to_thread(scrape, server.url)
    return {
        "seconds": elapsed,
        "generator_loop_lag_ms": lag.between(began, began + elapsed),
        "post_failures": posting.failed,
        "fanout": delivery(followers, posting.sent, began_wall),
        "load_average": os.getloadavg()[0],
        "server": server_view(start, end),
        **({"uploads": done} if done is not None else {}),
    }


async def upload_wave(url: str, tokens: list[str], pictures: list[bytes]) -> dict[str, Any]:
    """Every token uploads one picture, all at once; latency and outcome of each."""
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:

        async def one(n: int, token: str) -> None:
            started = time.monotonic()
            try:
                await upload_media(url, token, pictures[n % len(pictures)], http=http)
                outcome = "stored"
            except RequestError as refused:
                outcome = refused.wire_code
            except (SdkError, httpx.HTTPError) as failed:
                outcome = type(failed).__name__
            latencies.append((time.monotonic() - started) * 1000)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(one(n, token) for n, token in enumerate(tokens)))
        wall = time.monotonic() - began
    stored = outcomes.get("stored", 0)
    sent_bytes = sum(len(pictures[n % len(pictures)]) for n in range(len(tokens)))
    return {
        "uploads": len(tokens),
        "outcomes": outcomes,
        "wall_s": wall,
        "stored_per_s": stored / wall if wall else None,
        "megabytes_per_s": sent_bytes / 1e6 / wall if wall else None,
        "ms": percentiles(latencies),
    }


def _uploader(conn: Connection, url: str, tokens: list[str], paths: list[Path]) -> None:
    """The uploading process: read the photos, say so, wait for "go", send the wave's result."""
    pictures = [path.read_bytes() for path in paths]
    conn.send("ready")
    if conn.recv() == "go":
        conn.send(asyncio.run(upload_wave(url, tokens, pictures)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pictures = await asyncio.to_thread(photos, args.photos, args.megapixels, args.cache)
    server = LocalServer(env=UPLOAD_ENV)
    followers: list[LoadClient] = []
    author: LoadClient | None = None
    uploader: multiprocessing.process.BaseProcess | None = None
    lag = LoopLag()
    ticker = asyncio.create_task(lag.run())
    loop = asyncio.get_running_loop()
    try:
        seeded = await asyncio.to_thread(server.seed, 1 + args.followers + args.uploads, star=True)
        accounts = seeded["accounts"]
        await asyncio.to_thread(server.start)
        author = await LoadClient.open(server.ws_url, accounts[0]["token"], record=False)
        for account in accounts[1 : 1 + args.followers]:
            followers.append(await LoadClient.open(server.ws_url, account["token"]))
        uploaders = [account["token"] for account in accounts[1 + args.followers :]]
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        uploader = multiprocessing.get_context("spawn").Process(
            target=_uploader, args=(theirs, server.url, uploaders, pictures)
        )
        uploader.start()
        await loop.run_in_executor(None, ours.recv)  # "ready": the photos are in its memory

        async def wave() -> dict[str, Any]:
            ours.send("go")
            result: dict[str, Any] = await loop.run_in_executor(None, ours.recv)
            return result

        # Warm the picture pool up first: its processes start with the first jobs, and a node that
        # has been up for a while does not pay for that under load.
        warm = await upload_wave(server.url, [accounts[0]["token"]] * WARM_UP, [pictures[0].read_bytes()])
        if warm["outcomes"] != {"stored": WARM_UP}:
            raise RuntimeError(f"warming the picture pool up failed: {warm['outcomes']}")
        reniced = 0
        if args.nice_workers:  # an experiment: the pool's processes yield the CPU to the loop
            for pid in server.pids()[1:]:
                os.setpriority(os.PRIO_PROCESS, pid, args.nice_workers)
                reniced += 1
        load_before = os.getloadavg()
        quiet = await phase(server, author, followers, args.rate, None, args.quiet, lag)
        uploading = await phase(server, author, followers, args.rate, wave, 0, lag)
        return {
            "followers": args.followers,
            "rate": args.rate,
            "photos": {
                "count": len(pictures),
                "megapixels": args.megapixels,
                "mean_bytes": sum(path.stat().st_size for path in pictures) // len(pictures),
            },
            "load_average_before": load_before,
            "nice_workers": args.nice_workers,
            "reniced_processes": reniced,
            "quiet": quiet,
            "uploading": uploading,
            "server_log_tail": server.log_tail(5),
        }
    finally:
        ticker.cancel()
        for client in [*followers, *([author] if author else [])]:
            await client.close()
        if uploader is not None:
            uploader.join(5)
            if uploader.is_alive():
                uploader.kill()
                uploader.join()
        await asyncio.to_thread(server.close)


def _ms(figures: dict[str, Any], keys: tuple[str, ...] = ("p50", "p99", "max")) -> str:
    shown = [f"{key} {figures[key]:.1f}" for key in keys if figures.get(key) is not None]
    return "  ".join(shown) + " ms" if shown else "—"


def report(result: dict[str, Any]) -> str:
    photos_ = result["photos"]
    lines = [
        f"{result['followers']} followers, {result['rate']:g} posts/s; photos {photos_['megapixels']:g} MP, "
        f"{photos_['mean_bytes'] / 1e6:.1f} MB on average, {photos_['count']} distinct; "
        f"load average before {result['load_average_before'][0]:.1f}"
        + (
            f"; pool at nice {result['nice_workers']} ({result['reniced_processes']} processes)"
            if result["nice_workers"]
            else ""
        )
    ]
    for name in ("quiet", "uploading"):
        figures = result[name]
        fanout, server = figures["fanout"], figures["server"]
        lines.append(
            f"  {name:9} {figures['seconds']:.1f} s, {fanout['posts']} posts, {fanout['deliveries']:,} deliveries, "
            f"lost {fanout['lost']}, post failures {figures['post_failures']}; load average {figures['load_average']:.1f}"
        )
        lines.append(f"    fan-out (client, from send)   {_ms(fanout['ms'])}")
        lines.append(f"    fan-out (server histogram)    {_ms(server['fanout_ms'], ('p50', 'p99'))}")
        lines.append(f"    post.create (server)          {_ms(server['post_create_ms'], ('p50', 'p99'))}")
        slowest = ", ".join(f"+{at:g} s: {ms:,.0f}" for at, ms in fanout["slowest_posts"])
        lines.append(f"    slowest posts (sent at: ms)   {slowest}")
        lines.append(f"    event-loop lag (server)       {_ms(server['loop_lag_ms'], ('p50', 'p99'))}")
        slow = ", ".join(f"{op} {f['p99']:.0f}" for op, f in server["slow_storage_ms"].items()) or "none"
        lines.append(f"    storage p99 over 50 ms        {slow}")
        lines.append(f"    load generator's loop lag     {_ms(figures['generator_loop_lag_ms'])}")
    uploads = result["uploading"]["uploads"]
    server = result["uploading"]["server"]
    outcomes = ", ".join(f"{code} {count}" for code, count in sorted(uploads["outcomes"].items()))
    lines.append(
        f"  uploads   {uploads['uploads']} at once: {outcomes}; {uploads['wall_s']:.1f} s, "
        f"{uploads['stored_per_s']:.2f} stored/s, {uploads['megabytes_per_s']:.1f} MB/s in"
    )
    lines.append(f"    upload latency (client)       {_ms(uploads['ms'])}")
    lines.append(f"    image processing (server)     {_ms(server['image_processing_ms'], ('p50', 'p99'))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.uploads", description=__doc__)
    parser.add_argument("--followers", type=int, default=100, help="WebSocket followers of the author")
    parser.add_argument("--uploads", type=int, default=50, help="uploads sent at once")
    parser.add_argument("--rate", type=float, default=5.0, help="the author's posts per second")
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of posting without uploads")
    parser.add_argument("--megapixels", type=float, default=12.0, help="size of each photo")
    parser.add_argument("--photos", type=int, default=6, help="distinct photos, uploaded in turn")
    parser.add_argument("--cache", type=Path, default=cache_folder(), help="where photos are kept")
    parser.add_argument(
        "--nice-workers",
        type=int,
        default=0,
        help="experiment: raise the niceness of the server's child processes (its picture pool) by this",
    )
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    for name in ("followers", "uploads", "photos"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 0 <= args.nice_workers <= 19:
        parser.error("--nice-workers is 0 to 19")
    if args.rate <= 0 or args.quiet <= 0 or args.megapixels <= 0:
        parser.error("--rate, --quiet and --megapixels must be positive")
    # SIGTERM ends the run as Ctrl-C does, through the clean-up that stops the server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    result = asyncio.run(run(args))
    print(report(result))
    if args.out:
        args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
