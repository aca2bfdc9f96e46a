"""What one delivered frame costs the server in a fan-out, as a count that holds still.

``tsudoi-loadtest fanout`` measures CPU time per delivered frame against the bare websockets
broadcast (``--ceiling``), but CPU time here drifts by 20-30 % from hour to hour, more than the
gap between the two. This tool measures the same thing in instructions: a real server pinned to
core 0 (Tsudoi, or with ``--ceiling`` the bare broadcast server of :mod:`loadtest.ceiling`), N
followers of one author connected and idle, then the author posts P times, each post waited for
until every follower has it; the server's instructions over that phase are divided by the frames
delivered (every event frame any client received, the author's own copies included).

    .venv/bin/python -m loadtest.tools.fanout_cost [N] [--posts P | --heartbeats K] [--rounds R]
                                                   [--ceiling] [--full-events]
                                                   [--callgrind | --strace]

Without ``--callgrind`` it prints server CPU µs per delivered frame (from /proc). With it, the
server runs under valgrind's callgrind (see :class:`loadtest.tools.resume_cost.Callgrind`),
counting only the measured phase: instructions in user space, every thread, the kernel's work
(the ``write`` system calls themselves) left out. Run it once with and once without
``--ceiling`` for the ratio the goal is stated in. A few hundred followers suffice; valgrind
makes the server some 50 times slower.

Callgrind leaves out the kernel. ``--strace`` counts the server's system calls instead (``strace
-c -f`` attached for the measured phase only) and prints them per delivered frame, by call: the
kernel's share of a frame is mostly in them.

Clients ask for compact events (PROTOCOL.md section 3.5) when the server offers them, as Tsudoi's
page does; ``--full-events`` leaves them full, as before 1.15.0. Each round prints the frames'
average size.

``--heartbeats K`` measures what an idle node does instead: every follower sends K heartbeats,
each once the previous is answered, and the figures are per heartbeat. The harness's fan-out
figure includes it (its clients heartbeat while posts arrive).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import orjson

from protocol import messages as m
from protocol.recent import encode_auth, floor_id

from ..client import connect_client
from ..local import LocalServer
from ..wire import Socket
from .resume_cost import Callgrind

#: Every follower is let in at once, and the author may post as fast as the tool asks. The clients
#: send no heartbeats outside a ``--heartbeats`` phase, and a run under valgrind can last longer
#: than the default minute of silence a node allows: an hour instead.
ENV = {
    "TSUDOI_ADMISSION_RATE": "100000",
    "TSUDOI_POST_BURST": "1000000",
    "TSUDOI_FRAME_BURST": "1000000",
    "TSUDOI_HEARTBEAT_TIMEOUT_MS": "3600000",
}


#: How long every follower may take to have a post (valgrind makes the server slow).
WAIT_S = 300


class Listener:
    """One connection, counting the event frames and the answers it receives."""

    def __init__(self, ws: Socket) -> None:
        self.ws = ws
        self.events = 0
        #: The bytes of those event frames (the payload, without WebSocket framing).
        self.event_bytes = 0
        self.answers = 0
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for data in self.ws:
            if b'"op":"event"' in data:
                self.events += 1
                self.event_bytes += len(data)
            elif data.startswith(b'{"op":"ok"'):
                self.answers += 1
            self.changed.set()

    async def heartbeats(self, count: int) -> None:
        """Send ``count`` heartbeats, each once the previous one is answered, as an idle client
        does every ``heartbeat_interval_ms``."""
        for n in range(count):
            answered = self.answers + 1
            await self.ws.send(orjson.dumps({"op": "heartbeat", "id": f"h{n}"}).decode())
            while self.answers < answered:
                self.changed.clear()
                await self.changed.wait()


async def _open(url: str, token: str, full: bool) -> Socket:
    """A connection, past ``ready``; with compact events (PROTOCOL.md section 3.5) if the server
    offers them, unless ``full``."""
    ws = await connect_client(url, open_timeout=300)
    hello = orjson.loads(await ws.recv())
    compact = not full and "compact" in (hello.get("features") or ())
    moment = floor_id(int(time.time() * 1000))
    cursors = m.Cursors(following=moment, notifications=moment)
    await ws.send(encode_auth(token, cursors, None, compact=compact).decode())
    while orjson.loads(await ws.recv()).get("op") != "ready":
        pass
    return ws


async def _everyone_has(listeners: list[Listener], events: int) -> None:
    for listener in listeners:
        while listener.events < events:
            listener.changed.clear()
            await listener.changed.wait()


class Strace:
    """``strace -c -f`` attached to the server for one phase at a time."""

    def __init__(self) -> None:
        found = shutil.which("strace")
        if found is None:
            raise SystemExit("--strace needs strace (Debian's package strace)")
        self.strace = found
        self.folder = Path(tempfile.mkdtemp(prefix="tsudoi-strace-"))
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._out = self.folder / "none"

    def start(self, name: str) -> None:
        """Attach; give it a second to reach every thread before the phase begins."""
        self._out = self.folder / f"{name}.txt"
        command = [self.strace, "-c", "-f", "-o", str(self._out), "-p", str(self.pid)]
        self._proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)

    def stop(self) -> dict[str, int]:
        """Detach; the calls counted since :meth:`start`, by name."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(timeout=30)
        calls: dict[str, int] = {}
        for line in self._out.read_text().splitlines():
            fields = line.split()
            # "% time  seconds  usecs/call  calls  [errors]  syscall"
            if len(fields) >= 5 and fields[0].replace(".", "").isdigit() and fields[-1] != "total":
                calls[fields[-1]] = int(fields[3])
        return calls


def _top(calls: dict[str, int], per: int) -> str:
    """The eight most frequent system calls, each per ``per``."""
    top = sorted(calls.items(), key=lambda item: -item[1])[:8]
    return ", ".join(f"{name} {count / per:.2f}" for name, count in top)


async def run(
    users: int,
    posts: int,
    heartbeats: int,
    rounds: int,
    ceiling: bool,
    callgrind: bool,
    trace: bool,
    *,
    full: bool = False,
) -> None:
    counter = Callgrind() if callgrind else None
    env = dict(ENV)
    if counter is not None:
        env["PYTHONHASHSEED"] = "0"  # sets and dicts laid out alike run after run
        print(f"callgrind profiles in {counter.folder}", flush=True)
    server = LocalServer(
        env=env,
        ceiling=ceiling,
        prefix=counter.prefix if counter is not None else None,
        start_timeout=300 if counter is not None else 60,
    )
    try:
        accounts = server.seed(users + 1, star=True)["accounts"]
        server.start(cores={0})
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        if counter is not None:
            counter.pid = server.pids()[0]
        tracer = Strace() if trace else None
        if tracer is not None:
            tracer.pid = server.pids()[0]
        author_ws = await _open(server.ws_url, accounts[0]["token"], full)
        slots = asyncio.Semaphore(50)

        async def one(token: str) -> Socket:
            async with slots:
                return await _open(server.ws_url, token, full)

        followers = await asyncio.gather(*(one(a["token"]) for a in accounts[1:]))
        listeners = [Listener(ws) for ws in followers]
        # The author's answers and own copies are read here, not by a Listener.
        answers: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        own = 0
        own_changed = asyncio.Event()

        async def read_author() -> None:
            nonlocal own
            async for message in author_ws:
                frame = orjson.loads(message)
                if frame["op"] == "event":
                    own += 1
                    own_changed.set()
                elif frame["op"] in ("ok", "error"):
                    answers.put_nowait(frame)

        author_reader = asyncio.create_task(read_author())
        sent = 0
        for round_ in range(rounds):
            await asyncio.sleep(1.0)  # the server settles
            if counter is not None:
                counter.start()
            if tracer is not None:
                tracer.start(f"round{round_ + 1}")
                await asyncio.sleep(1.0)
            cpu0, _ = server.usage()
            own0, heard0 = own, sum(listener.events for listener in listeners)
            bytes0 = sum(listener.event_bytes for listener in listeners)
            if heartbeats:
                await asyncio.gather(*(listener.heartbeats(heartbeats) for listener in listeners))
                count, unit = heartbeats * len(listeners), "heartbeat"
                what = f"{count} heartbeats answered"
            else:
                for n in range(posts):
                    request = {
                        "op": "post.create",
                        "id": f"r{round_}p{n}",
                        "text": f"round {round_} post {n}",
                    }
                    await author_ws.send(orjson.dumps(request).decode())
                    answer = await answers.get()
                    if answer["op"] != "ok":
                        raise SystemExit(f"post.create failed: {answer}")
                    sent += 1
                    try:
                        async with asyncio.timeout(WAIT_S):
                            await _everyone_has(listeners, sent)
                    except TimeoutError:
                        raise SystemExit(
                            f"a follower lacks post {sent} after {WAIT_S} s: frames were lost"
                        ) from None
                while own < sent:  # both servers send the author its own posts too
                    own_changed.clear()
                    await own_changed.wait()
                heard = sum(listener.events for listener in listeners) - heard0
                count = own - own0 + heard
                size = (sum(listener.event_bytes for listener in listeners) - bytes0) / heard
                unit, what = (
                    "delivered frame",
                    f"{posts} posts to {users} followers, {count} frames of {size:.0f} bytes delivered",
                )
            cpu1, _ = server.usage()
            line = f"round {round_ + 1}: {what}: "
            if counter is not None:
                instructions, _ = counter.stop(f"round{round_ + 1}")
                line += f"{instructions / count:,.0f} instructions per {unit}"
            elif tracer is not None:
                calls = tracer.stop()
                line += f"{sum(calls.values()) / count:.2f} system calls per {unit} ({_top(calls, count)})"
            else:
                line += f"server CPU {(cpu1 - cpu0) * 1e6 / count:.1f} µs per {unit}"
            print(line + (" (ceiling)" if ceiling else ""), flush=True)
        author_reader.cancel()
        for listener in listeners:
            listener.task.cancel()
        await asyncio.gather(*(ws.close() for ws in [author_ws, *followers]), return_exceptions=True)
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.fanout_cost")
    parser.add_argument("users", type=int, nargs="?", default=500, help="followers of the author")
    parser.add_argument("--posts", type=int, default=20, help="posts per round")
    parser.add_argument(
        "--heartbeats",
        type=int,
        default=0,
        help="measure K heartbeats from every follower instead of the posts (an idle node's work)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds")
    parser.add_argument("--ceiling", action="store_true", help="the bare websockets broadcast server")
    parser.add_argument(
        "--full-events",
        action="store_true",
        help="do not ask for compact events (PROTOCOL.md section 3.5), as clients before 1.15.0",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--callgrind",
        action="store_true",
        help="count the server's instructions (valgrind) instead of timing",
    )
    how.add_argument(
        "--strace", action="store_true", help="count the server's system calls instead of timing"
    )
    args = parser.parse_args()
    asyncio.run(
        run(
            args.users,
            args.posts,
            args.heartbeats,
            args.rounds,
            args.ceiling,
            args.callgrind,
            args.strace,
            full=args.full_events,
        )
    )


if __name__ == "__main__":
    main()
