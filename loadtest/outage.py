"""``outage``: exactly once through repeated Redis outages, counted per follower.

Two ``tsudoi serve`` nodes share one SQLite data folder and one private redis-server. F
followers are split across the nodes; each is a :class:`~loadtest.client.LoadClient` that, when
its connection closes, reconnects to its node with its cursors and ``auth.recent`` (as any
client does), counting close codes, 4006 (``resync_required``) especially. One author posts R
posts a second through the first node, throughout. Then K rounds of: Redis shut down (``redis-cli
shutdown nosave``, or SIGTERM/SIGKILL), D seconds without it (D cycles through ``--outages``),
Redis started again on the same port, both nodes' ``/healthz`` waited for, a few more seconds of
posting.

Every follower should end with every post the author made exactly once. The result counts, per
follower and per round, what was lost (expected − received) and duplicated (received − distinct),
and the connections closed (by code); the run fails (exit 1) if anything was lost or duplicated.
It is the long form of ``tests/test_bus_outage.py``; PROTOCOL.md section 6.5 states what the
server promises ("The bus between nodes").

It runs in the harness's own process (a few dozen connections need no worker processes), so the
figures are exactness and closes, not throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from protocol.errors import CloseCode

from .client import LoadClient
from .local import LocalRedis, LocalServer
from .report import machine
from .workspace import Workspace

#: How each outage begins: an operator's shutdown, a polite signal, a crash.
STOP_MODES = ("shutdown", "term", "kill")


@dataclass(frozen=True)
class OutageOptions:
    followers: int = 20
    rate: float = 20.0  # posts per second from the one author
    rounds: int = 20
    outages: tuple[float, ...] = (1.0, 5.0)  # seconds without Redis, round by round, cycled
    settle: float = 3.0  # seconds of posting before the first outage and after each recovery
    stop: str = "shutdown"  # how Redis is taken away: one of STOP_MODES
    drain: float = 10.0  # seconds to wait for the last deliveries
    command: str = field(default="", compare=False)


class Follower:
    """A follower that stays connected, as a client does: whenever its connection closes it
    comes back to its node with its cursors and recent positions. Counts every close by code."""

    def __init__(self, client: LoadClient, node: int) -> None:
        self.client, self.node = client, node
        self.closes: list[tuple[float, int | None]] = []  # (when, close code)
        self._stopping = False
        self._task = asyncio.create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            code = await self.client.wait_closed()
            if self._stopping:
                return
            self.closes.append((time.monotonic(), code))
            while not self._stopping:
                try:
                    await self.client.reconnect()
                    break
                except (OSError, ConnectionError, ConnectionClosed, InvalidHandshake, TimeoutError):
                    await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stopping = True
        await self.client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Author:
    """Posts at a fixed rate through one node, each post with a nonce so that a retry after a
    dropped connection makes no second post. Remembers when each post was made."""

    def __init__(self, client: LoadClient, rate: float) -> None:
        self.client, self.rate = client, rate
        self.made: list[tuple[float, str]] = []  # (when the ok came, post id)
        self.retries = 0

    async def post_for(self, seconds: float) -> None:
        began = time.monotonic()
        for n in range(max(1, round(seconds * self.rate))):
            await asyncio.sleep(max(0.0, began + n / self.rate - time.monotonic()))
            await self._post()

    async def post_until(self, done: asyncio.Event) -> None:
        """Post at the rate until ``done`` is set (the post under way is finished first)."""
        began, n = time.monotonic(), 0
        while not done.is_set():
            await self._post()
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), max(0.0, began + n / self.rate - time.monotonic()))

    async def _post(self) -> None:
        nonce = f"outage-{len(self.made)}"
        while True:
            try:
                frame = await asyncio.wait_for(
                    self.client.request("post.create", text=f"#{len(self.made)}", nonce=nonce), 10
                )
            except (ConnectionError, TimeoutError):
                frame = None
            if frame is not None and frame["op"] == "ok":
                self.made.append((time.monotonic(), frame["data"]["post"]["id"]))
                return
            self.retries += 1  # an error (the node busy) or a dropped connection: the same nonce again
            with contextlib.suppress(
                OSError, ConnectionError, ConnectionClosed, InvalidHandshake, TimeoutError
            ):
                if frame is None:
                    await self.client.reconnect()
            await asyncio.sleep(0.2)


async def _healthy(nodes: list[LocalServer], healthy: bool, within: float) -> float | None:
    """Seconds until every node's /healthz is 200 (``healthy``) or is not; None past ``within``."""
    began = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() - began < within:
            states = []
            for node in nodes:
                try:
                    states.append((await http.get(f"{node.url}/healthz")).status_code == 200)
                except httpx.TransportError:
                    states.append(False)
            if all(state is healthy for state in states):
                return time.monotonic() - began
            await asyncio.sleep(0.05)
    return None


def _tally(followers: list[Follower], posts: list[str]) -> tuple[int, int, int]:
    """(lost, duplicated, left to a reload) over every follower, for ``posts``: what a follower
    the server told to reload its timeline (PROTOCOL.md 6.4) did not get is not lost, it is in
    the reloaded view; it is counted apart."""
    lost = duplicated = reload = 0
    for follower in followers:
        figures = follower.client.accounting(posts)
        if follower.client.reloads:
            reload += figures.lost
        else:
            lost += figures.lost
        duplicated += figures.duplicated
    return lost, duplicated, reload


async def outage(options: OutageOptions, space: Workspace) -> dict[str, Any]:
    """Run the scenario (module docstring); the result is a JSON-ready dict."""
    if options.stop not in STOP_MODES:
        raise RuntimeError(f"--stop must be one of {', '.join(STOP_MODES)}, not {options.stop!r}")
    if options.followers < 1 or options.rounds < 0 or options.rate <= 0 or not options.outages:
        raise RuntimeError("--followers, --rate and --outages must be positive, --rounds at least 0")
    redis = LocalRedis(space.folder)
    nodes = [LocalServer(folder=space.folder, log=f"server-{name}.log") for name in ("a", "b")]
    followers: list[Follower] = []
    author: Author | None = None

    def stop_all() -> None:
        for node in nodes:
            node.stop()
        redis.stop()

    space.on_close(stop_all)
    redis.start()
    for node in nodes:
        node.env["TSUDOI_REDIS_URL"] = redis.url
    seeded = nodes[0].seed(options.followers + 1, star=True)
    for node in nodes:
        node.start()
    writer_account, fans = seeded["accounts"][0], seeded["accounts"][1 : options.followers + 1]
    print(f"  nodes {nodes[0].url} and {nodes[1].url}, redis {redis.url}", flush=True)
    for n, fan in enumerate(fans):
        side = n % 2
        followers.append(Follower(await LoadClient.open(nodes[side].ws_url, fan["token"]), side))
    author = Author(
        await LoadClient.open(nodes[0].ws_url, writer_account["token"], record=False), options.rate
    )
    started = time.monotonic()
    rounds: list[dict[str, Any]] = []
    try:
        await author.post_for(options.settle)
        for index in range(options.rounds):
            seconds = options.outages[index % len(options.outages)]
            round_began, first_post = time.monotonic(), len(author.made)
            outage_over = asyncio.Event()
            posting = asyncio.create_task(author.post_until(outage_over))
            await asyncio.to_thread(redis.shutdown, options.stop)
            went_down = await _healthy(nodes, False, 10)
            await asyncio.sleep(seconds)
            await asyncio.to_thread(redis.start)
            back = await _healthy(nodes, True, 60)
            outage_over.set()
            await posting
            await author.post_for(options.settle)
            rounds.append(
                {
                    "round": index + 1,
                    "outage_seconds": seconds,
                    "seconds_until_unhealthy": went_down,
                    "seconds_until_healthy": back,
                    "began": round_began,
                    "posts": author.made[first_post:],
                }
            )
            print(
                f"  round {index + 1}/{options.rounds}: {seconds:g} s without Redis, healthy again "
                f"after {'never' if back is None else f'{back:.1f} s'}, {len(author.made)} posts so far",
                flush=True,
            )
        made = [post_id for _, post_id in author.made]
        deadline = time.monotonic() + options.drain
        while time.monotonic() < deadline and _tally(followers, made)[0]:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # room for a late duplicate
    finally:
        for follower in followers:
            await follower.stop()
        if author is not None:
            await author.client.close()
    return _result(options, followers, author, rounds, time.monotonic() - started)


def _result(
    options: OutageOptions,
    followers: list[Follower],
    author: Author,
    rounds: list[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    made = [post_id for _, post_id in author.made]
    per_follower: list[dict[str, Any]] = []
    all_closes: Counter[str] = Counter()
    lost = duplicated = resync = delivered = left_to_reload = reloads = 0
    for number, follower in enumerate(followers):
        figures = follower.client.accounting(made)
        codes = Counter(str(code) for _, code in follower.closes)
        all_closes.update(codes)
        resync_closes = codes.get(str(int(CloseCode.RESYNC_REQUIRED)), 0)
        reloads += follower.client.reloads
        if follower.client.reloads:
            left_to_reload += figures.lost
            figures = replace(figures, lost=0)
        lost, duplicated = lost + figures.lost, duplicated + figures.duplicated
        resync, delivered = resync + resync_closes, delivered + figures.received
        per_follower.append(
            {
                "follower": number,
                "node": "ab"[follower.node],
                "received": figures.received,
                "lost": figures.lost,
                "duplicated": figures.duplicated,
                "repeated_positions": follower.client.repeated,
                "reloads": follower.client.reloads,
                "closes": dict(codes),
                "resync_closes": resync_closes,
            }
        )
    round_figures = []
    ends = [r["began"] for r in rounds[1:]] + [float("inf")]
    for entry, end in zip(rounds, ends, strict=True):
        lost, duplicated, to_reload = _tally(followers, [post_id for _, post_id in entry["posts"]])
        closes = Counter(str(code) for f in followers for at, code in f.closes if entry["began"] <= at < end)
        round_figures.append(
            {
                "round": entry["round"],
                "outage_seconds": entry["outage_seconds"],
                "seconds_until_unhealthy": entry["seconds_until_unhealthy"],
                "seconds_until_healthy": entry["seconds_until_healthy"],
                "posts": len(entry["posts"]),
                "lost": lost,
                "duplicated": duplicated,
                "left_to_reload": to_reload,
                "resync_closes": closes.get(str(int(CloseCode.RESYNC_REQUIRED)), 0),
                "closes": dict(closes),
            }
        )
    expected = len(made) * len(followers)
    return {
        "scenario": "outage",
        "command": options.command,
        "options": asdict(options),
        "machine": machine(),
        "seconds": seconds,
        "posts": len(made),
        "author_retries": author.retries,
        "followers": len(followers),
        "expected": expected,
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
        "reloads": reloads,
        "left_to_reload": left_to_reload,
        "resync_closes": resync,
        "closes": dict(all_closes),
        "rounds": round_figures,
        "per_follower": per_follower,
    }


def summary(result: dict[str, Any]) -> str:
    """The lines the command prints at the end."""
    lines = [
        f"  command: {result['command']}",
        f"  {result['posts']} posts to {result['followers']} followers through {len(result['rounds'])} "
        f"Redis outages: lost {result['lost']}, duplicated {result['duplicated']} "
        f"(of {result['expected']}); closed with 4006: {result['resync_closes']}; told to reload: "
        f"{result['reloads']} times ({result['left_to_reload']} posts left to the reloaded views); "
        f"all closes {result['closes'] or 'none'}",
    ]
    for entry in result["rounds"]:
        healthy = entry["seconds_until_healthy"]
        lines.append(
            f"  round {entry['round']:3d}: {entry['outage_seconds']:g} s out, healthy after "
            f"{'never' if healthy is None else f'{healthy:.1f} s'}, {entry['posts']} posts, "
            f"lost {entry['lost']}, duplicated {entry['duplicated']}, 4006 {entry['resync_closes']}, "
            f"left to reload {entry['left_to_reload']}"
        )
    unlucky = [f for f in result["per_follower"] if f["lost"] or f["duplicated"]]
    for entry in unlucky[:10]:
        lines.append(
            f"  follower {entry['follower']} on node {entry['node']}: lost {entry['lost']}, "
            f"duplicated {entry['duplicated']}, closes {entry['closes'] or 'none'}"
        )
    if len(unlucky) > 10:
        lines.append(f"  … and {len(unlucky) - 10} more followers with a loss or a repeat")
    return "\n".join(lines)


def command_line(argv: list[str] | None = None) -> str:
    """How this run was started, for the result (``tsudoi-loadtest outage ...``)."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["tsudoi-loadtest", *args])
