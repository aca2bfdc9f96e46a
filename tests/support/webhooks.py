"""A webhook endpoint for the tests: a real HTTP server (uvicorn) on a free loopback port that
verifies every delivery with the SDK's verifier and records it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from protocol.webhooks import WebhookDelivery, WebhookVerificationError, verify

from .inprocess import serving
from .server import free_port


@dataclass
class Receiver:
    public_key: str
    port: int = field(default_factory=free_port)
    #: Every verified delivery, in arrival order (retries included).
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    #: Requests that failed verification.
    rejected: list[str] = field(default_factory=list)
    #: Answer this status instead of 204 while positive, counting down per request.
    fail_next: int = 0
    fail_status: int = 500
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        request = Request(scope, receive)  # type: ignore[arg-type]
        body = await request.body()
        try:
            delivery = verify(self.public_key, request.headers, body)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            await Response(status_code=401)(scope, receive, send)  # type: ignore[arg-type]
            return
        if self.fail_next > 0:
            self.fail_next -= 1
            await Response(status_code=self.fail_status)(scope, receive, send)  # type: ignore[arg-type]
            return
        self.deliveries.append(delivery)
        self.arrived.set()
        await Response(status_code=204)(scope, receive, send)  # type: ignore[arg-type]

    async def wait_for(self, count: int, timeout: float = 15) -> list[WebhookDelivery]:
        """Until ``count`` distinct ids have arrived; returns the deliveries (duplicates kept)."""
        async with asyncio.timeout(timeout):
            while len({d.id for d in self.deliveries}) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.deliveries


@contextlib.asynccontextmanager
async def receiving(public_key: str) -> AsyncIterator[Receiver]:
    receiver = Receiver(public_key)
    async with serving(receiver, receiver.port):
        yield receiver
