"""Our uvicorn WebSocket protocol (``server/gateway/fastwrite.py``), on a fake transport: it serves a
connection as uvicorn's does, keeps less per connection, and logs connections apart, which
``tsudoi serve`` keeps quiet (the last test, on a real server)."""

from __future__ import annotations

import asyncio
import base64
import functools
import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from uvicorn._types import WebSocketReceiveEvent
from uvicorn.server import ServerState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from protocol.codec import PROTOCOL_NAME, event_frame
from protocol.errors import CloseCode
from server.cli import uvicorn_config
from server.config import Settings
from server.gateway import fastwrite
from server.gateway.fastwrite import CONNECTION_LOGGER, EXTENSION, FastWriteProtocol, FastWriter
from tests.support.client import Client, Users
from tests.support.server import ServerProcess, free_port
from tests.unit.test_connection import settle

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tsudoi.v1\r\nCookie: a=b\r\n\r\n"
)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = self.aborted = False
        #: What the kernel has not taken yet: a peer that stopped reading leaves it there.
        self.buffered = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


def protocol_for(app: Any) -> FastWriteProtocol:
    config = uvicorn.Config(app, ws=FastWriteProtocol, ws_per_message_deflate=False, ws_ping_interval=None)
    config.load()
    return FastWriteProtocol(config=config, server_state=ServerState(), app_state={})


def client_frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=True)


async def test_it_serves_a_connection_and_keeps_neither_a_dict_nor_the_upgrades_headers() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        await send({"type": "websocket.accept", "subprotocol": "tsudoi.v1"})
        message = await receive()
        seen.append(message)
        scope["extensions"][EXTENSION].write(message["text"].upper().encode())  # the fast path
        await send({"type": "websocket.close", "code": 4000})

    protocol = protocol_for(app)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    assert transport.written.startswith(b"HTTP/1.1 101")
    # Every attribute uvicorn sets lives in a slot (a later uvicorn adding some would show here).
    assert vars(protocol) == {}
    # websockets' parser keeps the request in a local of its generator; its headers are gone.
    request = protocol.conn.parser.gi_frame.f_locals["request"]  # type: ignore[attr-defined]
    assert len(request.headers) == 0 and protocol.request is None

    protocol.data_received(client_frame("hello"))
    await settle()
    assert [message["type"] for message in seen] == ["websocket.connect", "websocket.receive"]
    assert b"HELLO" in transport.written and transport.written.endswith(b"\x88\x02\x0f\xa0")  # 4000


async def test_a_close_goes_into_a_paused_transport_at_once_and_ends_the_apps_reading() -> None:
    """The client stopped reading (the transport is paused): the close frame is still written
    now, behind the frame before it, and the app's ``receive`` learns the connection is over."""
    done: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "tsudoi.v1"})
        writer = scope["extensions"][EXTENSION]
        writer.write(b"last")
        protocol.pause_writing()
        assert not writer.ready()
        writer.close(4002, "slow_consumer")
        writer.close(4002, "slow_consumer")  # a second close adds nothing
        done.append(await receive())

    protocol = protocol_for(app)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    close_frame = b"\x88\x0f\x0f\xa2slow_consumer"  # 4002 and its reason, unmasked
    assert transport.written.endswith(b"last" + close_frame)
    assert done == [{"type": "websocket.disconnect", "code": 4002, "reason": "slow_consumer"}]
    assert protocol.close_sent and protocol.close_timer is not None  # the peer gets close_timeout
    protocol.connection_lost(None)


async def closing_4002(scope: Any, receive: Any, send: Any) -> None:
    """An app that accepts, then closes the connection as a slow consumer."""
    await receive()
    await send({"type": "websocket.accept", "subprotocol": "tsudoi.v1"})
    scope["extensions"][EXTENSION].close(4002, "slow_consumer")
    await receive()


async def test_a_peer_that_never_reads_its_close_frame_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """After ``close_timeout`` without a reply the transport is closed, which would wait for the
    buffer to drain for ever; ``CLOSE_DRAIN_S`` later it is aborted."""
    monkeypatch.setattr(fastwrite, "CLOSE_DRAIN_S", 0.05)

    protocol = protocol_for(closing_4002)
    protocol.close_timeout = 0.05
    transport = FakeTransport()
    transport.buffered = 1 << 20  # megabytes the client never read
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    await asyncio.sleep(0.3)
    assert transport.closing and transport.aborted
    protocol.connection_lost(None)


async def test_a_peer_that_read_everything_is_closed_not_aborted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastwrite, "CLOSE_DRAIN_S", 0.05)

    protocol = protocol_for(closing_4002)
    protocol.close_timeout = 0.05
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    await asyncio.sleep(0.3)
    assert transport.closing and not transport.aborted
    protocol.connection_lost(None)


def received(n: int) -> WebSocketReceiveEvent:
    """An ASGI message as the protocol queues them for the app, told apart by its text."""
    return {"type": "websocket.receive", "text": str(n)}


async def test_the_inbox_serves_waiting_receivers_in_order_and_passes_on_a_cancelled_ones_turn() -> None:
    protocol = protocol_for(lambda scope, receive, send: None)
    inbox = protocol.queue
    assert inbox.empty()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await settle()
    inbox.put_nowait(received(1))
    first.cancel()  # woken, but cancelled before it ran: the message must go to the next one
    await settle()
    assert first.cancelled() and second.result() == received(1)
    inbox.put_nowait(received(2))
    inbox.put_nowait(received(3))
    assert [await inbox.get(), await inbox.get()] == [received(2), received(3)] and inbox.empty()


async def test_the_writable_flag_blocks_while_paused_and_wakes_every_waiter() -> None:
    protocol = protocol_for(lambda scope, receive, send: None)
    writable = protocol.writable
    assert writable.is_set()  # as uvicorn starts it
    protocol.pause_writing()
    waiters = [asyncio.ensure_future(writable.wait()) for _ in range(2)]
    await settle()
    assert not any(waiter.done() for waiter in waiters)
    protocol.resume_writing()
    await settle()
    assert all(waiter.result() is True for waiter in waiters)


def test_connection_records_go_to_a_logger_of_their_own() -> None:
    protocol = protocol_for(lambda scope, receive, send: None)
    assert protocol.logger.name == CONNECTION_LOGGER
    assert protocol.conn.logger is protocol.logger
    assert logging.getLogger(CONNECTION_LOGGER).parent is logging.getLogger("uvicorn.error")


async def test_serve_logs_its_start_but_not_every_connection(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    account = await users_of(server).new("quiet")
    client = await Client.login(server, account.token)
    await client.close()
    await asyncio.sleep(0.2)  # the server logs the close as it happens
    log = server.log()
    assert "Application startup complete" in log
    assert "connection open" not in log and "connection closed" not in log and "[accepted]" not in log


async def test_a_closed_connection_is_freed_at_once_not_left_to_the_garbage_collector(
    tmp_path: Path,
) -> None:
    """Sockets that never authenticate, closed by the client or by the auth timeout, leave
    nothing behind: no per-connection state in the gateway, and none of the connection's objects
    in reference cycles (which ``tsudoi serve``'s collector thresholds would keep for long: a
    burst of 3,000 such sockets kept 17 MiB, BENCHMARKS.md "Idle unauthenticated sockets").
    A real node in this process, so that its garbage can be inspected."""
    settings = Settings(port=free_port(), data_dir=tmp_path, auth_timeout_ms=300)
    config = uvicorn_config(settings, bootstrap=False)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    url = f"ws://127.0.0.1:{settings.port}/ws"
    gc.collect()
    gc.disable()  # an automatic collection must not free the cycles before they are looked for
    try:
        clients = [await connect(url, subprotocols=[PROTOCOL_NAME], ping_interval=None) for _ in range(6)]  # type: ignore[list-item]
        assert [orjson.loads(await ws.recv())["op"] for ws in clients] == ["hello"] * 6
        for ws in clients[:3]:
            await ws.close()
        for ws in clients[3:]:  # these wait for the auth timeout
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.AUTH_TIMEOUT
        while server.server_state.connections:  # the node finishes its side of each
            await asyncio.sleep(0.01)
        app = config.app
        assert isinstance(app, Starlette)
        assert list(app.state.services.gateway.open_connections()) == []
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [
            type(o).__name__
            for o in gc.garbage
            if isinstance(o, FastWriteProtocol | ServerProtocol)
            or (isinstance(o, asyncio.Transport) and o.get_extra_info("sockname")[1] == settings.port)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        server.should_exit = True
        await serving
    assert left == []


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_frames_written_directly_are_the_bytes_websockets_would_send(length: int) -> None:
    """FastWriter frames text itself (unmasked, no extension): byte for byte what websockets'
    own serialisation gives at every boundary of the length encoding."""
    payload = b"x" * length
    ours = fastwrite.text_frame_header(length) + payload
    assert ours == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


async def bytes_written(write: Callable[[FastWriter], object]) -> bytes:
    """What ``write`` puts on the wire through a FastWriter on a fresh connection, accepted and
    held open by its app until the connection is lost."""
    protocol = protocol_for(holding)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    start = len(transport.written)
    write(FastWriter(protocol))
    protocol.connection_lost(None)
    return bytes(transport.written[start:])


async def test_frames_written_together_are_the_bytes_written_one_by_one() -> None:
    """A backlog goes out in one transport write (write_many): the same bytes, in order, as one
    write per frame."""
    frames = [b'{"n":%d}' % n for n in range(3)] + [b"y" * 70_000]

    def one_by_one(writer: FastWriter) -> None:
        for frame in frames:
            writer.write(frame)

    apart = await bytes_written(one_by_one)
    together = await bytes_written(lambda writer: writer.write_many(frames))
    assert apart == together and apart.startswith(b'\x81\x07{"n":0}')


@pytest.mark.parametrize("length", [0, 82, 83, 84, 65_491, 65_492, 65_493, 70_000])
async def test_an_event_written_directly_is_the_frame_write_would_send(length: int) -> None:
    """try_write_event(seq, tail) is write(event_frame(seq, tail)), byte for byte, on each side of
    the header's 7-, 16- and 64-bit lengths (a frame is 43 bytes more than ``length`` at seq 1)
    and for a seq of any width."""
    tail = b'"type":"x","data":"' + b"y" * length + b'"}'
    for seq in (1, 99, 100, 123_456_789):
        framed = await bytes_written(functools.partial(FastWriter.write, frame=event_frame(seq, tail)))
        direct = await bytes_written(functools.partial(FastWriter.try_write_event, seq=seq, tail=tail))
        assert direct == framed and orjson.loads(direct[direct.index(b"{") :])["seq"] == seq


async def test_an_event_is_not_written_while_the_transport_is_paused() -> None:
    """try_write_event leaves a paused transport alone and says so: the caller queues the event."""

    def paused(writer: FastWriter) -> None:
        writer._protocol.pause_writing()
        assert writer.try_write_event(1, b'"type":"x","data":{}}') is False
        writer._protocol.resume_writing()
        assert writer.try_write_event(2, b'"type":"x","data":{}}') is True

    assert await bytes_written(paused) == b'\x81\x2b{"op":"event","seq":2,"type":"x","data":{}}'


def h11_request(raw: bytes) -> tuple[Any, list[tuple[bytes, bytes]]]:
    """The request h11 parses from ``raw``, and its headers as uvicorn's h11 protocol keeps them
    (names lower-cased)."""
    import h11

    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    return event, [(name.lower(), value) for name, value in event.headers]


def test_the_upgrade_request_h11_parsed_is_the_one_websockets_would_parse() -> None:
    event, headers = h11_request(
        UPGRADE.replace(b"Cookie: a=b", b"Cookie: caf\xe9=1\r\nX-Two: 1\r\nX-Two: 2")
    )
    made = fastwrite.handshake_request(event, headers)
    assert made is not None
    parsed = ServerProtocol()
    parsed.receive_data(fastwrite.request_bytes(event, headers))
    (theirs,) = parsed.events_received()
    assert (made.path, made.method, made.protocol) == (theirs.path, theirs.method, theirs.protocol)  # type: ignore[union-attr]
    assert list(made.headers.raw_items()) == list(theirs.headers.raw_items())  # type: ignore[union-attr]
    assert made.headers.get_all("x-two") == ["1", "2"]
    assert made.headers["cookie"] == "caf\xe9=1"  # latin-1, as websockets decodes it


@pytest.mark.parametrize(
    "change",
    [
        (b"GET /ws HTTP/1.1", b"GET /ws HTTP/1.0"),
        (b"Cookie: a=b", b"Transfer-Encoding: chunked"),
        (b"Cookie: a=b", b"Content-Length: 5"),
        (b"Cookie: a=b", b"Cookie: " + b"a" * 9000),
        (b"Cookie: a=b", b"\r\n".join(b"X-%d: 1" % n for n in range(130))),
    ],
    ids=["http-1.0", "transfer-encoding", "a-body", "a-long-line", "too-many-headers"],
)
def test_what_websockets_would_refuse_or_treat_apart_goes_to_it_as_bytes(change: tuple[bytes, bytes]) -> None:
    event, headers = h11_request(UPGRADE.replace(*change))
    assert fastwrite.handshake_request(event, headers) is None


async def accepting(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})


async def holding(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()  # until the client leaves


fastwrite_bytes = fastwrite.request_bytes


class HandedOverTransport(FakeTransport):
    """A transport whose protocol can be replaced, as the upgrade does."""

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol


async def test_an_upgrade_is_answered_as_websockets_answers_it_bytes_path_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end through our HTTP protocol: a plain upgrade (the request handed over as h11
    parsed it) is accepted, and one with a body (handed over as bytes) still refused."""
    from server.guard import Doorman, Limits, guarded_http

    limits = Limits(open_files=1024, open_files_before=1024, header_timeout_ms=5000, per_address=9, total=9)
    config = uvicorn.Config(
        accepting, ws=FastWriteProtocol, http=guarded_http(Doorman(limits)), ws_ping_interval=None
    )
    config.load()
    answers = []
    rebuilt: list[bytes] = []

    def counted(*args: Any) -> bytes:
        rebuilt.append(fastwrite_bytes(*args))
        return rebuilt[-1]

    monkeypatch.setattr(fastwrite, "request_bytes", counted)
    for raw in (UPGRADE, UPGRADE.replace(b"Cookie: a=b", b"Content-Length: 5") + b"hello"):
        transport = HandedOverTransport()
        make: Any = config.http_protocol_class
        protocol = make(config=config, server_state=ServerState(), app_state={})
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(raw)
        await settle()
        answers.append(bytes(transport.written).split(b"\r\n", 1)[0])
        if isinstance(transport.protocol, FastWriteProtocol):
            transport.protocol.connection_lost(None)
    assert answers[0] == b"HTTP/1.1 101 Switching Protocols"
    assert answers[1].startswith(b"HTTP/1.1 400 ")
    assert len(rebuilt) == 1  # only the refused one went to websockets as bytes


class CountingTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.pauses = self.resumes = 0

    def pause_reading(self) -> None:
        self.pauses += 1

    def resume_reading(self) -> None:
        self.resumes += 1


async def test_reading_pauses_once_a_frames_worth_waits_for_the_app_not_at_every_message() -> None:
    from protocol.codec import MAX_FRAME_BYTES

    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await done.wait()  # reads nothing meanwhile: what arrives waits in the inbox

    protocol = protocol_for(app)
    transport = CountingTransport()
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE)
    await settle()
    heartbeat = Frame(Opcode.TEXT, b'{"op":"heartbeat"}').serialize(mask=True)
    for _ in range(100):
        protocol.data_received(heartbeat)
    assert transport.pauses == 0  # a hundred small frames wait without a pause
    protocol.data_received(Frame(Opcode.TEXT, b"x" * (MAX_FRAME_BYTES - 1000)).serialize(mask=True))
    assert transport.pauses == 1 and protocol.read_paused
    taken: list[Any] = [await protocol.receive() for _ in range(101)]
    assert [m["text"] for m in taken[:1]] == ['{"op":"heartbeat"}'] and len(
        taken[-1]["text"]
    ) == MAX_FRAME_BYTES - 1000
    assert transport.resumes == 1 and not protocol.read_paused and protocol.queue.empty()
    done.set()
    await settle()
    protocol.connection_lost(None)
