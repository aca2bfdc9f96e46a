"""The SDK's exceptions: one class per error code, and the ways a connection can end.

::

    ProtocolError (protocol.errors)     a refusal with an error code; the connection survives
    └── RequestError                    ... answering one of your requests (WebSocket or HTTP)
        ├── FrameError                  the frame itself was refused: a bug, not bad luck
        ├── RetryLaterError             rate_limited, shed, busy: ``retry_after_ms`` says when
        ├── ServerFaultError            unavailable, internal: the server's own trouble
        ├── NotFoundError, ...          one class per :class:`~protocol.errors.ErrorCode`
        │                               (generated into :mod:`protocol.sdk.codes`)
        └── UnknownError                a code newer than this SDK: a generic failure
    SdkError
    ├── ConnectionLost                  the connection dropped (or an HTTP request timed out)
    │                                   before the answer came
    ├── ClientClosed                    the client was closed (or never started)
    ├── HandshakeRejected               the WebSocket upgrade got an HTTP 4xx: a wrong URL
    └── TerminalClose                   close 4500-4999 (or 1007, 1009): reconnecting the
        ├── AuthFailed  (4500)          same way would fail again, so the client stops
        ├── SessionRevoked (4501)
        ├── BadHandshake (4502)
        ├── UnsupportedProtocol (4503)
        └── MessageTooBig (1009)

Branch on the class (``except NotFoundError``) or on ``error.code``; ``message`` is for people.
"""

from __future__ import annotations

from typing import ClassVar

from protocol.errors import CLOSE_TERMINAL_RANGE, CloseCode, ErrorCode, ProtocolError

__all__ = [
    "AuthFailed",
    "BadHandshake",
    "ClientClosed",
    "ConnectionLost",
    "FrameError",
    "HandshakeRejected",
    "MessageTooBig",
    "RequestError",
    "RetryLaterError",
    "SdkError",
    "ServerFaultError",
    "SessionRevoked",
    "TerminalClose",
    "UnknownError",
    "UnsupportedProtocol",
    "is_terminal",
    "terminal_close",
]


class RequestError(ProtocolError):
    """The server refused one request; ``code`` says why (section 9 of PROTOCOL.md).

    ``op`` is the request's op (``None`` for HTTP), ``wire_code`` the code exactly as sent,
    which differs from ``code`` only for :class:`UnknownError`.
    """

    #: The code every instance of the class carries.
    CODE: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str | None = None,
        retry_after_ms: int | None = None,
        request_id: str | None = None,
        op: str | None = None,
        wire_code: str | None = None,
    ) -> None:
        super().__init__(self.CODE, message, path=path, retry_after_ms=retry_after_ms, request_id=request_id)
        self.op = op
        self.wire_code = wire_code or self.CODE.value

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.wire_code}{where}: {self.message}"


class FrameError(RequestError):
    """The server could not accept the frame as sent; retrying it unchanged fails the same way."""


class RetryLaterError(RequestError):
    """Not carried out; the same request will be accepted after ``retry_after_ms``.

    The SDK already waits and retries these a bounded number of times (``Client``'s
    ``rate_limit_retries`` and ``max_retry_wait_s``), requests and uploads alike; you see one
    only when that was not enough (or from the module-level HTTP functions, which do not retry).
    """


class ServerFaultError(RequestError):
    """The server failed while handling the request. A write made before the fault stands:
    read before retrying a request that makes something new (``post.create``, ``dm.send``)."""


class UnknownError(RequestError):
    """An error code this SDK does not know (a newer server): a generic failure of the request.

    ``code`` is ``internal`` (unexpected, to this SDK); ``wire_code`` is the code as sent.
    """


class SdkError(Exception):
    """Something went wrong on the client's side of the connection."""


class ConnectionLost(SdkError):
    """The connection closed before the answer came: the request may or may not have been
    carried out (PROTOCOL.md section 3.1). Reads can simply be repeated."""


class ClientClosed(SdkError):
    """The client is closed, or stopped for good after a terminal close."""


class TerminalClose(SdkError):
    """The server closed the connection with a terminal code: change something first (a new
    token, a fixed client) rather than reconnecting. ``code`` and ``reason`` are the close's."""

    def __init__(self, code: int, reason: str = "") -> None:
        meaning = CloseCode(code).meaning if code in CloseCode._value2member_map_ else "connection closed"
        super().__init__(f"close {code} {reason or ''}: {meaning}".replace("  ", " "))
        self.code = code
        self.reason = reason


class HandshakeRejected(SdkError):
    """The server answered the WebSocket upgrade with an HTTP error that will not go away by
    itself (a wrong URL: 404, a proxy refusing: 403)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}: is the URL right?")
        self.status = status


class AuthFailed(TerminalClose):
    """4500: the token is unknown, expired or revoked. Log in again for a new one."""


class SessionRevoked(TerminalClose):
    """4501: the session was revoked while connected (log-out, password change)."""


class BadHandshake(TerminalClose):
    """4502: the first frame was not a well-formed ``auth`` frame (an SDK bug)."""


class UnsupportedProtocol(TerminalClose):
    """4503: the server does not speak ``tsudoi.v1`` to us: upgrade the SDK."""


class MessageTooBig(TerminalClose):
    """1009: a frame over ``limits.max_frame_bytes`` was sent; shorten it."""


_TERMINAL_CLASSES: dict[int, type[TerminalClose]] = {
    CloseCode.AUTH_FAILED: AuthFailed,
    CloseCode.SESSION_REVOKED: SessionRevoked,
    CloseCode.BAD_HANDSHAKE: BadHandshake,
    CloseCode.UNSUPPORTED_PROTOCOL: UnsupportedProtocol,
    1009: MessageTooBig,
}
#: Close codes from the WebSocket layer that the same client would hit again: 1007 (a text
#: frame that is not UTF-8) and 1009 (a frame too big).
_TERMINAL_WEBSOCKET_CODES = frozenset({1007, 1009})


def is_terminal(code: int) -> bool:
    """True for close codes after which the client must not reconnect as before (section 10)."""
    return code in CLOSE_TERMINAL_RANGE or code in _TERMINAL_WEBSOCKET_CODES


def terminal_close(code: int, reason: str = "") -> TerminalClose:
    return _TERMINAL_CLASSES.get(code, TerminalClose)(code, reason)
