"""``tsudoi serve --workers N``: one listening socket, N gateway processes sharing it.

The parent binds the socket and starts N ``tsudoi serve`` children that inherit it, so the kernel
spreads new connections across them. Children share storage and meet on the Redis bus, which is
why more than one worker needs Redis: without it a post would reach only the followers connected
to the worker that stored it. The parent forwards SIGINT/SIGTERM (each child then closes its
WebSockets with 4000 and exits) and restarts a child that dies, after a pause.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from .config import Settings

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_workers(settings: Settings, workers: int) -> int:
    sock = bind(settings.host, settings.port)
    env = {
        **os.environ,
        "TSUDOI_HOST": settings.host,
        "TSUDOI_PORT": str(sock.getsockname()[1]),
        "TSUDOI_DATA_DIR": str(settings.data_dir),
    }
    command = [sys.executable, "-m", "server", "serve", "--fd", str(sock.fileno())]
    stopping = False
    children: dict[int, subprocess.Popen[bytes]] = {}

    def start(slot: int) -> None:
        children[slot] = subprocess.Popen(command, env=env, pass_fds=[sock.fileno()])  # noqa: S603 (our own command)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving on %s:%d with %d workers", settings.host, sock.getsockname()[1], workers)
    for slot in range(workers):
        start(slot)
    while not stopping:
        time.sleep(0.2)
        for slot, child in list(children.items()):
            code = child.poll()
            if code is not None and not stopping:
                log.error("worker %d (pid %d) exited with %s; restarting it", slot, child.pid, code)
                time.sleep(RESTART_PAUSE_S)
                start(slot)
    for child in children.values():
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
    sock.close()
    return 0
