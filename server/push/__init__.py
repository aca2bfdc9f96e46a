"""Web Push: what the server needs to push to a browser whose page is closed.

Three standards, two libraries: a push is an HTTP POST to the endpoint the browser's push
service gave it (RFC 8030), its body encrypted to the browser's keys (RFC 8291, ``aes128gcm``,
with ``http-ece``), the request signed with the server's VAPID key (RFC 8292, ``py-vapid``):
``Authorization: vapid t=<JWT>,k=<public key>``. The requests go through httpx, as webhooks'
do, dialled only to addresses checked first (``server.webhooks.pinning``).

The VAPID key pair is made by the first node to start and kept in storage
(``Storage.server_key``), so that every node signs with the same key: a browser subscribed
with one public key accepts pushes signed by that key only.

:mod:`server.domain.pushes` decides what to push and queues it; :mod:`.sender` sends the queue.
See ``docs/topics/push.md``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import sqlite3
import time
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from protocol.errors import ErrorCode, ProtocolError

from ..config import Settings
from ..health import Finding
from ..store.base import Storage

__all__ = ["VAPID_KEY_NAME", "Vapid", "check_endpoint", "encrypt", "endpoint_origin", "load_vapid"]

#: The key's name in storage (``Storage.server_key``).
VAPID_KEY_NAME = "web-push-vapid-p256"
#: How long a VAPID token is valid: RFC 8292 section 2 allows at most 24 hours.
TOKEN_LIFETIME_S = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError if it is not."""
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Vapid:
    """The deployment's VAPID key pair, and the signature of push requests with it."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self._vapid = Vapid02(private_key, conf={"no-strict": not _strict_subject(subject)})
        self._subject = subject
        point = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        #: The uncompressed P-256 point, base64url without padding (``applicationServerKey``).
        self.public_key = b64url(point)

    def headers(self, endpoint: str, now_s: int | None = None) -> dict[str, str]:
        """The ``Authorization`` header for a push to ``endpoint``: a JWT for the push service's
        origin (``aud``), valid for :data:`TOKEN_LIFETIME_S`, with the operator's contact."""
        now_s = int(time.time()) if now_s is None else now_s
        claims = {"aud": endpoint_origin(endpoint), "exp": now_s + TOKEN_LIFETIME_S, "sub": self._subject}
        signed: dict[str, str] = self._vapid.sign(claims)
        return {"Authorization": signed["Authorization"]}


def _strict_subject(subject: str) -> bool:
    """Whether py-vapid's own check of ``sub`` (a mailto: address or a public https URL) would
    pass; an http:// subject (a development server) is sent as is."""
    return subject.startswith(("mailto:", "https://"))


async def load_vapid(store: Storage, subject: str) -> Vapid:
    """The deployment's key: made by the first node to ask, the same for all after."""
    candidate = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    raw = await store.server_key(VAPID_KEY_NAME, candidate)
    return Vapid(ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1()), subject)


def encrypt(payload: bytes, p256dh: str, auth: str) -> bytes:
    """``payload`` encrypted for one subscription (RFC 8291 ``aes128gcm``): a fresh sender key
    pair and salt per message, the sender's public key in the body's header."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=sender,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
    )
    return body


def endpoint_origin(endpoint: str) -> str:
    """The scheme and host (and port, if any) of an endpoint: VAPID's audience, and all that
    ``push.config`` shows of an endpoint (its path identifies the browser)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_keys(p256dh: str, auth: str) -> None:
    """ProtocolError unless the keys are a P-256 public point and a 16-byte secret."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, "p256dh is not a P-256 public key", path="$.keys.p256dh"
        ) from None
    try:
        secret = b64url_decode(auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "auth is not a 16-byte secret", path="$.keys.auth")


def check_endpoint(endpoint: str, *, allow_loopback: bool) -> None:
    """Refuse an endpoint the server will not send to, by its text alone (no name is looked up
    here; every send checks the addresses again, as webhooks do): ``https://`` with a host and
    no user name or password; an address written in it must be public. ``http://`` to a
    loopback address only with ``allow_loopback`` (tests, development)."""

    def refuse(reason: str) -> ProtocolError:
        return ProtocolError(ErrorCode.PUSH_ENDPOINT_NOT_ALLOWED, reason, path="$.endpoint")

    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError as exc:
        raise refuse(f"not a URL: {exc}") from None
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.scheme not in ("https", "http"):
        raise refuse("the endpoint must be https://host/...")
    if parts.username is not None or parts.password is not None:
        raise refuse("the endpoint must not carry a user name or password")
    loopback = host == "localhost" or _is_loopback(host)
    if parts.scheme == "http" and not (allow_loopback and loopback):
        raise refuse("the endpoint must be https://")
    if loopback and not allow_loopback:
        raise refuse("the endpoint is a loopback address")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global and not (allow_loopback and address.is_loopback):
        raise refuse(f"{address} is not a public address")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def subject(settings: Settings) -> str:
    """The VAPID contact: ``push_subject``, else the public URL (an https one is what RFC 8292
    asks for; an http one, a development server's, is sent as is)."""
    return settings.push_subject or settings.base_url


async def check(settings: Settings) -> Finding:
    """For ``tsudoi doctor``: the VAPID public key browsers subscribe with, read without
    creating anything (the first node to start makes it), and the contact push services see."""
    contact = subject(settings)
    if not _strict_subject(contact):
        contact += (
            " (set TSUDOI_PUSH_SUBJECT to a mailto: or https: contact: some push services refuse others)"
        )
    try:
        raw = await _stored_key(settings)
    except Exception as exc:
        return Finding("push", False, f"could not read the VAPID key: {type(exc).__name__}: {exc}")
    if raw is None:
        return Finding(
            "push", True, f"no VAPID key yet (the first node to start makes it); contact {contact}"
        )
    key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return Finding("push", True, f"VAPID public key {b64url(point)}; contact {contact}")


async def _stored_key(settings: Settings) -> bytes | None:
    if settings.mongodb_url:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, serverSelectionTimeoutMS=5000
        )
        try:
            db = client.get_default_database(default=settings.mongodb_database)
            doc = await db["server_keys"].find_one({"_id": VAPID_KEY_NAME})
        finally:
            await client.close()
        return bytes(doc["value"]) if doc else None
    path = settings.database_path
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM server_keys WHERE name = ?", (VAPID_KEY_NAME,)).fetchone()
    except sqlite3.OperationalError:  # a database older than the keys' table
        return None
    finally:
        conn.close()
    return bytes(row[0]) if row else None
