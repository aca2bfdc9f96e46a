"""Webhooks: a bot that cannot hold a WebSocket receives its events as signed HTTPS POSTs.

What a bot gets (``protocol/PROTOCOL.md`` section 11, :mod:`protocol.webhooks` for the format):
every event of its three resumable streams (``following``, ``direct``, ``notifications``) from
the moment it registers, each POSTed once it is stored, in stream order, signed with the
server's Ed25519 key, retried with back-off until the endpoint answers 2xx. At-least-once: an
event is marked delivered only after the 2xx, so a crash between the two sends it again under
the same id.

How: :class:`Webhooks` is the HTTP API's side (register, read, remove, after checking the URL
with :mod:`.destinations`). :class:`~.dispatcher.Dispatcher` runs on every node: it leases
webhooks from storage (one node delivers a given webhook at a time; a dead node's lease runs out
and another takes over), reads each stream after the webhook's stored cursor with the same code
that replays a resuming connection's backlog (:class:`server.domain.streams.Streams`), and raises
the cursor after each acknowledged event. Nothing is kept in memory that storage does not have,
so a restart or a failover resumes exactly where delivery stood.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from protocol.errors import ErrorCode, ProtocolError
from protocol.http import WebhookInfo, WebhookKey
from protocol.webhooks import encode_public_key, generate_private_key

from ..ids import floor_id
from ..store.base import Storage, UserRecord, WebhookRecord
from .destinations import Destinations

__all__ = ["ALGORITHM", "Destinations", "Webhooks", "load_signing_key"]

ALGORITHM = "ed25519"
#: The server key's name in storage (``Storage.server_key``): every node signs with one key.
SIGNING_KEY_NAME = "webhook-signing-ed25519"


async def load_signing_key(store: Storage) -> Ed25519PrivateKey:
    """The deployment's signing key: made by the first node to ask, the same for all after."""
    candidate = generate_private_key().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return Ed25519PrivateKey.from_private_bytes(await store.server_key(SIGNING_KEY_NAME, candidate))


class Webhooks:
    def __init__(
        self, store: Storage, destinations: Destinations, key: Ed25519PrivateKey, clock: Callable[[], int]
    ) -> None:
        self._store = store
        self._destinations = destinations
        self.key = key
        self.public_key = encode_public_key(key.public_key())
        self._now = clock

    def key_info(self) -> WebhookKey:
        return WebhookKey(algorithm=ALGORITHM, public_key=self.public_key)

    async def register(self, user: UserRecord, url: str) -> WebhookInfo:
        _bot_only(user)
        await self._destinations.check(url)
        now = self._now()
        # Every stream starts below anything stored from this millisecond on.
        hook = await self._store.set_webhook(user.id, url, start=floor_id(now), now_ms=now)
        return self._info(hook)

    async def get(self, user: UserRecord) -> WebhookInfo:
        _bot_only(user)
        return self._info(await self._store.get_webhook(user.id))

    async def remove(self, user: UserRecord) -> WebhookInfo:
        _bot_only(user)
        await self._store.delete_webhook(user.id)
        return self._info(None)

    def _info(self, hook: WebhookRecord | None) -> WebhookInfo:
        return WebhookInfo(
            url=hook.url if hook else None,
            algorithm=ALGORITHM,
            public_key=self.public_key,
            failures=hook.failures if hook else 0,
            last_error=hook.last_error if hook else None,
        )


def _bot_only(user: UserRecord) -> None:
    if not user.bot:
        raise ProtocolError(ErrorCode.NOT_A_BOT)
