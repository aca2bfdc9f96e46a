"""A private redis-server (Debian's package) on a free loopback port, for tests."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .server import free_port


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed: scripts/test installs it from Debian")
        self.executable = executable

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--protected-mode",
            "yes",
            *self.extra_args(),
        ]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def extra_args(self) -> list[str]:
        return []

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RedisCluster:
    """Three cluster-enabled redis-servers joined into one Redis Cluster (no replicas)."""

    def __init__(self, workdir: Path) -> None:
        self.nodes = [_ClusterNode(workdir / f"node{n}") for n in range(3)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (Debian's redis-tools, with redis-server)")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            info = subprocess.run(
                [cli, "-p", str(self.nodes[0].port), "cluster", "info"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout
            if "cluster_state:ok" in info:
                return self
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def shard_channels(self) -> set[str]:
        """The sharded channels someone listens to now, over every node (PUBSUB SHARDCHANNELS)."""
        cli = shutil.which("redis-cli") or "redis-cli"
        found: set[str] = set()
        for node in self.nodes:
            listed = subprocess.run(
                [cli, "-p", str(node.port), "pubsub", "shardchannels"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout
            found.update(line for line in listed.splitlines() if line)
        return found

    def kill_pubsub_clients(self) -> None:
        """Close every pub/sub client's connection on every node (CLIENT KILL TYPE pubsub), as a
        node restart or a network blip would."""
        cli = shutil.which("redis-cli") or "redis-cli"
        for node in self.nodes:
            subprocess.run(
                [cli, "-p", str(node.port), "client", "kill", "type", "pubsub"],
                capture_output=True,
                timeout=5,
                check=True,
            )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _free_cluster_port() -> int:
    """A port whose cluster bus port (+10000, so at most 55535) is free as well."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class _ClusterNode(RedisProcess):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = _free_cluster_port()

    def extra_args(self) -> list[str]:
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]
