"""How an operator's command reaches the running nodes.

``tsudoi admin ...`` runs in a process of its own. It builds the same domain services as a node
(:func:`server.admin.operator_domain`), and they publish what they publish on a node — a
``user.updated`` event, a control message that closes revoked sessions, the incident nudge — on
an :class:`OperatorBus`. That bus holds the messages; once the command has done its work,
:meth:`OperatorBus.send` hands them on:

- with Redis (``TSUDOI_REDIS_URL``), to Redis, exactly as a node publishes them: every node
  subscribed to the channel has them at once, as if another node had published them;
- without Redis (the embedded default), to storage, as *signals*: an in-process bus would reach
  nothing outside the command's own process. Every node looks for new signals every
  ``operator_poll_ms`` (2 s by default; :class:`SignalWatch`) and delivers them to its own
  connections as if they had come from its bus.

The trade-off, honestly: in the embedded default an operator's change reaches open clients within
one poll, not at once, and each node pays one read of the newest end of an index per poll (almost
always empty). A node watches signals whether or not it has Redis, so a command whose Redis does
not answer falls back to signals (and says so) rather than leaving, say, a revoked token's
connection open. Signals are kept ``SIGNAL_TTL_MS`` (10 minutes) and read with a margin of
:data:`LOOKBACK_MS` behind the node's clock, remembering the ids seen: a command run on a machine
whose clock is more than that behind a node's is missed by that node (the embedded default runs
the command on the node's own machine, with the same clock).

Delivery is at most once, as on any bus: what a message tells is in storage before it is sent,
and a client that missed it reads it there when it reconnects.

See ``docs/topics/disaster-mode.md`` (incidents declared from the shell).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .bus.base import Handler, StateHandler
from .config import Settings
from .logs import OutageLog
from .store.base import Storage, StorageUnavailable

log = logging.getLogger(__name__)

#: How far behind its clock a node reads signals: the clocks of the processes that store them
#: may differ a little from its own.
LOOKBACK_MS = 60_000


class OperatorBus:
    """The Bus port for a process that publishes and exits: :meth:`publish` holds the messages
    (in order), :meth:`send` hands them on. Nothing is ever delivered to this process."""

    def __init__(self) -> None:
        self._held: list[tuple[str, bytes]] = []

    def set_handler(self, handler: Handler) -> None:
        """Nothing is subscribed here: the handler is never called."""

    def set_state_handler(self, handler: StateHandler) -> None:
        """The state never changes."""

    def publish(self, channel: str, payload: bytes) -> None:
        self._held.append((channel, payload))

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    @property
    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def send(self, settings: Settings, store: Storage, now_ms: int) -> str | None:
        """Hand the held messages on: to Redis when it is configured, else to storage as
        signals. None once they are on their way; a warning for the operator when Redis did
        not answer and they went to storage instead (nodes pick them up within a poll).
        StorageError if they could not be stored either."""
        messages, self._held = self._held, []
        if not messages:
            return None
        if settings.redis_url:
            from redis.exceptions import RedisError

            from .bus.redis import RedisBus

            bus = RedisBus(settings.redis_url, sharded=settings.redis_sharded, cluster=settings.redis_cluster)
            try:
                await bus.publish_now(messages)
                return None
            except (RedisError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                await store.add_signals(messages, now_ms)
                return (
                    f"Redis did not answer ({reason}): the servers learn of this through storage "
                    f"instead, within TSUDOI_OPERATOR_POLL_MS ({settings.operator_poll_ms} ms)"
                )
        await store.add_signals(messages, now_ms)
        return None


class SignalWatch:
    """A node's side: every ``poll_ms``, deliver the signals stored since the last look to this
    node's connections (``deliver`` is the hub's bus handler: local delivery only, so a node
    with Redis does not publish again what every node reads for itself)."""

    def __init__(self, store: Storage, deliver: Handler, clock: Callable[[], int], *, poll_ms: int) -> None:
        self._store = store
        self._deliver = deliver
        self._now = clock
        self._poll_ms = poll_ms
        #: The ids of the signals inside the look-back window at the last look.
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog("storage (signal poll)", log, expected=(StorageUnavailable,))

    async def start(self) -> None:
        """Start watching. Signals stored before the node started are not delivered: they were
        meant for connections that are gone, and what they tell is in storage."""
        self._seen = {signal.id for signal in await self._store.signals_since(self._now() - LOOKBACK_MS)}
        self._task = asyncio.create_task(
            self._outage.every(self._poll_ms / 1000, self.check), name="signal watch"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> int:
        """Deliver the signals not seen yet; how many there were."""
        found = await self._store.signals_since(self._now() - LOOKBACK_MS)
        fresh = [signal for signal in found if signal.id not in self._seen]
        for signal in fresh:
            self._deliver(signal.channel, signal.payload)
        # What leaves the window is never returned again, so the window's ids are all to keep.
        self._seen = {signal.id for signal in found}
        return len(fresh)
