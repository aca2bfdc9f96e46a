"""Small helpers shared by the SDK's tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from protocol.sdk import Backoff
from tests.support.server import ROOT


def steady_backoff(seconds: float = 0.2) -> Backoff:
    """A back-off without randomness: every wait is ``seconds`` (the bound never grows past it)."""
    return Backoff(initial_s=seconds, max_s=seconds, rng=lambda: 1.0)


async def until(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Example:
    """One of examples/*.py running in a subprocess, its output in a log file."""

    def __init__(self, script: str, *args: str, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "examples" / script), *args],
                cwd=log.parent,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, text: str, count: int = 1, timeout: float = 15) -> None:
        await until(
            lambda: self.output().count(text) >= count or self.proc.poll() is not None,
            timeout,
            what=f"{text!r} in the output of {self.log.name}",
        )
        if self.output().count(text) < count:
            raise AssertionError(f"exited {self.proc.returncode} before {text!r}:\n{self.output()}")

    async def stop(self, timeout: float = 15) -> int:
        """SIGTERM, as an operator's service manager stops it; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return await self.exited(timeout)

    async def exited(self, timeout: float = 30) -> int:
        await until(lambda: self.proc.poll() is not None, timeout, what=f"{self.log.name} to exit")
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
