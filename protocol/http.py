"""The plain-HTTP part of the API: sign-up, log-in, log-out, password change, health.

Bodies are JSON objects, decoded as strictly as WebSocket frames (unknown fields rejected).
Errors come back as ``{"error": {"code", "message", "path"?, "retry_after_ms"?}}`` with the same
codes as error frames (:class:`protocol.errors.ErrorCode`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .errors import ErrorCode
from .messages import Media, Profile, Timestamp, User

_Short = Annotated[str, msgspec.Meta(max_length=256)]
_Password = Annotated[str, msgspec.Meta(max_length=4096)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SignupRequest(_Body):
    invite_code: _Short
    handle: _Short
    display_name: _Short
    password: _Password
    #: YYYY-MM-DD; the person must be 18 or over on the server's date.
    birth_date: _Short
    accept_terms: bool


class LoginRequest(_Body):
    handle: _Short
    password: _Password


class PasswordChangeRequest(_Body):
    old_password: _Password
    new_password: _Password


class AccountDeleteRequest(_Body):
    """Body of ``POST /api/account/delete`` (since 1.11.0): the account's password."""

    password: _Password


class SessionResponse(_Body):
    """Answer to sign-up, log-in and password change. The same token is also set as the
    HttpOnly ``tsudoi_session`` cookie for browsers; bots use the token from the body."""

    user: Profile
    token: str
    session_id: str


class UploadResponse(_Body):
    """``POST /api/media``: the stored picture, to attach by its ``media.id`` before
    ``expires_at`` (``post.create``, ``dm.send``, ``community.announce`` or, for an avatar,
    ``profile.update``); its ``alt`` is null until then (since 1.9.0)."""

    media: Media
    expires_at: Timestamp


class InviteInfo(_Body):
    """``GET /api/invites/{code}``: what the invite landing page shows."""

    inviter: User | None
    expires_at: Timestamp


class DisasterPage(_Body):
    """``GET /api/disaster-page`` (since 1.14.0, no authentication): the operator's "during a
    disaster" page, shown while an incident lasts, and the built-in one until they write it."""

    #: The Markdown source.
    markdown: str
    #: The server's rendering of it: safe to insert as it is (no raw HTML, no script, no
    #: images; links only https, http, mailto, tel or within the app).
    html: str
    #: When the operator last wrote it; null for the built-in page.
    updated_at: Timestamp | None
    #: True for the built-in page (the operator has written none).
    default: bool


class ErrorDetail(_Body):
    code: ErrorCode
    message: str
    path: str | None = None
    retry_after_ms: int | None = None


class ErrorBody(_Body):
    error: ErrorDetail


class ComponentHealth(_Body):
    ok: bool
    error: str | None = None


class ConnectionLimits(_Body):
    """``/healthz``: the socket guard of the worker that answered (each worker has its own)."""

    #: The soft open-file limit the process runs with (raised to the hard limit at start-up
    #: where allowed); null where unknown or unlimited.
    open_files: int | None
    #: A request's headers must be complete within this long, or its connection is closed.
    header_timeout_ms: int
    #: Caps on unauthenticated connections (plain HTTP; WebSockets before ``auth``).
    unauthenticated_per_address: int
    unauthenticated_max: int
    #: Unauthenticated connections open now; connections refused for a cap and closed for late
    #: headers since start-up.
    unauthenticated_open: int
    refused: int
    header_timeouts: int


class Health(_Body):
    version: str
    storage: ComponentHealth
    bus: ComponentHealth
    limits: ConnectionLimits | None = None


class WebhookSetRequest(_Body):
    """``PUT /api/webhook`` (bots only): where to POST this bot's events from now on."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class WebhookKey(_Body):
    """``GET /api/webhook/key``: the key deliveries are signed with (:mod:`protocol.webhooks`)."""

    algorithm: str
    #: The raw 32-byte Ed25519 public key, base64url without padding.
    public_key: str


class WebhookInfo(_Body):
    """A bot's webhook as ``GET``/``PUT``/``DELETE /api/webhook`` answer it."""

    #: Where events are POSTed; null when none is registered.
    url: str | None
    algorithm: str
    public_key: str
    #: Consecutive failed attempts at the oldest undelivered event (0 when all is well).
    failures: int
    #: Why the last attempt failed ("HTTP 500", "timed out", ...), null after a success.
    last_error: str | None
