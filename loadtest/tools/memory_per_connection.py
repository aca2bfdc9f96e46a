"""Where an idle connection's memory goes.

The app runs under uvicorn in this process with tracemalloc on; a worker process opens N
authenticated idle connections; the allocations made meanwhile are grouped by file.

    .venv/bin/python -m loadtest.tools.memory_per_connection [N]

Numbers are recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import orjson
import uvicorn

from server.cli import uvicorn_config
from server.config import Settings

from .. import workers
from ..local import _free_port


def _seed(data: Path, users: int) -> list[str]:
    out = data / "accounts.json"
    command = [sys.executable, "-m", "server", "admin", "seed", "--users", str(users), "--star"]
    subprocess.run([*command, "--data", str(data), "--out", str(out)], check=True, capture_output=True)
    return [account["token"] for account in orjson.loads(out.read_bytes())["accounts"]]


async def main(users: int) -> None:
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
    _, pipe = workers.start(None)
    loop = asyncio.get_running_loop()
    pipe.send(("connect", f"ws://127.0.0.1:{port}/ws", list(enumerate(tokens))))
    _, report = await loop.run_in_executor(None, pipe.recv)
    await asyncio.sleep(2)
    after = tracemalloc.take_snapshot()
    count = report["connected"]
    total = sum(stat.size_diff for stat in after.compare_to(before, "traceback"))
    print(f"{count} connections: {total / count / 1024:.1f} KiB allocated by Python per connection")
    for stat in after.compare_to(before, "filename")[:14]:
        name = stat.traceback[0].filename.split("site-packages/")[-1]
        print(f"  {stat.size_diff / count:8.0f} B/connection  {name}")
    pipe.send(("collect",))
    await loop.run_in_executor(None, pipe.recv)
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
