"""Encode an event once and hand the same bytes to the bus for every channel it goes to.

Each event type's lane in a connection's send queue (PROTOCOL.md section 8.5) is declared here,
once, and nowhere else: a publish site names the event, never its lane. A resumable stream's
events all take the stream's lane (:data:`STREAM_PRIORITY`), so a priority event never overtakes
an ordinary one of its own stream, positions on a stream reach a client in increasing order, and
resuming by cursor loses nothing. Events of no stream take the priority lane when they are what
must get through in a disaster (:data:`PRIORITY_EVENTS`).

See ``docs/topics/fanout.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from protocol import messages as m
from protocol.codec import event_tail
from protocol.messages import EventData

from . import channels
from .bus.base import Bus
from .ids import timestamp_ms
from .logs import Tally

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger(__name__)

#: Each resumable stream's lane: True for the priority lane. Every event of the stream takes it.
STREAM_PRIORITY: Mapping[str, bool] = {"following": False, "direct": True, "notifications": True}
#: The events of no stream that take the priority lane: safety statuses and incidents.
PRIORITY_EVENTS: frozenset[type[EventData]] = frozenset(
    {m.SafetyStatusEvent, m.IncidentStartedEvent, m.IncidentEndedEvent}
)


def is_priority(event: type[EventData]) -> bool:
    """Whether events of this type take the priority lane: their stream's lane if they have a
    stream (whatever :data:`PRIORITY_EVENTS` says), else whether they are listed there."""
    if event.STREAM is not None:
        return STREAM_PRIORITY[event.STREAM]
    return event in PRIORITY_EVENTS


def envelope(
    data: EventData, pos: str | None = None, origin: str | None = None, *, by_origin_only: bool = False
) -> bytes:
    """The bus message for one event, in its type's lane (see :func:`channels.envelope`)."""
    return channels.envelope(
        event_tail(data, pos), pos, origin, priority=is_priority(type(data)), by_origin_only=by_origin_only
    )


class Publisher:
    """Publishes events after their items are stored. With ``late_after_ms`` (the resume window,
    ``resume_window_ms``) it also watches for items stored late: an item published more than that
    after its id was made may be missed by a client that resumes from a later position, since a
    resume looks back only that far (PROTOCOL.md section 6.5). Each one is counted
    (``tsudoi_late_stores_total``) and logged, as a summary a minute at most."""

    def __init__(
        self,
        bus: Bus,
        metrics: Metrics | None = None,
        *,
        late_after_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._published = metrics.events_published if metrics is not None else None
        self._late_stores = metrics.late_stores if metrics is not None else None
        self._late_after_ms = late_after_ms
        self._clock = clock
        self._late = Tally(
            "stream item stored later than the resume window after its id was made",
            "stream items stored later than the resume window after their ids were made",
            log,
        )

    def event(
        self,
        to: Iterable[str],
        data: EventData,
        pos: str | None = None,
        *,
        origin: str | None = None,
        by_origin_only: bool = False,
    ) -> None:
        """Publish one event to channels, in its type's lane. ``origin`` is the user who caused
        it: connections hiding that user (mutes, blocks) do not receive it; with
        ``by_origin_only``, the origin's own connections do not, and nobody else is left out."""
        if pos is not None and self._late_after_ms is not None:
            self._check_late(pos)
        payload = envelope(data, pos, origin, by_origin_only=by_origin_only)
        count = 0
        for channel in to:
            self._bus.publish(channel, payload)
            count += 1
        if self._published is not None:
            self._published.inc(count)

    def _check_late(self, pos: str) -> None:
        assert self._late_after_ms is not None
        if int(self._clock() * 1000) - timestamp_ms(pos) > self._late_after_ms:
            if self._late_stores is not None:
                self._late_stores.inc()
            self._late.note("late")

    def control(self, user_id: str, message: channels.Control) -> None:
        self._bus.publish(channels.control(user_id), channels.encode_control(message))

    def cluster(self, notice: bytes) -> None:
        """A notice for every node, whatever its connections (:data:`channels.CLUSTER`)."""
        self._bus.publish(channels.CLUSTER, notice)
