"""The scenarios. Each sets up accounts, opens the connections in worker processes, drives the
load, and returns one result dict (see ``report.py`` for the figures).

- ``fanout``: one author, N followers online; the author posts at a fixed rate. With
  ``storm``, halfway through every follower drops and reconnects at once with its cursor.
- ``chat``: M users on a random follow graph, all online, posting at a fixed total rate.
  ``surge`` is chat at a steady rate, then eight times that (what mixi saw in the first hour
  after the 2011 earthquake).
- ``quake``: chat, then eight times the posts, safety statuses from a third of the users,
  announcements in a certified community, and a reconnect storm of every client: what must
  get through in a disaster, measured separately (statuses, announcements, ordinary posts).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from . import scrape, workers
from .client import LoadClient
from .local import LocalServer
from .report import deliveries, machine, percentiles, series
from .workspace import Workspace


@dataclass(frozen=True)
class Common:
    workers: int = 0  # generator processes; 0: one per core not given to the server
    server_workers: int = 1
    redis_url: str = ""
    redis: bool = False  # start a private redis-server for the run (pinned with the server)
    drain: float = 10.0  # seconds to wait for the last deliveries
    ceiling: bool = False  # measure the bare-websockets ceiling server instead


@dataclass(frozen=True)
class FanoutOptions(Common):
    followers: int = 1000
    rate: float = 2.0  # posts per second
    duration: float = 10.0  # seconds of posting
    storm: bool = False  # halfway through, every follower drops and reconnects at once
    #: Seconds between the last follower connecting and the measured phase: a node's work after
    #: logins (presence, sessions' last use) then falls outside it, as it does for the ceiling.
    settle: float = 0.0


@dataclass(frozen=True)
class ChatOptions(Common):
    users: int = 1000
    degree: int = 20  # each user follows this many others
    rate: float = 20.0  # posts per second, all users together
    duration: float = 10.0  # seconds at that rate
    surge: float = 0.0  # then this many seconds at eight times the rate
    seed: int = 1


SURGE_FACTOR = 8


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """Server on the first core, the generator on the others, when the machine allows it."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


class Run:
    """A seeded server and the worker processes that hold its connections, in ``space``'s
    folder; closing ``space`` stops them, however the run ends."""

    def __init__(self, common: Common, space: Workspace) -> None:
        self.server_cores, self.generator_cores = _cores()
        env = {"TSUDOI_REDIS_URL": common.redis_url} if common.redis_url else {}
        self.server = LocalServer(
            workers=common.server_workers, env=env, ceiling=common.ceiling, folder=space.folder
        )
        self.processes: list[tuple[BaseProcess, Connection]] = []
        #: The workers have sent their results and are ending on their own.
        self.collected = False
        space.on_close(self.close)
        if common.redis:
            self.server.start_redis(self.server_cores)
        self.common = common
        self.received = [0]
        self.paused = False
        self.started = time.monotonic()
        self.cpu_before = 0.0
        #: The server's /metrics before connecting, at the start of the measured phase, at its end.
        self.scrapes: list[scrape.Samples] = []

    @property
    def pipes(self) -> list[Connection]:
        return [pipe for _, pipe in self.processes]

    @property
    def metrics_unavailable(self) -> str | None:
        """Why the server's /metrics is not read in this run, or None."""
        if self.common.ceiling:
            return "the ceiling server has no /metrics"
        if self.common.server_workers > 1:
            return "each worker has its own registry, and a scrape reaches one of them"
        return None

    def _scrape(self) -> None:
        if self.metrics_unavailable is None:
            self.scrapes.append(scrape.scrape(self.server.url))

    def server_metrics(self) -> dict[str, Any]:
        """The server's own figures (see ``scrape.py``), or why there are none."""
        if self.metrics_unavailable is not None:
            return {"unavailable": self.metrics_unavailable}
        return {"source": f"{self.server.url}/metrics", **scrape.figures(*self.scrapes)}

    def connect(self, accounts: list[dict[str, Any]], settle: float = 0.0) -> dict[str, Any]:
        """Start the server and the workers; spread ``accounts`` over them and connect all;
        the measured phase starts ``settle`` seconds after the last is connected."""
        self.server.start(self.server_cores)
        self._scrape()
        count = self.common.workers or max(1, len(self.generator_cores or {0}))
        for _ in range(count):  # one by one, so that close() knows each as soon as it runs
            self.processes.append(workers.start(self.generator_cores))
        self.received = [0] * count
        began = time.monotonic()
        indexed = list(enumerate(a["token"] for a in accounts))
        for index, pipe in enumerate(self.pipes):
            pipe.send(("connect", self.server.ws_url, indexed[index::count]))
        ready = [pipe.recv()[1] for pipe in self.pipes]
        seconds = time.monotonic() - began
        connected = sum(r["connected"] for r in ready)
        print(f"  {connected} connected in {seconds:.1f}s", flush=True)
        if settle:
            print(f"  measuring in {settle:.0f}s", flush=True)
            time.sleep(settle)
        self._scrape()
        self.cpu_before, _ = self.server.usage()
        self.started = time.monotonic()
        return {
            "established": connected,
            "connected_indexes": {i for r in ready for i in r["indexes"]},
            "failed": {k: v for r in ready for k, v in r["failed"].items()},
            "connect_seconds": seconds,
            "handshakes_per_second": connected / seconds if seconds else None,
            "handshake_ms": {
                k: (v * 1000 if v is not None else None)
                for k, v in percentiles([d for r in ready for d in r["handshake_s"]]).items()
            },
        }

    def poll(self) -> int:
        """Events received so far, from the workers' once-a-second reports."""
        if not self.paused:
            for index, pipe in enumerate(self.pipes):
                while pipe.poll():
                    kind, value = pipe.recv()
                    if kind == "progress":
                        self.received[index] = value
        return sum(self.received)

    async def show_progress(self, sent: list[int]) -> None:
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

    async def ask_all(self, command: tuple[Any, ...], answer: str) -> list[dict[str, Any]]:
        """Send a command to every worker and wait for each one's answer of kind ``answer``."""
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            pipe.send(command)

        def wait(pipe: Connection) -> dict[str, Any]:
            while True:
                kind, value = pipe.recv()
                if kind == answer:
                    return dict(value)

        self.paused = True  # the answers come through the pipes the progress reports use
        try:
            return list(
                await asyncio.gather(*(loop.run_in_executor(None, wait, pipe) for pipe in self.pipes))
            )
        finally:
            self.paused = False

    async def finish(self, expected: int) -> tuple[float, list[dict[str, Any]], dict[str, Any]]:
        """Wait for the last deliveries (up to ``drain`` seconds); collect; stop everything."""
        deadline = time.monotonic() + self.common.drain
        while self.poll() < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - self.started
        cpu_after, rss = self.server.usage()
        if self.metrics_unavailable is None:  # after the CPU reading: a scrape costs server time
            self.scrapes.append(await asyncio.to_thread(scrape.scrape, self.server.url))
        results = await self.ask_all(("collect",), "result")
        self.collected = True
        cpu = cpu_after - self.cpu_before
        return (
            elapsed,
            results,
            {"cpu_seconds": cpu, "rss_bytes": rss, "pinned": self.server_cores is not None},
        )

    def close(self) -> None:
        """Stop the workers, then the server. Workers that have sent their results get time to
        close their connections; any other (an interrupted or failed run) is terminated at once.
        Safe to call again."""
        for process, _ in self.processes:
            process.join(10 if self.collected else 0)
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        self.server.stop()


def _report(
    name: str,
    options: Common,
    connections: dict[str, Any],
    ok_times: dict[str, float],
    recipients: dict[str, int],
    results: list[dict[str, Any]],
    elapsed: float,
    server: dict[str, Any],
    started_at: float,
    sent_times: dict[str, float],
    server_metrics: dict[str, Any],
) -> dict[str, Any]:
    outcome = deliveries(ok_times, results, recipients, sent_times)
    delivered = outcome["delivered"]
    server["cpu_us_per_delivered_frame"] = server["cpu_seconds"] / delivered * 1e6 if delivered else None
    connections = {k: v for k, v in connections.items() if k != "connected_indexes"}
    return {
        "scenario": name,
        "options": asdict(options),
        "machine": machine(),
        "connections": connections,
        "posts": len(ok_times),
        "seconds": elapsed,
        "delivered_per_second": delivered / elapsed if elapsed else None,
        **outcome,
        "series": series(ok_times, results, started_at, sent_times),
        "server": server,
        "server_metrics": server_metrics,
    }


async def fanout(options: FanoutOptions, space: Workspace) -> dict[str, Any]:
    """One author, N followers online; the author posts at a fixed rate."""
    run = Run(options, space)
    try:
        seeded = run.server.seed(options.followers + 1, star=True)
        author, followers = seeded["accounts"][0], seeded["accounts"][1:]
        connections = run.connect(followers, options.settle)
        writer = await LoadClient.open(run.server.ws_url, author["token"], record=False)
        ok_times: dict[str, float] = {}
        sent_times: dict[str, float] = {}
        sent = [0]
        ticker = asyncio.create_task(run.show_progress(sent))
        started_at = time.time()

        async def post(n: int) -> None:
            began = time.time()
            frame = await writer.request("post.create", text=f"load {n}")
            if frame["op"] == "ok":
                post_id = frame["data"]["post"]["id"]
                ok_times[post_id], sent_times[post_id] = time.time(), began

        async def storm_now() -> tuple[list[dict[str, Any]], float]:
            """The storm, and the server CPU seconds it took until every client was back."""
            cpu_before, _ = run.server.usage()
            stormed = await run.ask_all(("storm",), "stormed")
            cpu_after, _ = run.server.usage()
            return stormed, cpu_after - cpu_before

        posting = []
        total = int(options.rate * options.duration)
        storm: asyncio.Task[tuple[list[dict[str, Any]], float]] | None = None
        for n in range(total):
            await asyncio.sleep(max(0.0, run.started + n / options.rate - time.monotonic()))
            posting.append(asyncio.create_task(post(n)))
            sent[0] += 1
            if options.storm and n == total // 2:
                print("  every follower drops and reconnects now", flush=True)
                storm = asyncio.create_task(storm_now())
        await asyncio.gather(*posting)
        stormed = await storm if storm is not None else None
        elapsed, results, server = await run.finish(len(ok_times) * connections["established"])
        ticker.cancel()
        await writer.close()
    finally:
        run.close()
    name = "reconnect-storm" if options.storm else ("fanout-ceiling" if options.ceiling else "fanout")
    result = _report(
        name,
        options,
        connections,
        ok_times,
        {post_id: connections["established"] for post_id in ok_times},
        results,
        elapsed,
        server,
        started_at,
        sent_times,
        run.server_metrics(),
    )
    result["storm"] = None
    if stormed is not None:
        by_worker, cpu = stormed
        resumed = sum(s["resumed"] for s in by_worker)
        result["storm"] = {
            "seconds": max(s["seconds"] for s in by_worker),
            "resumed": resumed,
            "failed": {k: v for s in by_worker for k, v in s["failed"].items()},
            # Resuming handshakes, and the posts fanned out meanwhile to those already back.
            "server_cpu_seconds": cpu,
            "server_cpu_ms_per_resume": cpu / resumed * 1000 if resumed else None,
            **_generator_share(by_worker),
        }
    return result


def _generator_share(by_worker: list[dict[str, Any]]) -> dict[str, float]:
    """What the storm cost the load generator: its CPU seconds in all, and the busiest process's
    share of the storm's time. Near 1, the generator set the pace and the storm's seconds say
    more about it than about the server (BENCHMARKS.md, "The storm's generator")."""
    return {
        "generator_cpu_seconds": sum(s["cpu_seconds"] for s in by_worker),
        "generator_busiest": max(s["cpu_seconds"] / s["seconds"] for s in by_worker if s["seconds"]),
    }


async def chat(options: ChatOptions, space: Workspace) -> dict[str, Any]:
    """M users on a random follow graph, all online, posting at a fixed total rate; with
    ``surge``, then eight times that rate for that many seconds."""
    run = Run(options, space)
    try:
        seeded = run.server.seed(options.users, degree=options.degree)
        followers: dict[int, list[int]] = {}
        for follower, followee in seeded["follows"]:
            followers.setdefault(followee, []).append(follower)
        connections = run.connect(seeded["accounts"])
        online = connections["connected_indexes"]
        sent = [0]
        ticker = asyncio.create_task(run.show_progress(sent))
        started_at = time.time()
        rng = random.Random(options.seed)
        count = len(run.pipes)
        phases = [(options.duration, options.rate)]
        if options.surge:
            phases.append((options.surge, options.rate * SURGE_FACTOR))
        at = run.started
        for seconds, rate in phases:
            for _ in range(int(seconds * rate)):
                author = rng.randrange(options.users)
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                run.pipes[author % count].send(("post", author, f"chat {sent[0]}"))
                sent[0] += 1
                at += 1 / rate
        expected_by_author = {
            a: sum(1 for f in followers.get(a, ()) if f in online) + 1 for a in range(options.users)
        }
        # Every post's recipients are known once its id is; the workers report ids with authors.
        posted = await run.ask_all(("posted",), "posted")
        ok_times = {post_id: at for p in posted for post_id, at in p["ok_times"].items()}
        sent_times = {post_id: at for p in posted for post_id, at in p["sent_times"].items()}
        recipients = {post_id: expected_by_author[a] for p in posted for post_id, a in p["authors"].items()}
        elapsed, results, server = await run.finish(sum(recipients.values()))
        ticker.cancel()
    finally:
        run.close()
    name = "surge" if options.surge else "chat"
    result = _report(
        name,
        options,
        connections,
        ok_times,
        recipients,
        results,
        elapsed,
        server,
        started_at,
        sent_times,
        run.server_metrics(),
    )
    result["storm"] = None
    return result


@dataclass(frozen=True)
class QuakeOptions(ChatOptions):
    quake: float = 60.0  # seconds of the quake: posts ×8, statuses, announcements, a storm
    status_share: float = 1 / 3  # the share of users who say they are safe during the quake
    announce_every: float = 5.0  # seconds between a certified community's announcements


async def quake(options: QuakeOptions, space: Workspace) -> dict[str, Any]:
    """Steady chat; then, for ``quake`` seconds, eight times the posts, a safety status from a
    third of the users, announcements in a certified community everyone is in, and a reconnect
    storm of every client a quarter of the way in. Statuses and announcements are priority
    events; ordinary posts may slow. Everything must arrive: a status counts as delivered when
    its ``safety.status`` event or its ``safety`` notification (replayed after the storm) does."""
    run = Run(options, space)
    try:
        seeded = run.server.seed(options.users + 1, degree=options.degree)
        accounts, owner = seeded["accounts"][:-1], seeded["accounts"][-1]
        followers: dict[int, list[int]] = {}
        for follower, followee in seeded["follows"]:
            followers.setdefault(followee, []).append(follower)
        connections = run.connect(accounts)
        online = connections["connected_indexes"]
        writer = await LoadClient.open(run.server.ws_url, owner["token"], record=False)
        community = await writer.request("community.create", name="防災情報", tags=["quake"])
        community_id = community["data"]["community"]["id"]
        run.server.admin("certify", community_id)
        joined = sum(j["joined"] for j in await run.ask_all(("join", community_id), "joined"))
        # The schedule starts now, after the setup: timed from the connect, a slow setup (the
        # certify subprocess, the joins; seconds on a loaded machine) put the whole chat phase,
        # every status and announcement and the storm in the past, all fired at once at t=0,
        # and the posts and statuses sent while their clients were reconnecting went unanswered
        # and so uncounted: the run measured next to nothing, and no storm "a quarter of the way in".
        run.started = time.monotonic()
        sent = [0]
        ticker = asyncio.create_task(run.show_progress(sent))
        started_at = time.time()
        rng = random.Random(options.seed)
        count = len(run.pipes)
        quake_start = run.started + options.duration
        announce_ok: dict[str, float] = {}
        announce_sent: dict[str, float] = {}
        storm_window = [0.0, 0.0]

        async def announce(n: int) -> None:
            await asyncio.sleep(max(0.0, quake_start + n * options.announce_every - time.monotonic()))
            began = time.time()
            frame = await writer.request(
                "community.announce", community_id=community_id, text=f"お知らせ {n}"
            )
            if frame["op"] == "ok":
                post_id = frame["data"]["post"]["id"]
                announce_ok[post_id], announce_sent[post_id] = time.time(), began

        async def storm() -> list[dict[str, Any]]:
            await asyncio.sleep(max(0.0, quake_start + options.quake / 4 - time.monotonic()))
            print("  every client drops and reconnects now", flush=True)
            storm_window[0] = time.time()
            answers = await run.ask_all(("storm",), "stormed")
            storm_window[1] = time.time()
            return answers

        announcing = [
            asyncio.create_task(announce(n)) for n in range(int(options.quake / options.announce_every))
        ]
        stormed = asyncio.create_task(storm())
        speakers = rng.sample(sorted(online), int(len(online) * options.status_share))
        status_times = sorted((quake_start + rng.random() * options.quake, index) for index in speakers)
        events = [(at, "post") for at in _ticks(run.started, options.duration, options.rate)]
        events += [(at, "post") for at in _ticks(quake_start, options.quake, options.rate * SURGE_FACTOR)]
        events += [(at, index) for at, index in status_times]
        for at, what in sorted(events, key=lambda event: event[0]):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if what == "post":
                author = rng.randrange(options.users)
                run.pipes[author % count].send(("post", author, f"quake {sent[0]}"))
                sent[0] += 1
            else:
                run.pipes[int(what) % count].send(("safety", int(what)))
        await asyncio.gather(*announcing)
        storm_results = await stormed
        online_followers = {
            a: sum(1 for f in followers.get(a, ()) if f in online) for a in range(options.users)
        }
        posted = await run.ask_all(("posted",), "posted")
        ok_times = {post_id: at for p in posted for post_id, at in p["ok_times"].items()}
        sent_times = {post_id: at for p in posted for post_id, at in p["sent_times"].items()}
        recipients = {post_id: online_followers[a] + 1 for p in posted for post_id, a in p["authors"].items()}
        statuses = {author: tuple(v) for p in posted for author, v in p["statuses"].items()}
        # The announcement posts themselves are on every member's following stream: checked too.
        ok_times.update(announce_ok)
        sent_times.update(announce_sent)
        recipients.update({post_id: joined for post_id in announce_ok})
        elapsed, results, server = await run.finish(sum(recipients.values()))
        ticker.cancel()
        await writer.close()
    finally:
        run.close()
    result = _report(
        "quake",
        options,
        connections,
        ok_times,
        recipients,
        results,
        elapsed,
        server,
        started_at,
        sent_times,
        run.server_metrics(),
    )
    result["storm"] = {
        "seconds": max(s["seconds"] for s in storm_results),
        "resumed": sum(s["resumed"] for s in storm_results),
        "failed": {k: v for s in storm_results for k, v in s["failed"].items()},
        **_generator_share(storm_results),
    }
    announcement_results = [
        {
            **r,
            "first_receipts": r["announcement_receipts"],
            "first_ready": r["announcement_ready"],
            "duplicates": 0,
        }
        for r in results
    ]
    status_results = [
        {**r, "first_receipts": r["safety_receipts"], "first_ready": r["safety_ready"], "duplicates": 0}
        for r in results
    ]
    status_ok = {author: ok for author, (_, ok, _) in statuses.items()}
    status_sent = {author: began for author, (began, _, _) in statuses.items()}
    status_recipients = {author: online_followers[index] + 1 for author, (_, _, index) in statuses.items()}
    # Announcements reach every member: their notification is the priority event measured.
    result["announcements"] = deliveries(
        announce_ok, announcement_results, {post_id: joined for post_id in announce_ok}, announce_sent
    )
    # A status reaches the author's online followers and the author's own connection.
    result["statuses"] = deliveries(status_ok, status_results, status_recipients, status_sent)
    # Latency while the clients are connected: those sent while the storm was on wait for their
    # recipients to come back (and arrive then, as notifications), which says nothing of the lane.
    storm_from, storm_to = storm_window

    def calm(sent: dict[str, float]) -> dict[str, float]:
        return {key: at for key, at in sent.items() if not storm_from - 1 <= at <= storm_to}

    result["storm"]["window"] = [storm_from - started_at, storm_to - started_at]
    calm_statuses = calm(status_sent)
    result["statuses_outside_storm"] = deliveries(
        {k: status_ok[k] for k in calm_statuses}, status_results, status_recipients, calm_statuses
    )
    calm_announcements = calm(announce_sent)
    result["announcements_outside_storm"] = deliveries(
        {k: announce_ok[k] for k in calm_announcements},
        announcement_results,
        {post_id: joined for post_id in announce_ok},
        calm_announcements,
    )
    calm_posts = calm(sent_times)
    result["posts_outside_storm"] = deliveries(
        {k: ok_times[k] for k in calm_posts}, results, recipients, calm_posts
    )
    return result


def _ticks(start: float, seconds: float, rate: float) -> list[float]:
    return [start + n / rate for n in range(int(seconds * rate))]
