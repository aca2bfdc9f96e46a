"""The load generator's WebSocket client (loadtest/wire.py) against a real WebSocket server:
``websockets``' own, which checks what a client sends as strictly as RFC 6455 asks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import CloseCode as WsClose

from loadtest.wire import Closed, HandshakeFailed, open_socket


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "close me":
            await ws.close(4007, "retry_after_ms=1500")
            return
        if message == "big":
            await ws.send("x" * 70_000)  # a 64-bit length
        elif message == "fragments":
            await ws.send(["frag", "ment", "ed"])  # three frames of one message
        elif message == "ping":
            pong = await ws.ping(b"p")
            await asyncio.wait_for(pong, 5)  # the client must answer it
            await ws.send("pinged")
        else:
            await ws.send(message)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serve(_echo, "127.0.0.1", 0, subprotocols=["tsudoi.v1"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def test_messages_go_both_ways_whatever_their_size_or_framing(url: str) -> None:
    ws = await open_socket(url, "tsudoi.v1", max_size=1 << 20, open_timeout=5)
    for text in ("héllo", "y" * 200, "z" * 70_000):  # 7-bit, 16-bit and 64-bit lengths, masked
        await ws.send(text)
        assert await ws.recv() == text.encode()
    await ws.send("big")
    assert await ws.recv() == b"x" * 70_000
    await ws.send("fragments")
    assert await ws.recv() == b"fragmented"
    await ws.send("ping")  # "pinged" comes only once the client has answered with a pong
    assert await asyncio.wait_for(ws.recv(), 10) == b"pinged"
    await ws.close()
    assert ws.close_code == WsClose.NORMAL_CLOSURE


async def test_a_close_from_the_server_says_its_code_and_reason(url: str) -> None:
    ws = await open_socket(url, "tsudoi.v1", max_size=1 << 20, open_timeout=5)
    await ws.send("close me")
    with pytest.raises(Closed) as closed:
        await ws.recv()
    assert (closed.value.code, closed.value.reason) == (4007, "retry_after_ms=1500")
    with pytest.raises(Closed):
        await ws.send("too late")
    assert [message async for message in ws] == []


async def test_a_frame_over_the_bound_closes_with_1009(url: str) -> None:
    ws = await open_socket(url, "tsudoi.v1", max_size=1_000, open_timeout=5)
    await ws.send("big")
    with pytest.raises(Closed) as closed:
        await ws.recv()
    assert closed.value.code == 1009


async def test_a_refused_subprotocol_or_upgrade_is_a_handshake_failure(url: str) -> None:
    with pytest.raises(HandshakeFailed, match="400"):  # websockets refuses what it cannot speak
        await open_socket(url, "other.v9", max_size=1_000, open_timeout=5)
    async with serve(_echo, "127.0.0.1", 0) as server:  # switches, but to no subprotocol
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(HandshakeFailed, match="subprotocol"):
            await open_socket(f"ws://127.0.0.1:{port}/", "tsudoi.v1", max_size=1_000, open_timeout=5)

    async def not_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        await writer.drain()
        writer.close()

    plain = await asyncio.start_server(not_websocket, "127.0.0.1", 0)
    port = plain.sockets[0].getsockname()[1]
    async with plain:
        with pytest.raises(HandshakeFailed, match="503"):
            await open_socket(f"ws://127.0.0.1:{port}/ws", "tsudoi.v1", max_size=1_000, open_timeout=5)
