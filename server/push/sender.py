"""Sending the push queue: one node of the cluster at a time, at least once per endpoint.

Every node runs a :class:`PushSender`; the one holding the cluster's push lease
(``Storage.claim_push_lease``, renewed every ``push_lease_ms / 3`` by a task of its own, so
that slow push services never hold renewal up) sends, and stops before each push it would
send once its lease has run out by its own reckoning. It reads the due
pushes by priority (safety and incidents first, then announcements), up to :data:`PAGE` at a
time, and for each one:

- its subscription gone (unsubscribed, signed out, 404/410 earlier): dropped (``gone``);
- past its deadline (the TTL its kind gives it): dropped (``expired``);
- its person with a live connection now, on any node (the presence store, which every node
  feeds): dropped (``online``): the app shows it live. Presence knows connections per *person*,
  not per device, so one open tab holds back the pushes to all of that person's devices; if
  presence cannot be read, the push is sent (better twice than a lifeline lost);
- else encrypted (RFC 8291), signed (VAPID) and POSTed, with ``TTL`` (the seconds left to its
  deadline) and ``Urgency``. 2xx: done (``sent``). 404/410: the subscription is deleted
  (``gone``). 429, 5xx, a timeout or a refused connection: tried again (``retry``) after
  ``Retry-After`` if the service gave one, else after 1 s, 2 s, 4 s ... up to
  ``push_retry_max_ms``, never after its deadline. Any other answer: dropped (``failed``).

A push leaves the queue only after its answer: a node killed between the push service's answer
and that write leaves it queued, and the next holder of the lease (once the dead node's lease
has run out) sends it again, under the same payload ``id``, which the service worker uses as
the notification's tag (a second one replaces the first rather than showing twice). That
window is one request per endpoint being sent at the moment of the crash, at most
:data:`CONCURRENCY`; nothing queued is lost.

The payload is never logged: log lines name the kind, the push service's origin and the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Callable

import httpx

from ..config import Settings
from ..logs import OutageLog
from ..metrics import Metrics
from ..presence.base import PresenceStore, PresenceUnavailable
from ..store.base import PushJob, Storage, StorageError, StorageUnavailable
from ..webhooks import pinning
from ..webhooks.destinations import Destinations, NotAllowed
from ..webhooks.dispatcher import retry_delay_ms
from . import Vapid, encrypt, endpoint_origin

log = logging.getLogger(__name__)

#: Due pushes read per round; sent CONCURRENCY at a time.
PAGE = 50
CONCURRENCY = 8


def retry_after_ms(value: str | None, now_ms: int) -> int | None:
    """A ``Retry-After`` header as milliseconds from now: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() * 1000) - now_ms)


class PushSender:
    def __init__(
        self,
        *,
        store: Storage,
        presence: PresenceStore,
        vapid: Vapid,
        settings: Settings,
        owner: str,
        clock: Callable[[], int],
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._presence = presence
        self._vapid = vapid
        self._settings = settings
        self._owner = owner
        self._now = clock
        self._metrics = metrics
        # Any public host (push services are the browsers' vendors'), and loopback only where
        # the operator allows it for tests.
        allowed = ("*", "127.0.0.0/8", "::1/128") if settings.push_allow_loopback else ("*",)
        self._destinations = Destinations(allowed)
        self._http = pinning.client(settings.push_timeout_ms / 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Until when this node holds the cluster's push lease (0: it does not).
        self._held_until = 0
        self._outage = OutageLog("storage (push queue)", log, expected=(StorageUnavailable,))
        self._lease_outage = OutageLog("storage (push lease)", log, expected=(StorageUnavailable,))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push sender")

    def nudge(self) -> None:
        """Pushes were queued on this node: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._http.aclose()

    def holding(self) -> bool:
        """Whether this node holds the push lease now, by its own last renewal."""
        return self._now() < self._held_until

    async def _renew_forever(self) -> None:
        """Take or renew the lease every third of its length, whatever the sending is doing: a
        round of slow push services must not let the lease lapse while this node still sends."""
        lease_ms = self._settings.push_lease_ms
        while True:
            started = self._now()
            try:
                held = await self._store.claim_push_lease(self._owner, now_ms=started, lease_ms=lease_ms)
            except StorageError as exc:
                self._lease_outage.failed(exc)
            else:
                self._lease_outage.recovered()
                newly = held and not self.holding()
                self._held_until = started + lease_ms if held else 0
                if newly:
                    self._wake.set()
            await asyncio.sleep(lease_ms / 3000)

    async def _run(self) -> None:
        renewer = asyncio.create_task(self._renew_forever(), name="push lease")
        try:
            while True:
                self._wake.clear()
                worked = False
                if self.holding():
                    try:
                        worked = await self.round()
                    except StorageError as exc:
                        self._outage.failed(exc)
                    else:
                        self._outage.recovered()
                if not worked:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settings.push_poll_ms / 1000)
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

    async def round(self) -> bool:
        """Send (or drop) the pushes due now, a page of them; False if none was due."""
        now = self._now()
        jobs = await self._store.due_pushes(now_ms=now, limit=PAGE)
        if not jobs:
            return False
        users = sorted({job.subscription.user_id for job in jobs if job.subscription})
        try:
            present = await self._presence.info(users, now_ms=now)
            online = {user_id for user_id, info in present.items() if info.connections > 0}
        except PresenceUnavailable:
            online = set()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(job: PushJob) -> None:
            async with gate:
                try:
                    await self._handle(job, online)
                except StorageError:
                    raise
                except Exception:  # a fault of this push alone must not stop the queue
                    log.exception("a %s push could not be sent: dropped", job.kind)
                    await self._end(job, "failed")

        await asyncio.gather(*(one(job) for job in jobs))
        return True

    async def _handle(self, job: PushJob, online: set[str]) -> None:
        if not self.holding():  # lost meanwhile: the push stays queued for the new holder
            return
        now = self._now()
        sub = job.subscription
        if sub is None:
            return await self._end(job, "gone")
        if now >= job.deadline_ms:
            return await self._end(job, "expired")
        if sub.user_id in online:
            return await self._end(job, "online")
        origin = endpoint_origin(sub.endpoint)
        headers = {
            **self._vapid.headers(sub.endpoint, now // 1000),
            "TTL": str(max(0, (job.deadline_ms - now) // 1000)),
            "Urgency": job.urgency,
            # RFC 8030 section 5.4: a push service replaces a message it has not delivered yet
            # by a newer one of the same topic. The job's id (a ULID: 26 characters of the
            # base64url alphabet, within the 32 allowed) is the same when a new holder sends
            # again what a dead node had in flight, so the browser is handed it once if the
            # first copy was still waiting (when it was delivered, the service worker's
            # notification tag makes the second replace it on screen).
            "Topic": job.id,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        body = encrypt(job.payload, sub.p256dh, sub.auth)
        started = time.perf_counter()
        wait_ms: int | None = None
        try:
            addresses = await self._destinations.check(sub.endpoint)
            with pinning.pinned(addresses):
                response = await self._http.post(sub.endpoint, content=body, headers=headers)
        except NotAllowed as exc:
            log.warning("push to %s refused: %s", origin, exc.message)
            return await self._end(job, "failed")
        except httpx.HTTPError as exc:
            log.info("push to %s failed: %s", origin, type(exc).__name__)
            return await self._retry(job, None)
        finally:
            self._metrics.push_latency.observe(time.perf_counter() - started)
        status = response.status_code
        if 200 <= status < 300:
            return await self._end(job, "sent")
        if status in (404, 410):  # RFC 8030 section 7.3: the subscription is no more
            await self._store.delete_push_subscription(sub.id)
            return await self._end(job, "gone")
        if status == 429 or status >= 500:
            wait_ms = retry_after_ms(response.headers.get("Retry-After"), now)
            log.info("push to %s answered %d, retrying", origin, status)
            return await self._retry(job, wait_ms)
        log.warning("push to %s answered %d: dropped", origin, status)
        return await self._end(job, "failed")

    async def _end(self, job: PushJob, outcome: str) -> None:
        await self._store.finish_push(job.id)
        self._metrics.pushes.labels(kind=job.kind, outcome=outcome).inc()

    async def _retry(self, job: PushJob, wait_ms: int | None) -> None:
        attempts = job.attempts + 1
        backoff = retry_delay_ms(attempts, self._settings.push_retry_max_ms)
        due = self._now() + max(backoff, wait_ms or 0)
        if due >= job.deadline_ms:
            return await self._end(job, "expired")
        await self._store.retry_push(job.id, due_ms=due, attempts=attempts)
        self._metrics.pushes.labels(kind=job.kind, outcome="retry").inc()
