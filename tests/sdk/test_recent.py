"""``auth.recent`` (protocol 1.8.0): the SDK names the positions it handled within
``limits.resume_window_ms`` behind its cursors, only to a server that announces the window, and
drops an event whose position it handled already (PROTOCOL.md sections 2.3, 6.2, 6.5).

What the SDK sends is read off a WebSocket server playing the Tsudoi server; what a real server
does with it is the last test: an item another node stored late reaches the bot after a
reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from protocol.codec import PROTOCOL_NAME
from protocol.recent import RecentPositions, floor_id, ms_of
from protocol.sdk import Client, JsonFileStore, MemoryStore
from protocol.sdk.cursors import RecentWindow, StreamCursors
from tests.support.client import Client as WsClient
from tests.support.client import Users
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess
from tests.test_protocol_doc import EXAMPLES

from .support import steady_backoff, until

_EXAMPLES: dict[str, dict[str, Any]] = {name: json.loads(body) for name, body in EXAMPLES}


def pos_at(ms: int, n: int = 1) -> str:
    """A valid position made at millisecond ``ms`` (``n`` orders those of one millisecond)."""
    return floor_id(ms)[:10] + f"{n:016d}"


# --- the pure parts ----------------------------------------------------------------------------


def test_positions_older_than_the_window_are_forgotten_and_memory_stays_bounded() -> None:
    recent = RecentPositions(window_ms=5000)
    start = 1_795_253_172_000
    for i in range(2000):  # 20 a second for 100 seconds
        assert recent.add("following", pos_at(start + 50 * i))
    assert not recent.add("following", pos_at(start + 50 * 1999))  # a duplicate
    assert recent.holds("following", pos_at(start + 50 * 1999))
    window = recent.window("following")
    assert len(window) == 101 and window[0] == pos_at(start + 50 * 1899)  # 5 s behind, both ends in
    assert len(recent._held["following"]) <= 2 * 101 + 64  # pruned as it goes


def test_auth_recent_lists_every_stream_nearest_the_cursor_first_and_at_most_the_limit() -> None:
    recent = RecentPositions(window_ms=1000)
    t = 1_795_253_172_000
    recent.add_all("following", [pos_at(t - 2000), pos_at(t - 900), pos_at(t)])
    recent.add_all("direct", [pos_at(t - 100), pos_at(t - 50)])
    cursors = {"following": pos_at(t), "direct": pos_at(t - 50)}
    # Ranked by how far behind its own cursor: the two cursors (0 ms), then 50 ms, then 900 ms;
    # t - 2000 is outside following's window.
    assert recent.for_auth(cursors, 10) == [pos_at(t - 50), pos_at(t), pos_at(t - 100), pos_at(t - 900)]
    assert recent.for_auth(cursors, 2) == [pos_at(t - 50), pos_at(t)]
    since = {"following": pos_at(t - 500)}
    assert recent.for_auth(cursors, 10, since) == [pos_at(t - 50), pos_at(t), pos_at(t - 100)]
    assert ms_of(pos_at(t)) == t


def test_stream_cursors_send_recent_only_with_something_known_behind_a_cursor() -> None:
    t = 1_795_253_172_000
    cursors = StreamCursors(MemoryStore())
    cursors.restart("following", floor_id(t))  # a first run: the server's clock, nothing held
    assert cursors.recent_for_auth(5000, 1000) is None
    assert cursors.floors(with_recent=True) == {"following": floor_id(t)}  # nothing before the start
    for n in (1, 2):
        assert cursors.accept("following", pos_at(t + 10 * n), None)
        cursors.handled("following", pos_at(t + 10 * n))
    assert cursors.recent_for_auth(5000, 1000) == [pos_at(t + 20), pos_at(t + 10)]
    floor = cursors.floors(with_recent=True)["following"]
    assert floor == floor_id(t)  # the window reaches back past the start: the start bounds it
    assert not cursors.accept("following", pos_at(t + 10), floor)  # handled: dropped
    assert cursors.accept("following", pos_at(t + 15), floor)  # stored late: taken
    assert not cursors.accept("following", pos_at(t - 1), floor)  # before the start: dropped
    # Without recent (an older server), nothing at or before the cursor is taken, as before 1.8.
    floor = cursors.floors(with_recent=False)["following"]
    assert not cursors.accept("following", pos_at(t + 16), floor)


def test_a_cursor_file_keeps_the_recent_positions_and_an_old_one_still_loads(tmp_path: Path) -> None:
    t = 1_795_253_172_000
    path = tmp_path / "cursors.json"
    path.write_bytes(json.dumps({"following": pos_at(t)}).encode())  # as written before 1.8
    old = StreamCursors(JsonFileStore(path))
    assert old.cursors == {"following": pos_at(t)} and old.recent_for_auth(5000, 1000) is None
    for n in (1, 3, 2):  # 2 is stored late
        old.accept("following", pos_at(t + n), None)
        old.handled("following", pos_at(t + n))
    saved = json.loads(path.read_text())
    assert saved["following"] == pos_at(t + 3)
    assert saved["recent"]["following"] == {
        "since": pos_at(t),  # nothing before the old cursor is known
        "held": [pos_at(t + n) for n in (0, 1, 2, 3)],
    }
    again = StreamCursors(JsonFileStore(path))
    assert JsonFileStore(path).load_recent()["following"] == RecentWindow(
        pos_at(t), tuple(pos_at(t + n) for n in (0, 1, 2, 3))
    )
    assert again.recent_for_auth(5000, 1000) == [pos_at(t + n) for n in (3, 2, 1, 0)]
    assert not again.accept("following", pos_at(t + 2), again.floors(with_recent=True)["following"])


# --- what the client sends: a server that records it ---------------------------------------------


def _hello(*, window: bool) -> dict[str, Any]:
    hello = copy.deepcopy(_EXAMPLES["hello"])
    if not window:  # as a 1.7 server sends it
        del hello["limits"]["resume_window_ms"], hello["limits"]["resume_recent_max"]
    return hello


def _post_event(pos: str) -> dict[str, Any]:
    event = copy.deepcopy(_EXAMPLES["event.post.created"])
    event["pos"] = event["data"]["post"]["id"] = pos
    return event


def stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is stopped (state T in /proc/PID/task/*/stat)."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            stat = (task / "stat").read_text()
            states.append(stat[stat.rindex(")") + 2])
    return bool(states) and all(state in "Tt" for state in states)


@asynccontextmanager
async def recording_server(
    hello: dict[str, Any], sessions: list[list[dict[str, Any]]]
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A WebSocket server that records every ``auth``, then sends ``ready`` and the events of
    ``sessions[i]`` on the i-th connection; every connection but the last is then closed (1012,
    as a restarting server does). Heartbeats are answered with a clock far in the past, so the
    cursors the SDK gives its empty streams are before every event here."""
    auths: list[dict[str, Any]] = []

    async def session(ws: ServerConnection) -> None:
        try:
            await ws.send(json.dumps(hello))
            auths.append(json.loads(await ws.recv()))
            await ws.send(json.dumps(_EXAMPLES["ready"]))
            index = min(len(auths), len(sessions)) - 1
            for event in sessions[index]:
                await ws.send(json.dumps(event))
            if len(auths) < len(sessions):
                await asyncio.sleep(0.3)  # room for the events to be handled before the close
                await ws.close(1012, "restarting")
                return
            async for raw in ws:
                request = json.loads(raw)
                answer = {"server_time": "2020-01-01T00:00:00.000Z"}
                await ws.send(json.dumps({"op": "ok", "id": request["id"], "data": answer}))
        except ConnectionClosed:
            pass

    async with serve(session, "127.0.0.1", 0, subprotocols=[Subprotocol(PROTOCOL_NAME)]) as server:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"ws://{host}:{port}/ws", auths


async def _run_two_sessions(hello: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    t = int(time.time() * 1000)
    first, second, late, third = pos_at(t - 300), pos_at(t - 100), pos_at(t - 200), pos_at(t)
    sessions = [
        [_post_event(first), _post_event(second)],
        # A 1.8 server may send a position again (one left out of recent) and one stored late.
        [_post_event(first), _post_event(late), _post_event(second), _post_event(third)],
    ]
    async with recording_server(hello, sessions) as (url, auths):
        bot = Client(url, "tsd_x", backoff=steady_backoff(0.05))
        seen: list[str] = []
        bot.on("post.created")(lambda event: seen.append(event.post.id))
        async with asyncio.timeout(15), bot:
            await until(lambda: len(auths) == 2 and third in seen, what="the second session's events")
            await asyncio.sleep(0.2)  # room for a duplicate to show up
    return auths, seen, [first, second, late, third]


async def test_a_resume_names_the_positions_handled_within_the_window() -> None:
    auths, seen, (first, second, late, third) = await _run_two_sessions(_hello(window=True))
    assert "recent" not in auths[0]  # nothing held yet
    assert auths[1]["cursors"]["following"] == second
    assert auths[1]["recent"] == [second, first]  # nearest the cursor first
    assert seen == [first, second, late, third]  # the repeats dropped, the late one taken


async def test_no_recent_to_a_server_before_1_8_and_its_hello_still_reads() -> None:
    auths, seen, (first, second, _late, third) = await _run_two_sessions(_hello(window=False))
    assert auths[1]["cursors"]["following"] == second
    assert "recent" not in auths[0] and "recent" not in auths[1]
    assert seen == [first, second, third]  # behind the cursor nothing is taken, as before 1.8


# --- against a real server ------------------------------------------------------------------


async def test_a_post_another_node_stored_late_reaches_the_bot_after_a_reconnect(
    redis_server: RedisProcess,
    start_node: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
) -> None:
    """Node A makes a post's id, then its write waits (a test transaction holds SQLite's write
    lock, and A is paused); node B stores a later post meanwhile, which the bot on B handles;
    B goes down, A stores its post (a smaller ``pos`` than the bot's cursor), and B comes back.
    The bot's resume names what it holds behind its cursor, and is sent the late post."""
    a, b = start_node(redis_server), start_node(redis_server)
    users = users_of(a)
    slow, quick = await users.new("slow"), await users.new("quick")
    fan = await users.new("fan", invited_by=slow)
    fan_ws = await WsClient.login(a, fan.token)
    await fan_ws.call("follow", user_id=quick.id)
    await fan_ws.close()
    slow_ws, quick_ws = await WsClient.login(a, slow.token), await WsClient.login(b, quick.token)
    bot = Client(b.url, fan.token, backoff=steady_backoff(0.2))
    seen: list[str] = []
    bot.on("post.created")(lambda event: seen.append(event.post.id))
    assert a.proc is not None
    async with bot:
        first = (await quick_ws.call("post.create", text="first"))["post"]["id"]
        await until(lambda: first in seen, what="the first post")
        lock = sqlite3.connect(a.data_dir / "tsudoi.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        # A generous time limit: A is paused below for as long as B takes to stop.
        writing = asyncio.create_task(
            slow_ws.call_frame("post.create", timeout=60, text="made first, stored last")
        )
        await asyncio.sleep(1.0)  # A has made the id and waits for the lock (checked below)
        a.proc.send_signal(signal.SIGSTOP)
        # kill() returns before the process has stopped: a thread of A's running at that moment
        # stops at its next entry to the kernel. Release the lock only once every thread has,
        # or A's writer may take it first and hold it, stopped, until B's writes time out.
        pid = a.proc.pid
        await until(lambda: stopped(pid), what="node A to stop")
        lock.execute("ROLLBACK")
        lock.close()
        early = (await quick_ws.call("post.create", text="made last, stored first"))["post"]["id"]
        await until(lambda: early in seen, what="the later post")
        await asyncio.to_thread(b.stop)
        a.proc.send_signal(signal.SIGCONT)
        answer = await writing
        assert answer["op"] == "ok", answer
        late = answer["data"]["post"]["id"]
        assert late < early, "the test's premise: the late post sorts before the bot's cursor"
        await asyncio.to_thread(b.start)
        await until(lambda: late in seen, timeout=20, what="the post stored late")
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    assert seen == [first, early, late]
    await slow_ws.close()
