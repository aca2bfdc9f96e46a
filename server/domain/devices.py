"""Known-device tokens: the log-in brakes' way to tell the owner from a botnet.

The per-account failure budget (``login_account_failures_total``) stops a guesser who spreads
over many addresses, but it is the owner's budget too: drained from outside, it refused the
owner as well. Following OWASP's "device cookies" (Slow Down Online Guessing Attacks with Device
Cookies), a successful log-in gives the device a token bound to the account; a later log-in that
presents a valid token for *that* account is judged by the token's own failure budget instead
of the account's. Unknown devices (no token, a forged one, another account's) go through the
ordinary brakes, and a token that keeps failing is braked on its own.

A token is signed, not stored: ``tsdd_<user id>.<device id>.<issued ms>.<HMAC-SHA256>``, the
MAC under a key kept in storage (``Storage.server_key``, the same for every node). The device
id is random and names the token's own failure budget; the user id binds it to one account. A
token older than :data:`DEVICE_TTL_MS` is no longer known; each log-in with it renews it.
Nothing in it is a password or a session: stolen, it only spares its holder the account-wide
budget, and it still has its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

#: Recognisable in a leak, as session tokens' ``tsd_`` is.
DEVICE_PREFIX = "tsdd_"
#: As long as browsers keep a cookie (Chrome caps Max-Age at 400 days), renewed at each log-in.
DEVICE_TTL_MS = 400 * 24 * 3600_000
#: The HMAC key's name in storage.
KEY_NAME = "login-device-hmac"
#: Longer strings are not tokens: refused before any parsing.
_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Device:
    """A valid token's content: whose device it is, and its own id."""

    user_id: str
    device_id: str


class DeviceTokens:
    """Issues and reads device tokens under one key; ``clock`` gives milliseconds."""

    def __init__(self, key: bytes, clock: Callable[[], int]) -> None:
        if len(key) < 32:
            raise ValueError("the device key must have at least 32 bytes")
        self._key = key
        self._now = clock

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(errors="replace"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, user_id: str, device_id: str | None = None) -> str:
        """A token for ``user_id``'s device; ``device_id`` renews a known one (else a new id)."""
        device_id = device_id or secrets.token_urlsafe(12)
        body = f"{DEVICE_PREFIX}{user_id}.{device_id}.{self._now()}"
        return f"{body}.{self._mac(body)}"

    def read(self, token: str | None) -> Device | None:
        """The device a token names, or None: absent, malformed, forged or expired."""
        if not token or len(token) > _MAX_LENGTH or not token.startswith(DEVICE_PREFIX):
            return None
        body, _, mac = token.rpartition(".")
        parts = body[len(DEVICE_PREFIX) :].split(".")
        if len(parts) != 3 or not hmac.compare_digest(mac.encode(errors="replace"), self._mac(body).encode()):
            return None
        user_id, device_id, issued = parts
        if not issued.isdigit() or int(issued) + DEVICE_TTL_MS <= self._now():
            return None
        return Device(user_id, device_id)
