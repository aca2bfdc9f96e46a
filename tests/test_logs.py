"""The log an operator reads during an outage: a dependency that is down is one line when it goes
and one when it is back, and strangers' malformed frames are a summary, never a traceback each.
A real server, a real Redis started late on the port it was told, real WebSocket clients."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from protocol.codec import MAX_FRAME_BYTES, PROTOCOL_NAME
from tests.support.client import Client, Users
from tests.support.metrics import scrape_when
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess, free_port

OUTAGE_ENV = {
    # Many failing rounds in a short test: every loop that depends on Redis fails often.
    "TSUDOI_PRESENCE_TICK_MS": "100",
}


async def log_shows(server: ServerProcess, pattern: str, count: int, timeout: float = 15) -> None:
    """Wait until the server's log has ``count`` lines matching ``pattern``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(re.findall(pattern, server.log(), re.M)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {count} lines matching {pattern!r}:\n{server.log()}")
        await asyncio.sleep(0.05)


async def test_redis_down_at_start_is_one_line_per_dependency_and_one_when_it_is_back(
    tmp_path: Path, users_of: Callable[[ServerProcess], Users]
) -> None:
    redis_port = free_port()  # nothing listens there until the test starts Redis on it
    server = ServerProcess(
        tmp_path / "data", {"TSUDOI_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", **OUTAGE_ENV}
    ).start(healthy=False)
    redis = RedisProcess(tmp_path / "redis")
    redis.port = redis_port
    try:
        # Connections opened and closed meanwhile fail to register their presence: counted, not logged.
        users = users_of(server)
        account = await users.operator()
        for _ in range(5):
            client = await Client.login(server, account.token)
            await client.close()
        await log_shows(server, r"presence store unreachable", 1)
        await asyncio.sleep(2)  # some twenty more presence ticks and several bus reconnects, all failing

        log = server.log()
        assert (
            len(
                re.findall(
                    r"^WARNING server\.bus\.redis: redis bus unreachable: ConnectionRefusedError", log, re.M
                )
            )
            == 1
        ), log
        assert (
            len(
                re.findall(
                    r"^WARNING server\.domain\.presence: presence store unreachable: ConnectionRefusedError",
                    log,
                    re.M,
                )
            )
            == 1
        ), log
        assert "delivering locally only" in log
        assert "Traceback" not in log and "ERROR" not in log, log

        redis.start()
        await log_shows(server, r"redis bus back after [0-9.]+ s \(\d+ failures?\)", 1)
        await log_shows(server, r"presence store back after [0-9.]+ s \(\d+ failures?\)", 1)
        await asyncio.sleep(0.5)  # more ticks, now succeeding: nothing more to say
        log = server.log()
        assert len(re.findall(r"unreachable", log)) == 2, log
        assert len(re.findall(r"back after", log)) == 2, log
        assert "Traceback" not in log, log
        failures = re.search(r"presence store back after [0-9.]+ s \((\d+) failures?\)", log)
        assert failures is not None and int(failures.group(1)) > 10  # the ticks were counted
    finally:
        # Killed: a node on Redis sometimes takes the whole 10 s grace to stop (seen before this
        # test existed), and nothing here depends on a clean stop.
        server.stop(signal.SIGKILL)
        redis.stop()


async def malformed(server: ServerProcess, payload: bytes) -> int | None:
    """Open a WebSocket, send ``payload`` as one text frame unchecked, and return the close code
    the server sent."""
    async with connect(server.ws_url, subprotocols=[PROTOCOL_NAME], max_size=None) as ws:  # type: ignore[list-item]
        await ws.recv()  # hello
        await ws.send(payload, text=True)  # text=True: bytes sent as a text frame, not checked
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        return ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None


async def test_malformed_frames_are_counted_and_summed_up_never_a_traceback_each(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    before = len(server.log())
    codes = [await malformed(server, b'{"op": "auth", "token": "\xff\xfe"}') for _ in range(50)]
    assert codes == [1007] * 50  # RFC 6455 7.4.1, as PROTOCOL.md section 1 says
    assert await malformed(server, b"x" * (MAX_FRAME_BYTES + 1)) == 1009

    scrape = await scrape_when(
        server,
        lambda s: (
            s.value("tsudoi_protocol_violations_total", kind="invalid_utf8") == 50
            and s.value("tsudoi_protocol_violations_total", kind="too_big") == 1
        ),
    )
    assert scrape.value("tsudoi_protocol_violations_total", kind="invalid_utf8") == 50
    written = server.log()[before:]
    assert "Traceback" not in written and "ERROR" not in written, written
    # The first at once; the rest wait for the minute's summary.
    assert len(re.findall(r"closed for malformed frames", written)) == 1, written

    server.stop()  # a stopping node says what its pending summary would have said
    summed = re.findall(r"(\d+) connections? closed for malformed frames.*\((.*)\)", server.log())
    by_kind: dict[str, int] = {}
    for _, kinds in summed:
        for kind, n in re.findall(r"(\w+): (\d+)", kinds):
            by_kind[kind] = by_kind.get(kind, 0) + int(n)
    assert by_kind == {"invalid_utf8": 50, "too_big": 1}
    assert sum(int(total) for total, _ in summed) == 51
