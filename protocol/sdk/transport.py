"""The pieces under the client: URLs, back-off, the frame budget, and one live connection."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection

from protocol import messages as m

__all__ = ["Backoff", "Connection", "FrameBudget", "http_url", "ws_url"]


def ws_url(url: str) -> str:
    """``http://host:8000`` or ``ws://host:8000/ws`` → the WebSocket URL ``ws://host:8000/ws``."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def http_url(url: str) -> str:
    """The server's HTTP base URL, ``http://host:8000``, from either form."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.removesuffix("/ws").rstrip("/")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class Backoff:
    """Full-jitter exponential back-off (PROTOCOL.md section 10): wait a random time between 0
    and *d*, *d* doubling from ``initial_s`` up to ``max_s``; reset once a connection lasted."""

    def __init__(
        self, initial_s: float = 1.0, max_s: float = 60.0, *, rng: Callable[[], float] = random.random
    ) -> None:
        self.initial_s, self.max_s, self._rng = initial_s, max_s, rng
        self._d = initial_s

    def next(self) -> float:
        d, self._d = self._d, min(self._d * 2, self.max_s)
        return self._rng() * d

    def reset(self) -> None:
        self._d = self.initial_s


class FrameBudget:
    """The client's side of the frame budget: never send faster than the server allows."""

    def __init__(self, burst: int, refill_ms: int) -> None:
        # One frame of headroom, for the server's clock and ours to disagree a little.
        self.capacity = max(1, burst - 1)
        self.refill_s = max(refill_ms, 1) / 1000
        self.tokens = float(self.capacity)
        self.at = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) / self.refill_s)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) * self.refill_s)


@dataclass
class Connection:
    ws: ClientConnection
    hello: m.Hello
    #: Per stream, the position below which nothing is handed to handlers again: the cursor sent
    #: in ``auth``, or the start of the window behind it when ``recent`` was sent.
    floors: dict[str, str]
    bucket: FrameBudget
    pending: dict[str, asyncio.Future[dict[str, Any]]]
    last_recv: float
    last_send: float

    async def send(self, data: bytes) -> None:
        await self.bucket.take()
        await self.ws.send(data, text=True)
        self.last_send = time.monotonic()
