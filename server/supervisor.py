"""``tsudoi serve --workers N``: one listening socket, N gateway processes sharing it.

The parent binds the socket and starts N ``tsudoi serve`` children that inherit it, so the kernel
spreads new connections across them. Children share storage and meet on the Redis bus, which is
why more than one worker needs Redis: without it a post would reach only the followers connected
to the worker that stored it. The parent forwards SIGINT/SIGTERM as SIGTERM (each child then
closes its WebSockets with 4000 and exits 0) and restarts a child that dies, after a pause.
Children run in a process group of their own, so a Ctrl-C at the terminal reaches them once,
through the parent: a second SIGINT of its own would make uvicorn cut a child's drain short.
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
from .exits import OK, PROBLEM, CommandFailed

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen(settings: Settings) -> socket.socket:
    """The listening socket of ``tsudoi serve`` (bound here, not by uvicorn, so that a port in
    use is one line and status 1, not uvicorn's log and status 3); CommandFailed if it cannot be."""
    try:
        return bind(settings.host, settings.port)
    except OSError as exc:  # in use, not ours to bind, no such address (socket.gaierror too)
        reason = exc.strerror or str(exc)
        raise CommandFailed(f"cannot listen on {settings.host}:{settings.port}: {reason}") from None


def run_workers(settings: Settings, workers: int, sock: socket.socket) -> int:
    """Serve on ``sock`` until SIGTERM or SIGINT; 0 if every worker then drained and exited 0."""
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
        children[slot] = subprocess.Popen(  # noqa: S603 (our own command)
            command, env=env, pass_fds=[sock.fileno()], process_group=0
        )

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
    status = OK
    for child in children.values():
        try:
            code = child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        # A worker still starting when the signal came dies of it (uvicorn handles SIGTERM only
        # from just before it starts serving): it had no connection to drain, so that is clean.
        if code not in (0, -signal.SIGTERM):
            log.error("worker pid %d exited with %s while stopping", child.pid, code)
            status = PROBLEM
    sock.close()
    return status
