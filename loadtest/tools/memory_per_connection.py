"""Where an idle connection's memory goes, and how much resident memory it costs.

Two measurements, both with N authenticated connections held idle (no traffic after ``ready``)
by a load-test worker process:

- the default: the app runs under uvicorn *in this process* with tracemalloc on, and the
  allocations made while the connections open are grouped by file (``--lines``: by line);
- ``--rss``: a real ``tsudoi serve`` runs as a separate process, without tracemalloc (which
  inflates memory), and its resident memory is read from /proc before and after. This is the
  "KiB per connection" figure the goal is about.

    .venv/bin/python -m loadtest.tools.memory_per_connection [N] [--lines] [--rss]

Numbers are recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path

import orjson
import uvicorn

from server.cli import uvicorn_config
from server.config import Settings

from .. import workers
from ..local import LocalServer, _free_port

#: Long enough after the last ready for the server's last allocations (the last handshakes'
#: tasks ending, the allocator settling) to be done.
SETTLE_SECONDS = 2.0


def _seed(data: Path, users: int) -> list[str]:
    out = data / "accounts.json"
    command = [sys.executable, "-m", "server", "admin", "seed", "--create", "--users", str(users), "--star"]
    subprocess.run([*command, "--data", str(data), "--out", str(out)], check=True, capture_output=True)
    return [account["token"] for account in orjson.loads(out.read_bytes())["accounts"]]


async def _hold(ws_url: str, tokens: list[str]) -> tuple[int, Connection]:
    """Open one idle connection per token in a worker process; returns (connected, the pipe)."""
    _, pipe = workers.start(None)
    loop = asyncio.get_running_loop()
    pipe.send(("connect", ws_url, list(enumerate(tokens))))
    _, report = await loop.run_in_executor(None, pipe.recv)
    return int(report["connected"]), pipe


async def _release(pipe: Connection) -> None:
    pipe.send(("collect",))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


async def allocations(users: int, *, by_line: bool = False) -> None:
    data = Path(tempfile.mkdtemp())
    tokens = _seed(data, users)
    port = _free_port()
    settings = Settings(port=port, data_dir=data)
    config = uvicorn_config(settings)  # exactly what `tsudoi serve` runs
    config.log_level = "warning"
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    tracemalloc.start(12)
    before = tracemalloc.take_snapshot()
    count, pipe = await _hold(f"ws://127.0.0.1:{port}/ws", tokens)
    await asyncio.sleep(SETTLE_SECONDS)
    after = tracemalloc.take_snapshot()
    total = sum(stat.size_diff for stat in after.compare_to(before, "traceback"))
    print(f"{count} connections: {total / count / 1024:.1f} KiB allocated by Python per connection")
    for stat in after.compare_to(before, "lineno" if by_line else "filename")[: 50 if by_line else 14]:
        frame = stat.traceback[0]
        name = frame.filename.split("site-packages/")[-1] + (f":{frame.lineno}" if by_line else "")
        print(f"  {stat.size_diff / count:8.0f} B/connection  {name}")
    await _release(pipe)
    server.should_exit = True
    await serving


async def resident(users: int) -> None:
    server = LocalServer()
    try:
        tokens = [account["token"] for account in server.seed(users, star=True)["accounts"]]
        server.start()
        await asyncio.sleep(SETTLE_SECONDS)
        _, idle = server.usage()
        count, pipe = await _hold(server.ws_url, tokens)
        await asyncio.sleep(SETTLE_SECONDS)
        _, loaded = server.usage()
        per = (loaded - idle) / count / 1024
        print(
            f"{count} connections: server RSS {idle / 2**20:.1f} MiB idle, {loaded / 2**20:.1f} MiB "
            f"with them: {per:.1f} KiB per connection"
        )
        await _release(pipe)
    finally:
        server.close()  # and its folder, with the seeded tokens


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.tools.memory_per_connection")
    parser.add_argument("users", type=int, nargs="?", default=2000, help="idle connections to open")
    parser.add_argument("--lines", action="store_true", help="group allocations by line, not file")
    parser.add_argument("--rss", action="store_true", help="measure a real server's resident memory")
    args = parser.parse_args()
    asyncio.run(resident(args.users) if args.rss else allocations(args.users, by_line=args.lines))


if __name__ == "__main__":
    main()
