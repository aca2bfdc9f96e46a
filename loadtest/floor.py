"""The floor: Tsudoi's own uvicorn stack around an app that does nothing but what the ceiling
does for a connection.

``tsudoi serve`` runs uvicorn with its guarded h11 protocol (``server/guard.py``), its WebSocket
protocol (``server/gateway/fastwrite.py``), uvloop and uvicorn's proxy-headers middleware, and
the gateway as an ASGI app. This server keeps all of that and replaces the app with one that
sends ``hello``, takes any ``auth``, answers ``ready`` and waits for the close, as
``loadtest/ceiling.py`` does on ``websockets``' own server. What a connection costs here and
not there is the stack; what it costs Tsudoi and not here is the gateway's own work.

Run as ``python -m loadtest.floor PORT``; ``python -m loadtest.tools.resume_cost --floor``
measures it.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import uvicorn

from protocol.codec import PROTOCOL_NAME
from server.cli import uvicorn_config
from server.config import Settings
from server.guard import AUTHENTICATED

from .ceiling import HELLO


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept", "subprotocol": PROTOCOL_NAME})
    await send({"type": "websocket.send", "text": HELLO})
    await receive()  # auth: anything goes
    scope["extensions"][AUTHENTICATED]()  # as the gateway does: out of the caps on handshakes
    await send({"type": "websocket.send", "text": orjson.dumps({"op": "ready"}).decode()})
    while (await receive())["type"] != "websocket.disconnect":
        pass


def main() -> None:
    # Tsudoi's own configuration (``tsudoi serve``'s), with this app in the gateway's place: the
    # node's app is made but never started, so it opens no storage.
    config = uvicorn_config(Settings(host="127.0.0.1", port=int(sys.argv[1])), bootstrap=False)
    config.app = app
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
