"""The HTTP side for bots: log in, upload and fetch pictures, register a webhook, and read a
webhook delivery.

Thin wrappers over httpx; errors come back as the same exception classes as error frames
(``{"error": {"code", ...}}`` bodies, PROTOCOL.md section 11.2). Each function takes an optional
``http`` client to reuse connections (and to test against an ``httpx.MockTransport``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from protocol import messages as m
from protocol.http import (
    DisasterPage,
    LoginRequest,
    SessionResponse,
    UploadResponse,
    WebhookInfo,
    WebhookKey,
    WebhookSetRequest,
)
from protocol.webhooks import WebhookDelivery

from .codes import error_for
from .decoding import convert
from .errors import ConnectionLost, SdkError
from .media import MediaKind, PictureSource, read_picture, resolve_media_url
from .transport import http_url

__all__ = [
    "DisasterPage",
    "UploadResponse",
    "WebhookInfo",
    "WebhookKey",
    "decode_delivery",
    "delete_webhook",
    "disaster_page",
    "fetch_media",
    "get_webhook",
    "login",
    "login_device_token",
    "set_webhook",
    "upload_media",
    "webhook_public_key",
]

#: The server's known-device token (PROTOCOL.md section 11.4): set as this cookie by a log-in,
#: sent back in this header by the next.
DEVICE_COOKIE = "tsudoi_device"
DEVICE_HEADER = "X-Tsudoi-Device"
#: Device tokens this process was given, by (server, lower-cased handle).
_device_tokens: dict[tuple[str, str], str] = {}
#: How long an upload may take to be answered: the server answers once the picture is processed,
#: which may wait behind 48 others (BENCHMARKS.md, "Pictures: uploads under load": up to 24 s
#: for the fiftieth of fifty on a busy 2-core node).
UPLOAD_TIMEOUT_S = 120.0


async def _send(
    url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    content: bytes | None = None,
    params: dict[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
) -> httpx.Response:
    """``method`` on the server at ``url`` (``path`` under its HTTP base, or an absolute URL):
    ``body`` as JSON, or ``content`` as raw bytes. An answer of 400 or more raises its error
    class; a connection that fails or times out before the answer raises ConnectionLost."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    target = path if path.startswith(("http://", "https://")) else http_url(url) + path
    own = http is None
    client = http or httpx.AsyncClient(timeout=30)
    timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
    try:
        if content is not None:
            response = await client.request(
                method, target, headers=headers, params=params, content=content, timeout=timeout
            )
        else:
            json = msgspec.to_builtins(body)
            response = await client.request(
                method, target, headers=headers, params=params, json=json, timeout=timeout
            )
    except httpx.TransportError as exc:  # refused, reset, timed out: no answer to read
        raise ConnectionLost(f"{method} {target}: {type(exc).__name__} {exc}".rstrip()) from exc
    finally:
        if own:
            await client.aclose()
    if response.status_code >= 400:
        raise _error(response)
    return response


def _error(response: httpx.Response) -> Exception:
    try:
        detail = _json_object(response)["error"]
        retry = detail.get("retry_after_ms")
        return error_for(
            str(detail["code"]),
            str(detail.get("message") or ""),
            path=detail.get("path") if isinstance(detail.get("path"), str) else None,
            retry_after_ms=retry if isinstance(retry, int) else _retry_after_header(response),
        )
    except (ValueError, KeyError, TypeError):
        return SdkError(f"HTTP {response.status_code} from {response.request.url}")


def _retry_after_header(response: httpx.Response) -> int | None:
    """``Retry-After`` in seconds as milliseconds (a body without ``retry_after_ms``)."""
    value = response.headers.get("retry-after", "")
    return int(value) * 1000 if value.isdigit() else None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


async def login(
    url: str,
    handle: str,
    password: str,
    *,
    device_token: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> SessionResponse:
    """Log an ordinary account in (``POST /api/login``) and return its session; use
    ``session.token`` with :class:`~protocol.sdk.Client`. Bot accounts use their bot token.

    Each log-in gives a *device token*; the next log-in of the same handle to the same server
    from this process sends it back, so that strangers guessing at the account cannot lock this
    device out (PROTOCOL.md section 11.4). To keep that across restarts, store
    :func:`login_device_token` after a log-in (as secretly as the password) and pass it back as
    ``device_token``."""
    key = (http_url(url), handle.lower())
    presented = device_token or _device_tokens.get(key)
    headers = {DEVICE_HEADER: presented} if presented else None
    body = LoginRequest(handle=handle, password=password)
    response = await _send(url, "POST", "/api/login", body=body, http=http, headers=headers)
    given = response.cookies.get(DEVICE_COOKIE)
    if given:
        _device_tokens[key] = given
    return convert(_json_object(response), SessionResponse)


def login_device_token(url: str, handle: str) -> str | None:
    """The device token the last successful :func:`login` of ``handle`` to ``url`` in this
    process was given (None if none was): a secret to keep for the next run's ``login``."""
    return _device_tokens.get((http_url(url), handle.lower()))


async def upload_media(
    url: str,
    token: str,
    data: PictureSource,
    *,
    kind: MediaKind = "post",
    http: httpx.AsyncClient | None = None,
) -> UploadResponse:
    """Upload a picture (``POST /api/media``, PROTOCOL.md section 11.11): ``data`` is its bytes
    or a file's path, sent as they are (the server reads the format from the bytes). The answer
    has the stored :class:`~protocol.messages.Media` and its ``expires_at``: attach it by id
    before then (``post_create(..., media=[attach(answer.media, alt)])``).

    Refusals raise the error code's class: ``UnsupportedFormatError`` (SVG, HEIC, not a
    picture), ``TooLargeError``, ``TooManyPixelsError``, ``CorruptError``,
    ``RateLimitedError`` and ``BusyError`` (both ``RetryLaterError``: not retried here;
    :meth:`Client.upload <protocol.sdk.Client.upload>` retries them), ``TooManyUploadsError``.
    The answer is awaited up to ``UPLOAD_TIMEOUT_S`` (the server may queue the picture); no
    answer raises ``ConnectionLost``, and the upload may have been stored (unattached, it
    expires)."""
    picture = read_picture(data)
    response = await _send(
        url,
        "POST",
        "/api/media",
        token=token,
        content=picture,
        params={"kind": kind},
        http=http,
        headers={"Content-Type": "application/octet-stream"},
        timeout_s=UPLOAD_TIMEOUT_S,
    )
    return convert(_json_object(response), UploadResponse)


async def fetch_media(
    url: str,
    media_url: str | m.MediaVariant,
    *,
    token: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> bytes:
    """The bytes of a picture's variant (``GET /media/{id}/{variant}``, section 11.12):
    ``media_url`` is a :class:`~protocol.messages.MediaVariant` (``post.media[0].display``) or
    its ``url`` (an avatar's ``url`` or ``thumbnail_url`` too). The token is sent only to the
    server at ``url``, never to another host an absolute URL names. A picture the token may
    not see raises ``NotFoundError``, as one that does not exist."""
    target = resolve_media_url(http_url(url), media_url)
    own = urlsplit(target)[:2] == urlsplit(http_url(url))[:2]
    response = await _send(url, "GET", target, token=token if own else None, http=http)
    return response.content


async def set_webhook(
    url: str, token: str, webhook_url: str, *, http: httpx.AsyncClient | None = None
) -> WebhookInfo:
    """Register (or replace) the bot's webhook: from now on the server POSTs the bot's events to
    ``webhook_url``, signed (verify them with :func:`~protocol.sdk.verify_webhook`)."""
    body = WebhookSetRequest(url=webhook_url)
    response = await _send(url, "PUT", "/api/webhook", token=token, body=body, http=http)
    return convert(_json_object(response), WebhookInfo)


async def get_webhook(url: str, token: str, *, http: httpx.AsyncClient | None = None) -> WebhookInfo:
    """The bot's webhook (``url`` is None when none is registered), with its delivery health:
    ``failures`` in a row at the oldest undelivered event and the ``last_error``."""
    response = await _send(url, "GET", "/api/webhook", token=token, http=http)
    return convert(_json_object(response), WebhookInfo)


async def delete_webhook(url: str, token: str, *, http: httpx.AsyncClient | None = None) -> WebhookInfo:
    """Stop deliveries: the bot reads its events over the WebSocket again."""
    response = await _send(url, "DELETE", "/api/webhook", token=token, http=http)
    return convert(_json_object(response), WebhookInfo)


async def webhook_public_key(url: str, *, http: httpx.AsyncClient | None = None) -> WebhookKey:
    """The server's public key for :func:`~protocol.sdk.verify_webhook` (no authentication
    needed). Fetch it once, over HTTPS, and keep it."""
    response = await _send(url, "GET", "/api/webhook/key", http=http)
    return convert(_json_object(response), WebhookKey)


async def disaster_page(url: str, *, http: httpx.AsyncClient | None = None) -> DisasterPage:
    """The operator's "during a disaster" page (``GET /api/disaster-page``, PROTOCOL.md 11.15,
    since 1.14.0): its Markdown and the server's safe HTML. No authentication needed."""
    response = await _send(url, "GET", "/api/disaster-page", http=http)
    return convert(_json_object(response), DisasterPage)


def decode_delivery(delivery: WebhookDelivery) -> m.EventData | None:
    """The typed payload of a verified delivery's event (None for a type this SDK does not know,
    which a bot should answer 2xx and ignore, as it would on the WebSocket)."""
    event = delivery.event
    kind = event.get("type")
    cls = m.EVENT_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    data = event.get("data")
    return convert(dict(data) if isinstance(data, dict) else {}, cls)
