"""Encode an event once and hand the same bytes to the bus for every channel it goes to."""

from __future__ import annotations

from collections.abc import Iterable

from protocol.codec import event_tail
from protocol.messages import EventData

from . import channels
from .bus.base import Bus


class Publisher:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def event(self, to: Iterable[str], data: EventData, pos: str | None = None) -> None:
        payload = channels.envelope(event_tail(data, pos), pos)
        for channel in to:
            self._bus.publish(channel, payload)

    def control(self, user_id: str, message: channels.Control) -> None:
        self._bus.publish(channels.control(user_id), channels.encode_control(message))
