"""A Tsudoi node started by the harness on this machine (embedded default or Redis), seeded.

Running the server here lets the harness read its CPU time and memory from /proc, and pin it to
cores of its own so that the load generator does not compete with it.

Its folder (``tsudoi-load-*`` in the temporary directory) holds the seeded database, the server's
and Redis' logs, and ``accounts.json``: every seeded account's live token. ``close()`` stops the
processes and removes it; the harness keeps it only when asked (``--keep``).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

#: The harness posts faster than a person may: lift the per-user brakes on its own server.
LOAD_ENV = {
    "TSUDOI_POST_BURST": "1000000",
    "TSUDOI_FRAME_BURST": "1000000",
    "TSUDOI_SQLITE_SYNCHRONOUS": "normal",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    def __init__(
        self,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        ceiling: bool = False,
        floor: bool = False,
        folder: Path | None = None,
        log: str = "server.log",
        open_files: int | None = None,
        prefix: list[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        """``folder``: where to keep the data and logs (its owner removes it); by default a new
        ``tsudoi-load-*`` folder in the temporary directory, which ``close()`` removes. Several
        nodes may share one folder (one SQLite database), each with a ``log`` of its own.
        ``open_files``: the server's open-file limit, soft and hard (a node with a low limit).
        ``prefix``: a command the server runs under (``valgrind --tool=callgrind ...``), which
        keeps the server's pid; ``start_timeout``: how long it may take to answer /healthz."""
        self.open_files = open_files
        self.prefix = list(prefix or [])
        self.start_timeout = start_timeout
        #: Run the bare-websockets ceiling server (loadtest/ceiling.py) instead of Tsudoi, or with
        #: ``floor`` Tsudoi's uvicorn stack around an app that does as little (loadtest/floor.py).
        self.ceiling = ceiling or floor
        self.bare_module = "loadtest.floor" if floor else "loadtest.ceiling"
        self.owns_folder = folder is None
        self.folder = folder if folder is not None else make_folder()
        self.port = _free_port()
        self.workers = workers
        self.env = {**os.environ, **LOAD_ENV, **(env or {})}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.redis: LocalRedis | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def seed(self, users: int, *, star: bool = False, degree: int = 0) -> dict[str, Any]:
        if self.ceiling:  # it takes any token and has no follow graph: everyone hears everything
            return {
                "accounts": [{"id": str(n), "handle": f"c{n}", "token": f"ceiling-{n}"} for n in range(users)]
            }
        out = self.folder / "accounts.json"
        command = [sys.executable, "-m", "server", "admin", "seed", "--create", "--users", str(users)]
        command += ["--out", str(out)]
        command += ["--data", str(self.folder / "data")] + (["--star"] if star else [])
        command += ["--degree", str(degree)] if degree else []
        subprocess.run(command, env=self.env, check=True, capture_output=True, timeout=600)
        accounts: dict[str, Any] = orjson.loads(out.read_bytes())
        return accounts

    def start(self, cores: set[int] | None = None) -> LocalServer:
        if self.ceiling:
            command = [sys.executable, "-m", self.bare_module, str(self.port)]
        else:
            command = [sys.executable, "-m", "server", "serve", "--port", str(self.port)]
            command += ["--data", str(self.folder / "data"), "--workers", str(self.workers)]
        command = self.prefix + command
        with (self.folder / self.log).open("ab") as log:
            limit = functools.partial(_limit_files, self.open_files) if self.open_files is not None else None
            self.proc = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit
            )
        if cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, cores)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                if self.ceiling:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except (httpx.TransportError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"the server did not start; its log ends:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log: the folder that holds it is removed when the run ends."""
        try:
            text = (self.folder / self.log).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def start_redis(self, cores: set[int] | None = None) -> str:
        """A private redis-server (Debian's package) for this run; returns its URL."""
        self.redis = LocalRedis(self.folder).start(cores)
        self.env["TSUDOI_REDIS_URL"] = self.redis.url
        return self.redis.url

    def pids(self) -> list[int]:
        """The server process and its children (the workers, under --workers)."""
        if self.proc is None:
            return []
        found = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    def usage(self) -> tuple[float, int]:
        """(CPU seconds used so far, resident memory in bytes) of the server's processes."""
        ticks = os.sysconf("SC_CLK_TCK")
        cpu, rss = 0.0, 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / ticks
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
            except OSError:
                continue
        return cpu, rss

    def admin(self, *args: str) -> None:
        """Run ``tsudoi admin ARGS`` on this server's data, as its operator would."""
        command = [sys.executable, "-m", "server", "admin", *args, "--data", str(self.folder / "data")]
        subprocess.run(command, check=True, capture_output=True, env=self.env)

    def stop(self) -> None:
        """Stop the server (and its workers, under --workers), then the private Redis, and wait
        for each to be gone. Safe to call again."""
        if self.proc is not None:
            children = {pid: _started(pid) for pid in self.pids()[1:]}
            if not _end(self.proc, 15):
                # The supervisor stops its workers itself; killed, it leaves them orphans. Kill
                # each that is still the same process (a pid can be reused once it is free).
                for pid, started in children.items():
                    if started is not None and _started(pid) == started:
                        os.kill(pid, signal.SIGKILL)
        if self.redis is not None:
            self.redis.stop()

    def close(self) -> None:
        """Stop everything, and remove the folder if this server made it."""
        self.stop()
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


class LocalRedis:
    """A private redis-server (Debian's package) on a port of its own, which a scenario may shut
    down and start again on the same port (``outage``). Nothing is persisted: a restarted Redis
    is empty, as after a crash of one that kept nothing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, cores: set[int] | None = None) -> LocalRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, cores)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited {self.proc.returncode}; see {self.folder / 'redis.log'}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on port {self.port} within 10 s")

    def shutdown(self, how: str = "shutdown") -> None:
        """Take Redis away: ``shutdown`` (``redis-cli shutdown nosave``, as an operator does),
        ``term`` (SIGTERM) or ``kill`` (SIGKILL, a crash). Returns once the process is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if how == "shutdown":
            command = ["redis-cli", "-p", str(self.port), "shutdown", "nosave"]
            subprocess.run(command, capture_output=True, timeout=10, check=False)
        elif how == "term":
            self.proc.terminate()
        elif how == "kill":
            self.proc.kill()
        else:
            raise ValueError(f"unknown way to stop Redis: {how!r} (shutdown, term or kill)")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # it did not go as told: make sure it is gone
            _end(self.proc, 5)

    def stop(self) -> None:
        """Stop it for good. Safe to call again."""
        if self.proc is not None:
            _end(self.proc, 5)


def _limit_files(limit: int) -> None:
    """In the server's process, before it runs: an open-file limit of ``limit``, soft and hard."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def make_folder() -> Path:
    """A new private folder for a run's data, logs and tokens (mode 0700, as mkdtemp makes it)."""
    return Path(tempfile.mkdtemp(prefix="tsudoi-load-"))


def _end(proc: subprocess.Popen[bytes], patience: float) -> bool:
    """Terminate ``proc`` and wait for it; kill it if it takes longer than ``patience`` seconds.
    True if it ended on its own or when told to, False if it had to be killed."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(patience)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True


def _started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None if there is none."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
