"""Signed webhook deliveries: the one implementation of signing (server) and verifying (SDK).

A bot that cannot hold a WebSocket registers an URL; the server POSTs each of its persisted
events there, one per request, in stream order, until the endpoint answers 2xx
(at-least-once: the same ``id`` may arrive twice, never a different event under one id).

Each request carries::

    Content-Type: application/json
    Tsudoi-Event-Id: following:01M7Z3MWDW88G9C4QTT0N7GYSQ
    Tsudoi-Timestamp: 1795253172            (Unix seconds when this attempt was signed)
    Tsudoi-Signature: v1=<base64url, no padding, of Ed25519(b"v1:" + timestamp + b":" + body)>

and a body that is a :class:`WebhookDelivery` as JSON: the event as a WebSocket client would
receive it, without the per-connection ``op`` and ``seq`` (so ``type``, ``stream``, ``pos`` and
``data``), with the stream it belongs to and an id unique per bot and event::

    {"id": "following:01M7Z3MWDW88G9C4QTT0N7GYSQ", "stream": "following",
     "event": {"type": "post.created", "stream": "following", "pos": "01M7Z3MWDW88G9C4QTT0N7GYSQ",
               "data": {"post": {...}}}}

Verifying means: the signature checks out against the server's public key (``GET
/api/webhook/key``), and the timestamp is within ``tolerance_s`` of now, so a captured request
cannot be replayed later. Then de-duplicate by ``id``.

The signed message includes the timestamp, and the body the id, so neither can be altered
without breaking the signature. ``v1=`` names the scheme; a server rotating keys would send two
comma-separated signatures, and a verifier accepts if any one checks out.

Pure: no I/O, and ``now`` is a parameter. Ed25519 comes from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any, Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_S",
    "WebhookDelivery",
    "WebhookVerificationError",
    "decode_public_key",
    "encode_public_key",
    "generate_private_key",
    "sign",
    "verify",
]

SIGNATURE_HEADER: Final = "Tsudoi-Signature"
TIMESTAMP_HEADER: Final = "Tsudoi-Timestamp"
EVENT_ID_HEADER: Final = "Tsudoi-Event-Id"
SCHEME: Final = "v1"
#: How far a delivery's timestamp may be from the verifier's clock. Five minutes, like Stripe's
#: and Slack's defaults: wide enough for clock drift and a slow retry, narrow enough that a
#: captured request is useless soon after.
TOLERANCE_S: Final = 300


class WebhookDelivery(msgspec.Struct, kw_only=True):
    """The body of one webhook request.

    ``id`` is ``"<stream>:<pos>"``: unique per bot and event, stable across retries, and ordered
    within a stream like the positions themselves. ``event`` is the event as a WebSocket client
    would receive it, less ``op`` and ``seq``: ``{"type", "stream", "pos", "data"}``; turn its
    data into a typed object with :func:`protocol.codec.decode_event_data`.

    Unknown fields are ignored, not refused: a later server may add some (section 12), and a
    verifier must not start rejecting genuine deliveries because of it.
    """

    id: str
    stream: str
    event: dict[str, Any]


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh delivery: answer it with 401 and do not act on it."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _message(timestamp: str, body: bytes) -> bytes:
    return f"{SCHEME}:{timestamp}:".encode("ascii") + body


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def encode_public_key(key: Ed25519PublicKey) -> str:
    """The raw 32-byte key as base64url without padding (what ``/api/webhook/key`` serves)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def decode_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(_unb64(text))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not an Ed25519 public key: {exc}") from None


def sign(key: Ed25519PrivateKey, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The signature headers for one attempt at delivering ``body`` (event id header excluded)."""
    timestamp = str(int(time.time() if now is None else now))
    signature = _b64(key.sign(_message(timestamp, body)))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: f"{SCHEME}={signature}"}


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None:
        raise WebhookVerificationError(f"missing {name} header")
    return value


def verify(
    public_key: Ed25519PublicKey | str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> WebhookDelivery:
    """Check a request's signature and freshness and decode its body.

    Raises :class:`WebhookVerificationError` when anything is wrong; returns the delivery
    otherwise. ``headers`` may be any mapping (case-insensitive lookup is done here).
    """
    key = decode_public_key(public_key) if isinstance(public_key, str) else public_key
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookVerificationError("malformed timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance: a replay, or a clock far off")
    message = _message(timestamp, body)
    for part in _header(headers, SIGNATURE_HEADER).split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme != SCHEME:
            continue
        try:
            key.verify(_unb64(value), message)
        except (InvalidSignature, ValueError, binascii.Error):
            continue
        break
    else:
        raise WebhookVerificationError("no valid signature")
    try:
        return msgspec.json.decode(body, type=WebhookDelivery)
    except msgspec.DecodeError as exc:  # signed by us yet unreadable: a version mismatch
        raise WebhookVerificationError(f"unreadable body: {exc}") from None
