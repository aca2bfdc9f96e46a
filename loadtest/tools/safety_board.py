"""How long ``safety.board`` takes for a user with many friends (issue 6: ≤ 50 ms for 1,000 on
SQLite). A benchmark, not a test: it prints figures for BENCHMARKS.md.

    .venv/bin/python -m loadtest.tools.safety_board [FRIENDS] [CALLS]

A local server on the embedded default is seeded with FRIENDS + 1 accounts, the first of which
is friends (mutual follows) with all others; every other friend has said how they are (one in
ten needs help), and each has been online. Then the first asks for the board's first page (50
entries) CALLS times over one connection; the figure is the round trip of each request, so it
includes the WebSocket hop and the JSON of 50 entries, not only the server's work.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from ..client import LoadClient
from ..local import LocalServer


async def call(client: LoadClient, op: str, **args: object) -> dict[str, Any]:
    frame = await client.request(op, **args)
    if frame["op"] != "ok":
        raise RuntimeError(f"{op}: {frame}")
    data: dict[str, Any] = frame["data"]
    return data


STATES = ("safe", "evacuating", "safe", "safe", "safe", "safe", "safe", "safe", "safe", "need_help")


async def main(friends: int, calls: int) -> None:
    server = LocalServer(env={"TSUDOI_ADMISSION_RATE": "100000"})
    try:
        accounts = server.seed(friends + 1, star=True)["accounts"]
        server.start()
        me = await LoadClient.open(server.ws_url, accounts[0]["token"], record=False)
        started = time.perf_counter()
        for number, friend in enumerate(accounts[1:]):
            await call(me, "follow", user_id=friend["id"])  # they follow me already (--star)
            if number % 2 == 0:
                client = await LoadClient.open(server.ws_url, friend["token"], record=False)
                await call(client, "safety.set", state=STATES[number % len(STATES)], note="無事です")
                await client.close()
        print(f"set up {friends} friends in {time.perf_counter() - started:.1f} s")
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            page = await call(me, "safety.board", limit=50)
            times.append((time.perf_counter() - began) * 1000)
        assert len(page["entries"]) == 50, page
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"safety.board, {friends} friends, first page of 50, {calls} calls: "
            f"p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms"
        )
        await me.close()
    finally:
        server.close()  # and its folder, with the seeded tokens


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 100)
    )
