"""A synchronous frame writer for the fan-out path, offered by our uvicorn protocol.

(It also lets go of the upgrade's request and response once the handshake is done.)

Sending through ASGI costs, per frame and per recipient, an awaited ``send`` through Starlette's
wrappers and uvicorn's protocol, and a task wake-up for the connection's writer. Profiling the
5,000-follower fan-out put about half the event loop's time there (BENCHMARKS.md). Yet a frame to
an idle connection whose socket is writable can simply be framed and handed to the transport.

:class:`DirectProtocol` is uvicorn's sans-I/O WebSocket protocol with one addition: it offers a
:class:`DirectWriter` to the application as the ASGI extension ``tsudoi.direct``. The gateway
uses it when present and falls back to plain ASGI sends otherwise, so the app still runs under
any ASGI server. Frames written here go through the same websockets ``ServerProtocol`` object
uvicorn uses, so framing and connection state stay consistent with uvicorn's own sends.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

EXTENSION = "tsudoi.direct"


class DirectWriter:
    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        """True if a frame written now goes straight out: open, and not paused by backpressure."""
        protocol = self._protocol
        return (
            protocol.conn.state is State.OPEN
            and protocol.writable.is_set()
            and not protocol.transport.is_closing()
        )

    def write(self, frame: bytes) -> None:
        """Send one text frame (UTF-8 ``frame``) now. Call only when :meth:`ready`."""
        protocol = self._protocol
        try:
            protocol.conn.send_text(frame)
        except InvalidState:  # closing meanwhile: the frame has nowhere to go
            return
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))

    async def writable(self) -> None:
        """Wait until the transport accepts writes again (the client has read enough)."""
        await self._protocol.writable.wait()


class DirectProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering :class:`DirectWriter` to the app."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = DirectWriter(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message.get("type") == "websocket.accept":
            # uvicorn keeps the upgrade's request and response (their headers) for the life of
            # the connection, but needs neither once the response is sent: about 4.6 KiB each.
            self.request = self.response = None  # type: ignore[assignment]
