"""A real Tsudoi server in a subprocess: real uvicorn, a free loopback port, its own data folder."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: The cheap, documented test-only password hashing profile (see server/passwords.py).
TEST_ENV = {
    "TSUDOI_ARGON2_PROFILE": "test",
    "TSUDOI_SQLITE_SYNCHRONOUS": "normal",
    # Every test client comes from 127.0.0.1: lift the per-address and per-user brakes, except in
    # the tests of those brakes, which start servers of their own with the defaults.
    "TSUDOI_SIGNUP_ADDRESS_ATTEMPTS": "100000",
    "TSUDOI_LOGIN_ADDRESS_ATTEMPTS": "100000",
    "TSUDOI_POST_BURST": "100000",
    "TSUDOI_MESSAGE_BURST": "100000",
    "TSUDOI_BOT_POST_BURST": "100000",
    "TSUDOI_BOT_MESSAGE_BURST": "100000",
    "TSUDOI_FRAME_BURST": "100000",
}
_INVITE = re.compile(r"/i/([A-Za-z0-9_-]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``tsudoi serve`` on a free port. ``env`` adds TSUDOI_* settings."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, **TEST_ENV, **(env or {})}
        self.log_path = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: The first account (tests.support.client.Users makes it on first use).
        self.root: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 60, *, healthy: bool = True) -> ServerProcess:
        """Start, and wait until ``/healthz`` says 200 (with ``healthy=False``: until it answers at
        all, for a node started while a dependency is down). A node that does not, within
        ``timeout`` (generous: CI machines get busy), is stopped before the error is raised, so
        it cannot outlive its test."""
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data",
                    str(self.data_dir),
                    "--workers",
                    str(self.workers),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200 or not healthy:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become healthy in {timeout:.0f} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def bootstrap_invite(self) -> str:
        """The operator invite code the server printed on its empty database."""
        found = _INVITE.findall(self.log())
        if not found:
            raise AssertionError(f"no bootstrap invite printed:\n{self.log()}")
        return str(found[0])


def tsudoi(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the ``tsudoi`` command as an operator would, with the test settings."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **TEST_ENV, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
        check=False,
    )
