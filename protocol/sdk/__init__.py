"""The Tsudoi bot SDK: an asyncio client over protocol v1, and the webhook verifier.

::

    from protocol.sdk import Bot, messages

    bot = Bot("https://tsudoi.example", token="tsd_...", cursor_store="cursors.json")

    @bot.on("dm.message")
    async def answer(event: messages.DmMessageEvent) -> None:
        ...

    bot.run()

See ``docs/bots.md`` for the guide, and PROTOCOL.md for what is on the wire.
"""

from __future__ import annotations

from protocol import messages
from protocol.http import DisasterPage, SessionResponse, UploadResponse, WebhookInfo, WebhookKey
from protocol.webhooks import WebhookDelivery, WebhookVerificationError
from protocol.webhooks import verify as verify_webhook

from . import codes, errors
from .client import Client
from .codes import ERROR_CLASSES, error_for
from .cursors import CursorStore, JsonFileStore, MemoryStore, RecentStore, RecentWindow
from .errors import (
    AuthFailed,
    ClientClosed,
    ConnectionLost,
    FrameError,
    HandshakeRejected,
    RequestError,
    RetryLaterError,
    SdkError,
    ServerFaultError,
    SessionRevoked,
    TerminalClose,
    UnknownError,
)
from .http import (
    decode_delivery,
    delete_webhook,
    disaster_page,
    fetch_media,
    get_webhook,
    login,
    login_device_token,
    set_webhook,
    upload_media,
    webhook_public_key,
)
from .media import MediaKind, PictureSource, attach
from .transport import Backoff

#: A bot is a client; the name reads better in bot code.
Bot = Client

__all__ = [
    "ERROR_CLASSES",
    "AuthFailed",
    "Backoff",
    "Bot",
    "Client",
    "ClientClosed",
    "ConnectionLost",
    "CursorStore",
    "DisasterPage",
    "FrameError",
    "HandshakeRejected",
    "JsonFileStore",
    "MediaKind",
    "MemoryStore",
    "PictureSource",
    "RecentStore",
    "RecentWindow",
    "RequestError",
    "RetryLaterError",
    "SdkError",
    "ServerFaultError",
    "SessionResponse",
    "SessionRevoked",
    "TerminalClose",
    "UnknownError",
    "UploadResponse",
    "WebhookDelivery",
    "WebhookInfo",
    "WebhookKey",
    "WebhookVerificationError",
    "attach",
    "codes",
    "decode_delivery",
    "delete_webhook",
    "disaster_page",
    "error_for",
    "errors",
    "fetch_media",
    "get_webhook",
    "login",
    "login_device_token",
    "messages",
    "set_webhook",
    "upload_media",
    "verify_webhook",
    "webhook_public_key",
]
