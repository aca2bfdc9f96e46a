"""The ceiling: a bare ``websockets`` broadcast server, measured with the same harness.

It speaks just enough of protocol v1 for the harness's clients (``hello``, ``auth`` → ``ready``
for any token, ``heartbeat``, and ``post.create``, answered and broadcast as ``post.created``)
and does nothing else: no storage, no accounts, no per-connection sequence numbers, one
``websockets.broadcast`` of the same bytes to every connection. What it costs per delivered frame
is what the runtime costs, so Tsudoi's figures read as a ratio of it on the same machine.

Run as ``python -m loadtest.ceiling PORT``.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.typing import Subprotocol

from protocol.codec import PROTOCOL_NAME

HELLO = orjson.dumps(
    {
        "op": "hello",
        "protocol": PROTOCOL_NAME,
        "heartbeat_interval_ms": 25_000,
        "heartbeat_timeout_ms": 60_000,
    }
).decode()
_ids = itertools.count()
_connections: set[ServerConnection] = set()


async def _handle(ws: ServerConnection) -> None:
    await ws.send(HELLO)
    await ws.recv()  # auth: anything goes
    await ws.send('{"op":"ready"}')
    _connections.add(ws)
    try:
        async for message in ws:
            request = orjson.loads(message)
            if request["op"] == "post.create":
                post_id = f"{next(_ids):026d}"
                await ws.send(
                    orjson.dumps(
                        {"op": "ok", "id": request["id"], "data": {"post": {"id": post_id}}}
                    ).decode()
                )
                event = {"op": "event", "type": "post.created", "stream": "following", "pos": post_id}
                broadcast(
                    _connections,
                    orjson.dumps(
                        {**event, "data": {"post": {"id": post_id, "text": request["text"]}}}
                    ).decode(),
                )
            else:
                await ws.send(orjson.dumps({"op": "ok", "id": request["id"], "data": {}}).decode())
    finally:
        _connections.discard(ws)


async def main(port: int) -> None:
    async with serve(
        _handle,
        "127.0.0.1",
        port,
        subprotocols=[Subprotocol(PROTOCOL_NAME)],
        compression=None,
        ping_interval=None,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
