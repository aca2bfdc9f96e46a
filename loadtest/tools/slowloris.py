"""Slowloris: N half-open sockets from one address, and how ``/healthz`` and log-in answer another.

Starts a seeded ``tsudoi serve`` (one account, the real password hashing) and measures, from a
second loopback address, ``GET /healthz`` and ``POST /api/login`` — each on a new connection, one
after the other — first on a quiet server, then while an attacker at a third address keeps
``--sockets`` connections open with headers that never end. The attacker behaves like the
slowloris tool: it opens every socket, sends a request line and one header, sends one more header
line every ``--interval`` seconds, and reopens any socket the server closed at its next pass. It
runs in a process of its own, so that its sockets do not slow the measuring client's event loop.

The attacker is 127.0.0.3 by default, not 127.0.0.1, which uvicorn trusts as a proxy (and which
therefore has no per-address cap, only the total; see docs/topics/limits.md). ``--server-files N``
gives the server an open-file limit of N (soft and hard), as on the node of issue 15 (1,024).
This process raises its own soft limit to the hard one: it holds the attacker's sockets.

    .venv/bin/python -m loadtest.tools.slowloris [--sockets 5000] [--samples 40] [--server-files N]

Linux only (any 127/8 address is loopback there). Figures are recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson

from ..local import LocalServer
from ..report import percentiles

PARTIAL = b"GET / HTTP/1.1\r\nHost: tsudoi\r\n"
#: Connections the attacker opens at once while ramping up, and how long it waits for one (a
#: server out of descriptors stops accepting: its backlog fills and connects hang).
RAMP_CONCURRENCY = 500
CONNECT_TIMEOUT_S = 3.0
#: A probe that takes longer than this failed (the reported outage's clients gave up sooner).
PROBE_TIMEOUT_S = 10.0
#: Descriptors this process needs besides the attacker's sockets.
OWN_FILES = 200


def raise_own_limit(needed: int) -> int:
    """Raise this process's soft open-file limit to the hard one; exit if it is below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        sys.exit(f"the open-file limit is {soft}, below the {needed} this run needs: raise the hard limit")
    return soft


@dataclass
class Attacker:
    port: int
    address: str
    sockets: int
    interval: float
    opened: int = 0
    #: Connections the server closed (refused at once, or closed at its header timeout).
    closed_by_server: int = 0
    open_now: int = 0
    failed_connects: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    async def start(self) -> float:
        """Open every socket (ramping ``RAMP_CONCURRENCY`` at a time); the seconds it took."""
        started = time.perf_counter()
        slots = asyncio.Semaphore(RAMP_CONCURRENCY)
        first = [asyncio.get_running_loop().create_future() for _ in range(self.sockets)]
        self._tasks = [asyncio.create_task(self._hold(slots, opened)) for opened in first]
        await asyncio.gather(*first)
        return time.perf_counter() - started

    async def _hold(self, slots: asyncio.Semaphore, first_pass: asyncio.Future[None]) -> None:
        while not self._stopping:
            writer = None
            try:
                async with slots:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.address, 0)),
                        CONNECT_TIMEOUT_S,
                    )
                    writer.write(PARTIAL)
                self.opened += 1
                self.open_now += 1
                if not first_pass.done():
                    first_pass.set_result(None)
                try:
                    while not self._stopping:
                        try:
                            if not await asyncio.wait_for(reader.read(4096), self.interval):
                                break  # the server closed it
                        except TimeoutError:
                            writer.write(b"X-a: b\r\n")  # one more header line, never the last
                finally:
                    self.open_now -= 1
                if not self._stopping:
                    self.closed_by_server += 1
                    await asyncio.sleep(self.interval)  # reopened at the next pass
            except OSError:  # refused, reset, or no answer: a server out of descriptors
                self.failed_connects += 1
                if not first_pass.done():
                    first_pass.set_result(None)
                await asyncio.sleep(self.interval)
            finally:
                if writer is not None:
                    writer.close()

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _attack(pipe: Connection, port: int, address: str, sockets: int, interval: float) -> None:
    """The attacker's process (its own event loop, so that its thousands of sockets do not delay
    the probes' timings): ramps up, says so, holds until told to stop, then sends its counts."""

    async def main() -> None:
        attacker = Attacker(port, address, sockets, interval)
        pipe.send({"ramp_s": await attacker.start()})
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        held = attacker.open_now
        await attacker.stop()
        pipe.send(
            {
                "opened": attacker.opened,
                "held_after_probes": held,
                "closed_by_server": attacker.closed_by_server,
                "failed_connects": attacker.failed_connects,
            }
        )

    asyncio.run(main())


async def probe(url: str, source: str, handle: str, password: str, samples: int) -> dict[str, Any]:
    """``samples`` of each request, alternating, each on a new connection from ``source``."""
    latencies: dict[str, list[float]] = {"healthz": [], "login": []}
    failures: dict[str, dict[str, int]] = {"healthz": {}, "login": {}}
    for _ in range(samples):
        for name in ("healthz", "login"):
            transport = httpx.AsyncHTTPTransport(local_address=source)
            async with httpx.AsyncClient(transport=transport, timeout=PROBE_TIMEOUT_S) as client:
                started = time.perf_counter()
                try:
                    if name == "healthz":
                        response = await client.get(f"{url}/healthz")
                    else:
                        body = {"handle": handle, "password": password}
                        response = await client.post(f"{url}/api/login", json=body)
                    outcome = str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                elapsed_ms = (time.perf_counter() - started) * 1000
            if outcome == "200":
                latencies[name].append(elapsed_ms)
            else:
                failures[name][outcome] = failures[name].get(outcome, 0) + 1
    return {
        name: {"ok": len(latencies[name]), "failed": failures[name], "ms": percentiles(latencies[name])}
        for name in latencies
    }


async def health(url: str, source: str) -> dict[str, Any]:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport, timeout=PROBE_TIMEOUT_S) as client:
        try:
            body: dict[str, Any] = (await client.get(f"{url}/healthz")).json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"error": type(exc).__name__}
    return body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    own_files = raise_own_limit(args.sockets + OWN_FILES)
    env = {"TSUDOI_LOGIN_ADDRESS_ATTEMPTS": "1000000"}  # every probe logs in from one address
    server = LocalServer(env=env, open_files=args.server_files)
    try:
        seeded = server.seed(1)
        handle, password = seeded["accounts"][0]["handle"], seeded["password"]
        available = sorted(os.sched_getaffinity(0))
        if len(available) >= 2:  # as the harness: the server on a core of its own
            server.start({available[0]})
            os.sched_setaffinity(0, set(available[1:]))
        else:
            server.start()
        quiet = await probe(server.url, args.bystander, handle, password, args.samples)
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        attack = multiprocessing.get_context("spawn").Process(
            target=_attack, args=(theirs, server.port, args.attacker, args.sockets, args.interval)
        )
        attack.start()
        loop = asyncio.get_running_loop()
        try:
            ramp = await loop.run_in_executor(None, ours.recv)
            await asyncio.sleep(args.interval)  # a first pass of trickled headers and reopened sockets
            attacked = await probe(server.url, args.bystander, handle, password, args.samples)
            server_view = await health(server.url, args.bystander)
            ours.send("stop")
            counts = await loop.run_in_executor(None, ours.recv)
        finally:
            attack.join(10)
            if attack.is_alive():
                attack.kill()
        return {
            "sockets": args.sockets,
            "attacker": args.attacker,
            "bystander": args.bystander,
            "interval_s": args.interval,
            "server_files": args.server_files,
            "own_open_files": own_files,
            "ramp_s": ramp["ramp_s"],
            "attacker_opened": counts["opened"],
            "attacker_held_after_probes": counts["held_after_probes"],
            "closed_by_server": counts["closed_by_server"],
            "failed_connects": counts["failed_connects"],
            "quiet": quiet,
            "attacked": attacked,
            "server": server_view,
            "server_log_tail": server.log_tail(5),
        }
    finally:
        server.close()


def _line(label: str, figures: dict[str, Any]) -> str:
    ms = figures["ms"]
    shown = "—" if ms["p50"] is None else f"p50 {ms['p50']:.1f}  p99 {ms['p99']:.1f}  max {ms['max']:.1f} ms"
    failed = ", ".join(f"{k}: {v}" for k, v in figures["failed"].items()) or "none"
    return f"  {label:16} {figures['ok']} ok, failed {failed}; {shown}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.slowloris", description=__doc__)
    parser.add_argument("--sockets", type=int, default=5000, help="half-open sockets to keep open")
    parser.add_argument("--samples", type=int, default=40, help="requests of each kind per phase")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between the attacker's passes")
    parser.add_argument("--attacker", default="127.0.0.3", help="the attacker's source address")
    parser.add_argument("--bystander", default="127.0.0.2", help="the measuring client's address")
    parser.add_argument("--server-files", type=int, help="the server's open-file limit (default: inherited)")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()
    # SIGTERM ends the run as Ctrl-C does, through the clean-up that stops the server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    result = asyncio.run(run(args))
    print(
        f"{result['sockets']:,} half-open sockets from {result['attacker']} (opened {result['attacker_opened']:,} "
        f"in all, ramp {result['ramp_s']:.1f} s; {result['attacker_held_after_probes']:,} still open after the "
        f"probes; {result['closed_by_server']:,} closed by the server; {result['failed_connects']:,} connects failed)"
    )
    for phase in ("quiet", "attacked"):
        for name in ("healthz", "login"):
            print(_line(f"{phase} {name}", result[phase][name]))
    print(f"  server /healthz limits: {orjson.dumps(result['server'].get('limits')).decode()}")
    if args.out:
        args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
