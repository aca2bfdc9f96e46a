"""What one resume costs the server: its CPU time per reconnecting client, nothing else.

The reconnect-storm scenario measures a storm as a whole, but its figure includes the clients'
closes, the connections refused by admission control and the posts fanned out meanwhile, and
on this machine its single-core generator is slower than the server. This tool isolates the
resume: a real ``tsudoi serve`` pinned to core 0 (admission control opened wide, so no client is
refused), N seeded users who all follow one author, each connected once to learn where it
stands; then, with the server's CPU time read from /proc before and after, every client
reconnects with its cursors (``--behind K``: after the author posted K more while they were
away, so each resume replays K items) and waits for ``ready`` and its replay. Closing is
measured apart.

    .venv/bin/python -m loadtest.tools.resume_cost [N] [--behind K] [--concurrency C] [--rounds R]
        [--compact] [--recent | --fresh] [--ceiling | --floor] [--opcodes TOP]

``--recent``: resumes send the positions they were last given (``auth.recent``), as the SDK and
the load clients do. ``--fresh``: clients connect without cursors, a first connection that reads
no stream. ``--ceiling`` and ``--floor`` measure, instead of Tsudoi, the bare websockets server
(``loadtest/ceiling.py``) and Tsudoi's uvicorn stack around an app that does as little
(``loadtest/floor.py``): what a connection costs the runtime, and the stack, without the gateway.
``--opcodes TOP`` runs the server twice under ``loadtest/tools/opcodes.py``, with one round and
with two, and prints the bytecodes per resume (and its close) of the TOP Python functions that
ran most: where callgrind counts the interpreter, this names the Python code.

Prints the server's CPU milliseconds per resume and per close. The server's pid is printed
while it runs, for a profiler (``--pause S`` waits S seconds before the measured phase).
Numbers are recorded in BENCHMARKS.md.

CPU time on this machine drifts by 20-30 % from one hour to the next. ``--callgrind`` runs the
server under valgrind's callgrind, counting nothing until the measured phase, and prints the
instructions the server executed (every thread, the kernel's work left out) per resume and per
close, and per resume without ``memset`` (see ``Callgrind.stop``). The same code and inputs give
nearly the same count whatever else the machine does, so two commits can be compared in one run
each. Valgrind makes the server some 50 times slower: use a few hundred clients and a low
``--concurrency``. The profile of each phase is kept (``callgrind_annotate`` reads it) in the
folder the tool prints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson

from protocol import messages as m
from protocol.recent import encode_auth, floor_id

from ..client import connect_client
from ..local import LocalServer
from ..wire import Socket
from . import opcodes as opcode_counts

#: Every client is let in at once: admission control is a separate question (BENCHMARKS.md).
ENV = {"TSUDOI_ADMISSION_RATE": "100000"}

_T = TypeVar("_T")


async def _open(
    url: str, token: str, cursors: m.Cursors, compact: bool = False, recent: list[str] | None = None
) -> tuple[Socket, str, list[str]]:
    """Connect, authenticate with ``cursors`` (asking for compact events if ``compact`` and the
    server offers them, and sending ``recent`` if given), and read up to ``ready`` and its
    replay; returns the connection, the greatest ``following`` position it holds and the
    positions replayed."""
    ws = await connect_client(url)
    hello = orjson.loads(await ws.recv())
    compact = compact and "compact" in (hello.get("features") or ())
    await ws.send(encode_auth(token, cursors, recent, compact=compact).decode())
    greatest = cursors.following or ""
    replayed = None
    seen = 0
    positions: list[str] = []
    while replayed is None or seen < replayed:
        frame = orjson.loads(await ws.recv())
        if frame["op"] == "ready":
            replayed = frame.get("replayed", 0)  # the ceiling server's ready says nothing more
        elif frame["op"] == "event":
            seen += 1
            positions.append(frame["pos"])
            if frame.get("stream") == "following":
                greatest = max(greatest, frame["pos"])
    return ws, greatest, positions


async def _all(jobs: list[Coroutine[Any, Any, _T]], concurrency: int) -> list[_T]:
    """Await every job, at most ``concurrency`` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(job: Coroutine[Any, Any, _T]) -> _T:
        async with slots:
            return await job

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def _close(conns: list[Socket], concurrency: int) -> None:
    await _all([ws.close() for ws in conns], concurrency)


class Callgrind:
    """The server under callgrind, its instruction counting switched on for one phase at a time."""

    def __init__(self) -> None:
        valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
        annotate = shutil.which("callgrind_annotate")
        if valgrind is None or control is None or annotate is None:
            raise SystemExit("--callgrind needs valgrind (Debian's package valgrind)")
        self.control, self.annotate = control, annotate
        self.folder = Path(tempfile.mkdtemp(prefix="tsudoi-callgrind-"))
        self.prefix = [valgrind, "--tool=callgrind", "--instr-atstart=no"]
        self.prefix += [f"--callgrind-out-file={self.folder}/callgrind.out"]
        self.pid = 0

    def _control(self, *args: str) -> None:
        subprocess.run([self.control, *args, str(self.pid)], check=True, capture_output=True)

    def start(self) -> None:
        """Count from now on, from zero."""
        self._control("--zero")
        self._control("--instr=on")

    def stop(self, name: str) -> tuple[int, int]:
        """Stop counting; the instructions counted since ``start``, and how many of them were in
        ``memset``; their profile is kept as ``name``.

        Valgrind counts ``rep stosb``, glibc's ``memset`` for large blocks, once per byte: zeroing
        a 4 KiB page counts 4,096 instructions where the processor takes a few dozen cycles. So
        the count is also given without ``memset``, which is the one to compare when a change
        zeroes fewer pages (SQLite's temporary b-trees, BENCHMARKS.md)."""
        before = set(self.folder.iterdir())
        self._control("--dump")
        self._control("--instr=off")
        deadline = time.monotonic() + 60
        while not (dumped := set(self.folder.iterdir()) - before):
            if time.monotonic() > deadline:
                raise RuntimeError("callgrind wrote no profile")
            time.sleep(0.1)
        path = dumped.pop()
        time.sleep(0.5)  # the dump is written in one go, but give it time to be closed
        text = path.read_text()
        kept = path.rename(self.folder / f"{name}.callgrind")
        found = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no totals in {path}")
        annotated = subprocess.run(
            [self.annotate, "--threshold=100", str(kept)], check=True, capture_output=True, text=True
        ).stdout
        memset = sum(
            int(line.split()[0].replace(",", ""))
            for line in annotated.splitlines()
            if re.match(r"\s*[\d,]+ \(", line) and ":__memset" in line
        )
        return int(found.group(1)), memset


async def run(
    users: int,
    behind: int,
    concurrency: int,
    rounds: int,
    pause: float,
    *,
    callgrind: bool = False,
    compact: bool = False,
    recent: bool = False,
    fresh: bool = False,
    ceiling: bool = False,
    floor: bool = False,
    opcodes: Path | None = None,
) -> None:
    counter = Callgrind() if callgrind else None
    if opcodes is not None:
        prefix = [sys.executable, "-m", "loadtest.tools.opcodes", str(opcodes), "--"]
        server = LocalServer(
            env={**ENV, "PYTHONHASHSEED": "0"}, prefix=prefix, start_timeout=300, ceiling=ceiling, floor=floor
        )
    elif counter is None:
        server = LocalServer(env=ENV, ceiling=ceiling, floor=floor)
    else:
        # A fixed hash seed: sets and dicts laid out alike run after run (a few % of the count).
        server = LocalServer(
            env={**ENV, "PYTHONHASHSEED": "0"},
            prefix=counter.prefix,
            start_timeout=300,
            ceiling=ceiling,
            floor=floor,
        )
        print(f"callgrind profiles in {counter.folder}", flush=True)
    try:
        accounts = server.seed(users + 1, star=True)["accounts"]
        author, followers = accounts[0], accounts[1:]
        server.start(cores={0})
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        print(f"server pid {server.pids()[0]}", flush=True)
        if counter is not None:
            counter.pid = server.pids()[0]
        moment = floor_id(int(time.time() * 1000))
        start = m.Cursors(following=moment, notifications=moment)
        opened = await _all([_open(server.ws_url, a["token"], start) for a in followers], concurrency)
        cursors = [m.Cursors(following=greatest or moment, notifications=moment) for _, greatest, _ in opened]
        held: list[list[str]] = [[] for _ in followers]
        await _close([ws for ws, _, _ in opened], concurrency)
        for round_ in range(rounds):
            if behind:
                poster, _, _ = await _open(server.ws_url, author["token"], start)
                for n in range(behind):
                    await poster.send(
                        orjson.dumps({"op": "post.create", "id": f"p{n}", "text": f"r{round_} p{n}"}).decode()
                    )
                    while orjson.loads(await poster.recv()).get("op") != "ok":
                        pass
                await poster.close()
            if pause:
                print(f"measured phase in {pause:.0f} s", flush=True)
                await asyncio.sleep(pause)
            await asyncio.sleep(1.0)  # the server settles (the previous round's closes)
            if counter is not None:
                counter.start()
            cpu0, rss0 = server.usage()
            started = time.monotonic()
            resumed = await _all(
                [
                    _open(
                        server.ws_url, a["token"], m.Cursors() if fresh else c, compact, h if recent else None
                    )
                    for a, c, h in zip(followers, cursors, held, strict=True)
                ],
                concurrency,
            )
            took = time.monotonic() - started
            cpu1, rss1 = server.usage()
            if counter is not None:
                resume_ir, resume_memset = counter.stop(f"round{round_ + 1}-resume")
                counter.start()
            cursors = [m.Cursors(following=g, notifications=moment) for _, g, _ in resumed]
            held = [positions for _, _, positions in resumed]
            await _close([ws for ws, _, _ in resumed], concurrency)
            await asyncio.sleep(1.0)
            cpu2, rss2 = server.usage()
            if counter is not None:
                close_ir, _ = counter.stop(f"round{round_ + 1}-close")
                print(
                    f"round {round_ + 1}: {resume_ir / users / 1e6:.3f} M instructions per resume "
                    f"({(resume_ir - resume_memset) / users / 1e6:.3f} M without memset; {behind} behind "
                    f"each), {close_ir / users / 1e6:.3f} M per close (incl. 1 s idle)",
                    flush=True,
                )
            print(
                f"round {round_ + 1}: {users} resumes ({behind} behind each) in {took:.1f} s: server CPU "
                f"{(cpu1 - cpu0) * 1000 / users:.3f} ms per resume, {(cpu2 - cpu1) * 1000 / users:.3f} ms per "
                f"close (incl. 1 s idle); RSS {rss0 / 2**20:.0f} → {rss1 / 2**20:.0f} → {rss2 / 2**20:.0f} MiB",
                flush=True,
            )
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.resume_cost")
    parser.add_argument("users", type=int, nargs="?", default=2000, help="clients resuming")
    parser.add_argument("--behind", type=int, default=0, help="posts each client misses while away")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    parser.add_argument("--rounds", type=int, default=3, help="storms, one after the other")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait before measuring")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count the server's instructions (valgrind) instead of timing",
    )
    parser.add_argument(
        "--compact",
        action="store_true",
        help="resumes ask for compact events (PROTOCOL.md section 3.5), as Tsudoi's page, the SDK and "
        "the load clients do",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--recent",
        action="store_true",
        help="resumes send the positions they were last given (auth.recent, PROTOCOL.md section 6.5), "
        "as the SDK and the load clients do: each stream is then read from a window before its cursor",
    )
    what.add_argument(
        "--fresh",
        action="store_true",
        help="clients connect without cursors (a first connection: nothing to read back), to set a "
        "resume against what authentication alone costs",
    )
    bare = parser.add_mutually_exclusive_group()
    bare.add_argument(
        "--ceiling",
        action="store_true",
        help="measure the bare websockets server (loadtest/ceiling.py: hello, auth, ready and nothing "
        "else) instead: what the runtime costs a connection, to set a resume against",
    )
    bare.add_argument(
        "--floor",
        action="store_true",
        help="measure Tsudoi's uvicorn stack around an app that does as little as the ceiling "
        "(loadtest/floor.py): what the stack costs, apart from the gateway's own work",
    )
    parser.add_argument(
        "--opcodes",
        type=int,
        default=0,
        metavar="TOP",
        help="count the bytecodes each Python function of the server runs per resume "
        "(loadtest/tools/opcodes.py; two runs, of one round and two) and print the TOP largest",
    )
    args = parser.parse_args()
    if args.opcodes and args.callgrind:
        parser.error("--opcodes and --callgrind each run the server under their own tool: choose one")

    def measure(rounds: int, opcodes: Path | None = None) -> None:
        asyncio.run(
            run(
                args.users,
                args.behind,
                args.concurrency,
                rounds,
                args.pause,
                callgrind=args.callgrind,
                compact=args.compact,
                recent=args.recent,
                fresh=args.fresh,
                ceiling=args.ceiling,
                floor=args.floor,
                opcodes=opcodes,
            )
        )

    if not args.opcodes:
        measure(args.rounds)
        return
    # Two runs that differ by one round: their difference is one resume and one close each.
    folder = Path(tempfile.mkdtemp(prefix="tsudoi-opcodes-"))
    for rounds in (1, 2):
        measure(rounds, folder / f"rounds{rounds}.json")
    more, fewer = (orjson.loads((folder / f"rounds{rounds}.json").read_bytes()) for rounds in (2, 1))
    found = opcode_counts.difference(more, fewer)
    print(
        f"bytecodes per resume and its close: {sum(count for _, count in found) / args.users:,.0f} "
        f"(counts in {folder}); the functions that ran most:"
    )
    for name, count in found[: args.opcodes]:
        print(f"{count / args.users:9,.0f}  {name}")


if __name__ == "__main__":
    main()
