"""Encode an event once and hand the same bytes to the bus for every channel it goes to.

See ``docs/topics/fanout.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from protocol.codec import event_tail
from protocol.messages import EventData

from . import channels
from .bus.base import Bus

if TYPE_CHECKING:
    from .metrics import Metrics


class Publisher:
    def __init__(self, bus: Bus, metrics: Metrics | None = None) -> None:
        self._bus = bus
        self._published = metrics.events_published if metrics is not None else None

    def event(
        self,
        to: Iterable[str],
        data: EventData,
        pos: str | None = None,
        *,
        origin: str | None = None,
        priority: bool = False,
        by_origin_only: bool = False,
    ) -> None:
        """Publish one event to channels. ``origin`` is the user who caused it: connections
        hiding that user (mutes, blocks) do not receive it; with ``by_origin_only``, the
        origin's own connections do not, and nobody else is left out. A ``priority`` event
        overtakes ordinary ones in a connection's send queue during an incident."""
        payload = channels.envelope(
            event_tail(data, pos), pos, origin, priority=priority, by_origin_only=by_origin_only
        )
        count = 0
        for channel in to:
            self._bus.publish(channel, payload)
            count += 1
        if self._published is not None:
            self._published.inc(count)

    def control(self, user_id: str, message: channels.Control) -> None:
        self._bus.publish(channels.control(user_id), channels.encode_control(message))

    def cluster(self, notice: bytes) -> None:
        """A notice for every node, whatever its connections (:data:`channels.CLUSTER`)."""
        self._bus.publish(channels.CLUSTER, notice)
