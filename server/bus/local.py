"""The in-process bus of the embedded default: one node, delivery by a direct call."""

from __future__ import annotations

from .base import Handler, StateHandler


def _drop(channel: str, payload: bytes) -> None:
    return None


class LocalBus:
    """Delivers synchronously inside :meth:`publish`, so publish order is delivery order."""

    def __init__(self) -> None:
        self._handler: Handler = _drop
        self._channels: set[str] = set()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_state_handler(self, handler: StateHandler) -> None:
        """In-process delivery cannot fail: the state never changes."""

    def publish(self, channel: str, payload: bytes) -> None:
        if channel in self._channels:
            self._handler(channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    def subscribe_now(self, channel: str) -> None:
        """:meth:`subscribe`, done before returning: the hub uses it to spare a task per channel
        (a connection's own channels come and go with it, so every resume subscribes some)."""
        self._channels.add(channel)

    def unsubscribe_now(self, channel: str) -> None:
        self._channels.discard(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    @property
    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._channels.clear()
