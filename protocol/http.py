"""The plain-HTTP part of the API: sign-up, log-in, log-out, password change, health.

Bodies are JSON objects, decoded as strictly as WebSocket frames (unknown fields rejected).
Errors come back as ``{"error": {"code", "message", "path"?, "retry_after_ms"?}}`` with the same
codes as error frames (:class:`protocol.errors.ErrorCode`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .errors import ErrorCode
from .messages import Profile, Timestamp, User

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


class SessionResponse(_Body):
    """Answer to sign-up, log-in and password change. The same token is also set as the
    HttpOnly ``tsudoi_session`` cookie for browsers; bots use the token from the body."""

    user: Profile
    token: str
    session_id: str


class InviteInfo(_Body):
    """``GET /api/invites/{code}``: what the invite landing page shows."""

    inviter: User | None
    expires_at: Timestamp


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


class Health(_Body):
    version: str
    storage: ComponentHealth
    bus: ComponentHealth
