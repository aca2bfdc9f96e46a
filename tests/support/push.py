"""A Web Push service and a browser for the tests.

:class:`PushService` is a real HTTP server (uvicorn) on a free loopback port playing the push
service's endpoint (RFC 8030): it records every request and answers what the test tells it.
:class:`Browser` is what a browser keeps for one subscription: a P-256 key pair and a 16-byte
auth secret (RFC 8291); it decrypts a request's body with them, as the browser would, and
checks the VAPID signature (RFC 8292) as the push service would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.requests import Request
from starlette.responses import Response

from .inprocess import serving
from .server import free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: What the service answered.
    status: int


@dataclass
class PushService:
    port: int = field(default_factory=free_port)
    #: Every request, in arrival order.
    received: list[Received] = field(default_factory=list)
    #: Answers to give, per path, first to last; then 201.
    answers: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    #: While cleared, requests wait (a push service that does not answer yet).
    open: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.open.set()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        request = Request(scope, receive)  # type: ignore[arg-type]
        body = await request.body()
        path = request.url.path
        queued = self.answers.get(path) or []
        status, headers = queued.pop(0) if queued else (201, {})
        self.received.append(Received(path, dict(request.headers), body, status))
        self.arrived.set()
        await self.open.wait()
        await Response(status_code=status, headers=headers)(scope, receive, send)  # type: ignore[arg-type]

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> list[Received]:
        """Until ``count`` requests (to ``path``, if given) have arrived; returns them."""
        async with asyncio.timeout(timeout):
            while len(got := [r for r in self.received if path is None or r.path == path]) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return got


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    async with serving(service, service.port):
        try:
            yield service
        finally:
            service.open.set()  # an answer held back must not keep the server from stopping


class Browser:
    """One browser's push subscription keys, as ``PushManager.subscribe`` makes them."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self) -> dict[str, Any]:
        """``PushSubscription.toJSON()``, as push.subscribe takes it."""
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        payload: dict[str, Any] = json.loads(plain)
        return payload


def vapid_claims(authorization: str) -> tuple[dict[str, Any], str]:
    """The JWT claims of ``Authorization: vapid t=<JWT>,k=<key>`` and its key ``k``, after
    checking the ES256 signature against ``k``; AssertionError if anything is off."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(item.split("=", 1) for item in params.split(","))
    token, key = parts["t"], parts["k"]
    header_b64, claims_b64, signature_b64 = token.split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = unb64url(signature_b64)
    assert len(signature) == 64  # JWS ES256: r and s, 32 bytes each (RFC 7518 section 3.4)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    return claims, key
