"""Delivering webhooks: lease, read after the cursor, POST, raise the cursor; retry with back-off.

One :class:`Dispatcher` runs on every node. Every ``lease_ms / 3`` it claims (renews) the
webhooks no other live node holds (``Storage.claim_webhooks``); for each one it holds, one task
delivers that bot's events strictly one at a time, oldest first per stream, so an endpoint sees
each stream in order. A task stops when its webhook is deleted or its lease is lost (another
node's progress then stands: ``save_webhook_progress`` refuses the old holder's).

An attempt succeeds on any 2xx answer within ``webhook_timeout_ms``; anything else (another
status, a redirect, a timeout, a refused connection, a destination the allow-list no longer
permits) is a failure, stored with the webhook (``failures``, ``last_error``, readable through
``GET /api/webhook``), and the same event is tried again after 1 s, 2 s, 4 s ... up to
``webhook_retry_max_ms``, each wait jittered by up to a fifth so that many bots' retries spread.
An event is never skipped: the bot's endpoint decides when the stream moves on.

Reading: an idle webhook looks for new events every ``webhook_poll_ms``, and a page of up to
``PAGE`` events per stream at a time otherwise. Polling costs three indexed reads a second per
webhook on the node holding it, which is little next to what one connected client costs; a
nudge from the bus would cut the latency below the poll interval if bots ever need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.messages import STREAMS
from protocol.webhooks import EVENT_ID_HEADER, sign

from ..config import Settings
from ..domain.streams import Streams
from ..logs import OutageLog
from ..store.base import Storage, StorageError, StorageUnavailable, WebhookRecord
from . import pinning
from .destinations import Destinations, NotAllowed

log = logging.getLogger(__name__)

#: Events read per stream and round; a round's events go out one by one before the next read.
PAGE = 50
FIRST_RETRY_MS = 1_000


def delivery_body(stream: str, pos: str, tail: bytes) -> bytes:
    """The JSON body of one delivery (:class:`protocol.webhooks.WebhookDelivery`), built around
    the event's shared tail without decoding it."""
    return b'{"id":"%s:%s","stream":"%s","event":{%s}' % (
        stream.encode(),
        pos.encode(),
        stream.encode(),
        tail,
    )


def retry_delay_ms(failures: int, maximum_ms: int) -> int:
    """How long to wait after the ``failures``-th failure in a row (1, 2, 4 s ..., jittered)."""
    base = min(maximum_ms, FIRST_RETRY_MS * 2 ** min(failures - 1, 30))
    return int(base * random.uniform(0.8, 1.0))


class Dispatcher:
    def __init__(
        self,
        *,
        store: Storage,
        streams: Streams,
        destinations: Destinations,
        key: Ed25519PrivateKey,
        settings: Settings,
        owner: str,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._streams = streams
        self._destinations = destinations
        self._key = key
        self._settings = settings
        self._owner = owner
        self._now = clock
        self._http = pinning.client(settings.webhook_timeout_ms / 1000)
        #: The webhooks this node holds, as last claimed (their URLs may change between claims).
        self._held: dict[str, WebhookRecord] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        #: Storage outages as the log tells them: one line when claiming (or any webhook's
        #: delivery) starts failing, one when it works again; not a line per round or per webhook.
        self._claim_outage = OutageLog("storage (webhook leases)", log, expected=(StorageUnavailable,))
        self._deliver_outage = OutageLog("storage (webhook delivery)", log, expected=(StorageUnavailable,))

    def start(self) -> None:
        if self._destinations.enabled:
            self._loop_task = asyncio.create_task(self._claim_forever(), name="webhooks")

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _claim_forever(self) -> None:
        interval = self._settings.webhook_lease_ms / 3000
        while True:
            try:
                await self.claim()
            except StorageError as exc:
                self._claim_outage.failed(exc)
            else:
                self._claim_outage.recovered()
            await asyncio.sleep(interval)

    async def claim(self) -> None:
        """Renew and take leases; start a delivery task per webhook newly held, stop the others."""
        held = await self._store.claim_webhooks(
            self._owner, now_ms=self._now(), lease_ms=self._settings.webhook_lease_ms
        )
        self._held = {hook.user_id: hook for hook in held}
        for user_id, task in list(self._tasks.items()):
            if user_id not in self._held or task.done():
                task.cancel()
                del self._tasks[user_id]
        for user_id, hook in self._held.items():
            if user_id not in self._tasks:
                self._tasks[user_id] = asyncio.create_task(self._deliver(hook), name=f"webhook {user_id}")

    async def _deliver(self, hook: WebhookRecord) -> None:
        user_id = hook.user_id
        cursors = dict(hook.cursors)
        failures = hook.failures
        while user_id in self._held:
            try:
                hidden = await self._store.hidden_ids(user_id)
                self._deliver_outage.recovered()  # storage answered
                pending: list[tuple[str, str, bytes]] = []
                skipped: dict[str, str] = {}
                for stream in STREAMS:
                    page = await self._streams.page(user_id, stream, cursors[stream], PAGE, hidden)
                    pending += [
                        (pos, stream, tail) for pos, tail in zip(page.positions, page.tails, strict=True)
                    ]
                    if page.last is not None:
                        skipped[stream] = page.last
                if not pending:
                    if skipped:  # only hidden or vanished items: move past them
                        cursors.update(skipped)
                        if not await self._save(user_id, cursors, 0, None):
                            return
                    await asyncio.sleep(self._settings.webhook_poll_ms / 1000)
                    continue
                pending.sort()  # positions are time-ordered ids: oldest first across streams
                for pos, stream, tail in pending:
                    while True:
                        error = await self._attempt(self._held.get(user_id, hook).url, stream, pos, tail)
                        if error is None:
                            break
                        failures += 1
                        if not await self._save(user_id, cursors, failures, error):
                            return
                        await asyncio.sleep(
                            retry_delay_ms(failures, self._settings.webhook_retry_max_ms) / 1000
                        )
                        if user_id not in self._held:
                            return
                    failures = 0
                    cursors[stream] = pos
                    if not await self._save(user_id, cursors, 0, None):
                        return
                for stream, last in skipped.items():  # hidden items at the end of a page
                    cursors[stream] = max(cursors[stream], last)
            except StorageError as exc:  # every webhook's task fails alike: one outage, one pair of lines
                self._deliver_outage.failed(exc)
                await asyncio.sleep(self._settings.webhook_poll_ms / 1000)

    async def _save(self, user_id: str, cursors: dict[str, str], failures: int, error: str | None) -> bool:
        saved = await self._store.save_webhook_progress(
            user_id, self._owner, cursors=cursors, failures=failures, last_error=error
        )
        if not saved:  # the lease went to another node, or the webhook was deleted
            self._held.pop(user_id, None)
        return saved

    async def _attempt(self, url: str, stream: str, pos: str, tail: bytes) -> str | None:
        """POST one event; None on success, else why it failed (stored as ``last_error``)."""
        body = delivery_body(stream, pos, tail)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Tsudoi-Webhooks/1",
            EVENT_ID_HEADER: f"{stream}:{pos}",
            **sign(self._key, body),
        }
        try:
            addresses = await self._destinations.check(url)
            with pinning.pinned(addresses):  # connect to what was checked, not a fresh lookup
                response = await self._http.post(url, content=body, headers=headers)
        except NotAllowed as exc:
            return f"destination not allowed: {exc.message}"
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"could not connect: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
