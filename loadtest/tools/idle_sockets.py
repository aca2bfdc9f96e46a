"""Does a burst of sockets that never authenticate leave memory behind in the server?

A real ``tsudoi serve`` runs as a separate process (no tracemalloc). Each round opens N WebSocket
connections at once; each completes the upgrade, reads ``hello`` and then sends nothing, until
the server's auth timeout closes it (4001) — or, with ``--client-closes``, until this tool
closes them all. The server's resident memory (VmRSS in /proc) is read before the first round
and, in every round, once all N have their ``hello`` ("during") and once all N are closed and
the server has had a moment to finish with them ("after"). Goal: "after" within 10 % of
the level before the burst.

    .venv/bin/python -m loadtest.tools.idle_sockets [N] [--rounds R] [--auth-timeout-ms MS]
        [--client-closes]

Numbers are recorded in BENCHMARKS.md ("Idle unauthenticated sockets").
"""

from __future__ import annotations

import argparse
import asyncio
import resource

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol.codec import PROTOCOL_NAME

from ..local import LocalServer

#: After the last socket closed: long enough for the server to finish its side of every
#: connection (close timers, tasks ending) before its memory is read.
SETTLE_SECONDS = 3.0
#: Sockets being opened at once: the admission limit is lifted for the run, but the tool's
#: own connect calls are paced so that a 2-core machine does not time them out.
CONNECTING_AT_ONCE = 500


def _raise_open_files(needed: int) -> None:
    """This process holds N client sockets, and the server it starts (which inherits the
    limit) N more: raise the soft limit of open files towards the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + 1024
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _open(ws_url: str, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        ws = await connect(
            ws_url,
            subprotocols=[PROTOCOL_NAME],  # type: ignore[list-item]
            compression=None,
            open_timeout=120,
            ping_interval=None,  # an idle socket: nothing at all after the upgrade
        )
        hello = orjson.loads(await ws.recv())
        if hello.get("op") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
        return ws


async def _sit(ws: ClientConnection) -> int | None:
    """Wait for the server to close the socket; its close code."""
    try:
        await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    raise RuntimeError("the server sent a frame to an unauthenticated socket after hello")


def _mib(rss: int) -> str:
    return f"{rss / 2**20:.1f} MiB"


async def run(sockets: int, rounds: int, auth_timeout_ms: int, client_closes: bool, settle: float) -> None:
    _raise_open_files(2 * sockets)
    env = {"TSUDOI_AUTH_TIMEOUT_MS": str(auth_timeout_ms), "TSUDOI_ADMISSION_RATE": str(10 * sockets)}
    server = LocalServer(env=env)
    try:
        server.start()
        await asyncio.sleep(SETTLE_SECONDS)
        before = server.usage()[1]
        print(f"{sockets} idle unauthenticated sockets a round; server RSS before: {_mib(before)}")
        start = before
        for number in range(1, rounds + 1):
            gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
            opened = await asyncio.gather(*(_open(server.ws_url, gate) for _ in range(sockets)))
            during = server.usage()[1]
            if client_closes:
                await asyncio.gather(*(ws.close() for ws in opened))
                codes = {ws.close_code for ws in opened}
            else:
                codes = set(await asyncio.gather(*(_sit(ws) for ws in opened)))
            await asyncio.sleep(settle)
            after = server.usage()[1]
            print(
                f"round {number}: during {_mib(during)}, after {_mib(after)}: "
                f"{(after - start) / start * 100:+.1f} % over the round's start, "
                f"{(after - before) / before * 100:+.1f} % over the first; "
                f"closed with {', '.join(sorted(map(str, codes)))}"
            )
            start = after
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.idle_sockets")
    parser.add_argument("sockets", type=int, nargs="?", default=3000, help="sockets a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--auth-timeout-ms", type=int, default=20_000, help="the server's TSUDOI_AUTH_TIMEOUT_MS"
    )
    parser.add_argument(
        "--client-closes", action="store_true", help="close the sockets from here, not by the auth timeout"
    )
    parser.add_argument(
        "--settle", type=float, default=SETTLE_SECONDS, help="seconds between the last close and reading RSS"
    )
    args = parser.parse_args()
    asyncio.run(run(args.sockets, args.rounds, args.auth_timeout_ms, args.client_closes, args.settle))


if __name__ == "__main__":
    main()
