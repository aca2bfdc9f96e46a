"""Worker processes: each holds a share of the connections and records what they receive.

The coordinator talks to a worker over a pipe:

    → ("connect", ws_url, [(index, token), ...])
                                    ← ("ready", {"connected", "indexes", "failed", "handshake_s"})
    (every second)                  ← ("progress", events received so far)
    → ("post", index, text)         (account ``index`` posts; no answer)
    → ("safety", index)             (account ``index`` says it is safe, to its followers; no answer)
    → ("join", community id)        ← ("joined", {"joined": how many of this worker's accounts})
    → ("posted",)                   ← ("posted", {"ok_times": {post id: time}, "authors": {post id: index},
                                                  "statuses": {author id: (sent, ok, index)}, ...})
    → ("storm",)                    ← ("stormed", {"seconds", "cpu_seconds", "resumed", "failed"})
    → ("collect",)                  ← ("result", {"first_receipts", "safety_receipts", "duplicates", ...})

Workers are separate processes so the load generator can use every core it is given.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from .client import LoadClient

CONNECT_CONCURRENCY = 200
#: Handshakes one generator process keeps in flight during a storm. Each costs this process
#: about a millisecond of its one core between the TCP connect and ``ready``; with every
#: client's connect started at once, a slow core would leave the server's sockets waiting
#: seconds for request bytes the generator has not yet sent, and the server closes a socket
#: whose headers are not in within its ``header_timeout_ms`` (5 s). Real phones each have a core
#: of their own. 1,000 is about what a node's admission holds at once (its measured rate of
#: 500–800 handshakes a second, times 2 s), so the node never runs short of handshakes to do.
STORM_IN_FLIGHT = 1_000


def start(cores: set[int] | None) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_main, args=(child, cores), daemon=True)
    process.start()
    return process, parent


def _main(pipe: Connection, cores: set[int] | None) -> None:
    # Ctrl-C reaches the terminal's whole process group: the coordinator decides, and stops the
    # workers itself (a traceback from each would bury its message).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    # The cyclic collector at CPython's defaults walked every client's objects again and again:
    # 13 full collections in one 10,000 storm run, up to 0.6 s each, collecting nothing (a
    # gc.callbacks probe, BENCHMARKS.md). The node's own thresholds (server/cli.py) here too.
    gc.set_threshold(10_000, 10, 10)
    asyncio.run(_serve(pipe))


async def _serve(pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    by_index: dict[int, LoadClient] = {}
    clients: list[LoadClient] = []
    progress: asyncio.Task[None] | None = None
    posts: list[asyncio.Task[None]] = []
    ok_times: dict[str, float] = {}
    sent_times: dict[str, float] = {}
    authors: dict[str, int] = {}
    #: Safety statuses set, by author id: (sent, ok, author index).
    statuses: dict[str, tuple[float, float, int]] = {}
    storms: list[asyncio.Task[None]] = []

    async def safety(index: int) -> None:
        client = by_index.get(index)
        if client is None:
            return
        began = time.time()
        try:
            frame = await client.request("safety.set", state="safe", note="無事です", audience="followers")
        except ConnectionError:
            return
        if frame["op"] == "ok":
            statuses[frame["data"]["status"]["user"]["id"]] = (began, time.time(), index)

    async def join(community_id: str) -> int:
        joined = 0
        for client in clients:
            frame = await client.request("community.join", community_id=community_id)
            joined += frame["op"] == "ok"
        return joined

    async def post(index: int, text: str) -> None:
        client = by_index.get(index)
        if client is None:
            return
        began = time.time()
        try:
            frame = await client.request("post.create", text=text)
        except ConnectionError:
            return
        if frame["op"] == "ok":
            post_id = frame["data"]["post"]["id"]
            ok_times[post_id], sent_times[post_id], authors[post_id] = time.time(), began, index

    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "connect":
            _, ws_url, accounts = command
            by_index, report = await _connect(ws_url, accounts)
            clients = list(by_index.values())
            # What the connections hold for the run's length, out of every later collection's way.
            gc.freeze()
            pipe.send(("ready", report))
            progress = asyncio.create_task(_progress(pipe, clients))
        elif command[0] == "post":
            posts.append(asyncio.create_task(post(command[1], command[2])))
        elif command[0] == "safety":
            posts.append(asyncio.create_task(safety(command[1])))
        elif command[0] == "join":
            pipe.send(("joined", {"joined": await join(command[1])}))
        elif command[0] == "posted":
            await asyncio.gather(*posts)
            posted = {
                "ok_times": ok_times,
                "sent_times": sent_times,
                "authors": authors,
                "statuses": statuses,
            }
            pipe.send(("posted", posted))
        elif command[0] == "storm":
            # In the background: the worker keeps taking commands (posts, statuses) meanwhile,
            # as real clients keep acting while others reconnect.
            storms.append(asyncio.create_task(_storm_and_report(pipe, clients)))
        elif command[0] == "collect":
            if progress is not None:
                progress.cancel()
            pipe.send(("result", _collect(clients)))
            for client in clients:
                await client.close()
            return


async def _connect(
    ws_url: str, accounts: list[tuple[int, str]]
) -> tuple[dict[int, LoadClient], dict[str, Any]]:
    slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
    durations: list[float] = []
    failures: dict[str, int] = {}

    async def one(token: str) -> LoadClient | None:
        async with slots:
            began = time.monotonic()
            try:
                client = await LoadClient.open(ws_url, token)
            except Exception as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return None
            durations.append(time.monotonic() - began)
            return client

    opened = await asyncio.gather(*(one(token) for _, token in accounts))
    clients = {
        index: client for (index, _), client in zip(accounts, opened, strict=True) if client is not None
    }
    report = {
        "connected": len(clients),
        "indexes": sorted(clients),
        "failed": failures,
        "handshake_s": durations,
    }
    return clients, report


async def _storm_and_report(pipe: Connection, clients: list[LoadClient]) -> None:
    pipe.send(("stormed", await _storm(clients)))


async def _storm(clients: list[LoadClient]) -> dict[str, Any]:
    """Every connection drops and comes back with its cursor, all at once. The report has the
    CPU time this process spent meanwhile: near the storm's seconds, the generator bounded it."""
    began, cpu = time.monotonic(), time.process_time()
    slots = asyncio.Semaphore(STORM_IN_FLIGHT)
    outcomes = await asyncio.gather(*(client.reconnect(slots) for client in clients), return_exceptions=True)
    failed: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            failed[type(outcome).__name__] = failed.get(type(outcome).__name__, 0) + 1
    return {
        "seconds": time.monotonic() - began,
        "cpu_seconds": time.process_time() - cpu,
        "resumed": sum(1 for c, o in zip(clients, outcomes, strict=True) if o is None and c.recovered),
        "failed": failed,
    }


async def _progress(pipe: Connection, clients: list[LoadClient]) -> None:
    while True:
        await asyncio.sleep(1)
        pipe.send(("progress", sum(len(client.received) for client in clients)))


def _collect(clients: list[LoadClient]) -> dict[str, Any]:
    first: dict[str, list[float]] = {}
    safety: dict[str, list[float]] = {}
    announcements: dict[str, list[float]] = {}
    safety_ready: dict[str, list[float]] = {}
    announcements_ready: dict[str, list[float]] = {}
    duplicates = 0
    errors: dict[str, int] = {}
    closes: dict[str, int] = {}
    for client in clients:
        seen: set[str] = set()
        for post_id, at in client.received:
            if post_id in seen:
                duplicates += 1
                continue
            seen.add(post_id)
            first.setdefault(post_id, []).append(at)
        for post_id, at, ready in client.announcements:
            announcements.setdefault(post_id, []).append(at)
            announcements_ready.setdefault(post_id, []).append(ready)
        heard: set[str] = set()
        for author, at, ready in client.safety:  # the event and its notification: the first counts
            if author not in heard:
                heard.add(author)
                safety.setdefault(author, []).append(at)
                safety_ready.setdefault(author, []).append(ready)
        for code, count in client.errors.items():
            errors[code] = errors.get(code, 0) + count
        if client.close_code is not None:
            closes[str(client.close_code)] = closes.get(str(client.close_code), 0) + 1
    return {
        "first_receipts": first,
        "safety_receipts": safety,
        "announcement_receipts": announcements,
        # For each receipt above, in the same order: when its connection had had its ``ready``.
        "safety_ready": safety_ready,
        "announcement_ready": announcements_ready,
        "duplicates": duplicates,
        "errors": errors,
        "closes": closes,
    }
