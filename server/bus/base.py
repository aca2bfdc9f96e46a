"""The Bus port: a doorbell between gateway nodes, never a store.

A node *subscribes* to a channel when its first local connection needs it and unsubscribes after
the last (the hub in :mod:`server.gateway.hub` does the counting, so a bus adapter sees one
subscription per channel per node). Every message published to a channel reaches the handler of
every node subscribed to it, as the exact bytes published: an event is encoded once in the whole
cluster.

Contract (tested against every adapter in ``tests/contract/test_bus.py``):

- :meth:`Bus.publish` does not wait: it hands the message over and returns. Messages published
  from one node are delivered in the order they were published. This lets a service publish
  right after its write commits, without an ``await`` in between, so delivery follows commit
  order.
- A message is delivered to the handler of every node subscribed to its channel at the time it
  is delivered; messages for channels a node is not subscribed to are not delivered to it.
- Delivery is at most once. Anything that must not be lost is in storage first; a client that
  missed a message recovers it from storage by cursor.
- :attr:`Bus.healthy` is False while the bus cannot deliver between nodes. Local delivery (to
  this node's own subscribers) never depends on it.
- When the bus recovers from an outage, the state handler is called with ``(True, down_since_ms)``
  once every subscription is restored; messages published meanwhile by other nodes were not
  delivered here, and the caller fills that gap from storage.

See ``docs/topics/fanout.md`` (what the bus carries) and ``docs/topics/resume.md`` (filling the
gap an outage leaves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: Receives (channel, payload) for every message on a subscribed channel.
Handler = Callable[[str, bytes], None]
#: Receives (healthy, since_ms): (False, when it went down) and (True, when it had gone down).
StateHandler = Callable[[bool, int | None], None]


class Bus(Protocol):
    def set_handler(self, handler: Handler) -> None:
        """Install the one function that receives this node's messages (before subscribing)."""

    def set_state_handler(self, handler: StateHandler) -> None:
        """Install the function told when the bus goes down and comes back."""

    def publish(self, channel: str, payload: bytes) -> None: ...

    async def subscribe(self, channel: str) -> None:
        """Return once messages published to ``channel`` from now on will be delivered."""

    async def unsubscribe(self, channel: str) -> None: ...

    @property
    def healthy(self) -> bool: ...

    async def close(self) -> None: ...
