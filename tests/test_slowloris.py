"""Slow and piled-up connections (issue 15, ``server/guard.py``), against a real server: late
request headers are closed, unauthenticated sockets are capped per address (while another address
is still served), and ``/healthz`` reports the limits.

Attackers connect from 127.0.0.3 and bystanders from 127.0.0.2 (every 127/8 address is loopback
on Linux): 127.0.0.1 is a proxy uvicorn trusts by default, which has no per-address cap.
"""

from __future__ import annotations

import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from tests.support.client import Client, Users
from tests.support.server import ROOT, ServerProcess

ATTACKER = "127.0.0.3"
BYSTANDER = "127.0.0.2"
#: How long the server may take to close or answer, on a loaded machine: a bound, not a measure.
GENEROUS_S = 30.0
#: A request whose headers are not finished (no blank line).
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: tsudoi\r\n"
FINISH = b"Connection: close\r\n\r\n"
PARTIAL_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: tsudoi\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def open_from(server: ServerProcess, source: str, sockets: ExitStack, head: bytes = PARTIAL) -> socket.socket:
    """A connection from ``source`` that has sent ``head`` (by default, headers left unfinished)."""
    sock = socket.create_connection(("127.0.0.1", server.port), GENEROUS_S, source_address=(source, 0))
    sockets.enter_context(sock)
    if head:
        sock.sendall(head)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as a close);
    TimeoutError if it is still open after GENEROUS_S."""
    received = bytearray()
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


def one_response(sock: socket.socket) -> bytes:
    """One whole response (head and body, by its content-length) from a kept-alive connection."""
    received = bytearray()
    while b"\r\n\r\n" not in received:
        received += sock.recv(4096)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def health(server: ServerProcess, source: str = BYSTANDER) -> dict[str, Any]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=GENEROUS_S) as client:
        response = client.get(f"{server.url}/healthz")
    assert response.status_code == 200, response.text
    limits: dict[str, Any] = response.json()["limits"]
    return limits


def wait_for_open(server: ServerProcess, at_least: int) -> None:
    """Until the server counts ``at_least`` unauthenticated connections (the asking one included)."""
    deadline = time.monotonic() + GENEROUS_S
    while health(server)["unauthenticated_open"] < at_least:
        assert time.monotonic() < deadline, "the server never counted the connections"
        time.sleep(0.05)


def refused(sock: socket.socket) -> bool:
    """True if the server closed ``sock`` without serving it: a 503, or a bare close or reset."""
    answer = until_closed(sock)
    return answer == b"" or answer.startswith(b"HTTP/1.1 503 ")


def served(sock: socket.socket) -> bool:
    """Finish the request left open on ``sock``; True if the server answers it with a 200."""
    sock.sendall(FINISH)
    return until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_requests_whose_headers_are_late_are_closed(
    start_server: Callable[..., ServerProcess], sockets: ExitStack
) -> None:
    server = start_server(TSUDOI_HEADER_TIMEOUT_MS="300")
    silent = open_from(server, ATTACKER, sockets, head=b"")
    partial = open_from(server, ATTACKER, sockets)
    upgrade = open_from(server, ATTACKER, sockets, head=PARTIAL_UPGRADE)
    for sock in (silent, partial, upgrade):
        assert until_closed(sock) == b""

    # Bytes trickled in do not restart the clock.
    trickler = open_from(server, ATTACKER, sockets)
    deadline = time.monotonic() + GENEROUS_S
    closed = False
    while not closed and time.monotonic() < deadline:
        try:
            trickler.sendall(b"x")
        except OSError:
            closed = True
        else:
            readable, _, _ = select.select([trickler], [], [], 0.05)
            closed = bool(readable) and until_closed(trickler) == b""
    assert closed, "a trickling client kept its connection open"

    # On a kept-alive connection the next request's headers are timed too.
    kept = open_from(server, ATTACKER, sockets, head=PARTIAL + b"\r\n")
    assert one_response(kept).startswith(b"HTTP/1.1 200 ")
    kept.sendall(PARTIAL)
    assert until_closed(kept) == b""
    assert health(server)["header_timeouts"] >= 5


def test_a_request_that_finishes_in_time_is_served(
    start_server: Callable[..., ServerProcess], sockets: ExitStack
) -> None:
    server = start_server(TSUDOI_HEADER_TIMEOUT_MS="60000")
    assert served(open_from(server, ATTACKER, sockets))


async def test_one_address_past_its_cap_is_refused_while_another_is_served(
    start_server: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
    sockets: ExitStack,
) -> None:
    server = start_server(TSUDOI_UNAUTHENTICATED_PER_ADDRESS="3", TSUDOI_HEADER_TIMEOUT_MS="120000")
    account = await users_of(server).new("bystander")
    held = [open_from(server, ATTACKER, sockets) for _ in range(3)]
    wait_for_open(server, 3 + 1)

    assert refused(open_from(server, ATTACKER, sockets))
    # Another address is served meanwhile: health, and logging in.
    assert health(server)["refused"] >= 1
    transport = httpx.AsyncHTTPTransport(local_address=BYSTANDER)
    async with httpx.AsyncClient(transport=transport, timeout=GENEROUS_S) as client:
        login = await client.post(
            f"{server.url}/api/login", json={"handle": account.handle, "password": account.password}
        )
    assert login.status_code == 200, login.text

    # The held sockets were admitted (each is served once it finishes), and a freed place is
    # taken again.
    assert served(held.pop())
    wait_until = time.monotonic() + GENEROUS_S
    while health(server)["unauthenticated_open"] > 2 + 1:
        assert time.monotonic() < wait_until
        time.sleep(0.05)
    assert served(open_from(server, ATTACKER, sockets))


def test_a_trusted_proxy_has_no_per_address_cap(
    start_server: Callable[..., ServerProcess], sockets: ExitStack
) -> None:
    # 127.0.0.1 is in uvicorn's FORWARDED_ALLOW_IPS by default: it speaks for many clients.
    server = start_server(TSUDOI_UNAUTHENTICATED_PER_ADDRESS="2", TSUDOI_HEADER_TIMEOUT_MS="120000")
    held = [open_from(server, "127.0.0.1", sockets) for _ in range(4)]
    assert all(served(sock) for sock in held)


async def test_websockets_count_until_they_authenticate(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server(TSUDOI_UNAUTHENTICATED_PER_ADDRESS="2")
    account = await users_of(server).new("ws")
    first, second = [await Client.open(server, local_addr=(ATTACKER, 0)) for _ in range(2)]
    for client in (first, second):
        await client.wait_hello()

    with pytest.raises((InvalidStatus, InvalidMessage, OSError)) as caught:
        async with connect(server.ws_url, subprotocols=["tsudoi.v1"], local_addr=(ATTACKER, 0)):  # type: ignore[list-item]
            pass
    if isinstance(caught.value, InvalidStatus):
        assert caught.value.response.status_code == 503

    # Past auth, a connection no longer counts: the address may open another.
    await first.send({"op": "auth", "token": account.token})
    assert (await first.next_frame())["op"] == "ready"
    third = await Client.open(server, local_addr=(ATTACKER, 0))
    assert (await third.wait_hello())["op"] == "hello"


def test_healthz_reports_the_open_file_limit_and_the_caps(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(TSUDOI_UNAUTHENTICATED_PER_ADDRESS="7", TSUDOI_HEADER_TIMEOUT_MS="4000")
    limits = health(server)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # The server raised its soft limit to the hard one it inherited from this process.
    assert limits["open_files"] == (None if hard == resource.RLIM_INFINITY else hard)
    assert limits["unauthenticated_per_address"] == 7
    assert limits["header_timeout_ms"] == 4000
    if limits["open_files"] is not None:
        assert 0 < limits["unauthenticated_max"] <= limits["open_files"] // 2
    assert "unauthenticated connections capped at 7 per address" in server.log()


def test_the_benchmark_runs_and_the_bystander_is_served(tmp_path: Path) -> None:
    """``loadtest/tools/slowloris.py`` in small (its figures are for BENCHMARKS.md, not asserted)."""
    out = tmp_path / "slowloris.json"
    command = [sys.executable, "-m", "loadtest.tools.slowloris", "--sockets", "100", "--samples", "2"]
    command += ["--interval", "1", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True, timeout=300)
    result = orjson.loads(out.read_bytes())
    assert result["attacked"]["healthz"]["ok"] == 2 and result["attacked"]["login"]["ok"] == 2
    assert result["server"]["limits"]["refused"] > 0  # 100 sockets, 64 per address
