"""Each event type's lane is a property of the type (server/publisher.py), never of a publish
site: a stream's events all take the stream's lane, so priority events never reorder a stream and
resuming by cursor loses nothing (PROTOCOL.md sections 6.2 and 8.5)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from protocol import messages as m
from protocol.codec import decode_event_data
from server import channels
from server.bus.local import LocalBus
from server.publisher import PRIORITY_EVENTS, STREAM_PRIORITY, Publisher, is_priority

DOC = (Path(__file__).resolve().parents[2] / "protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
#: One instance of every event type, from PROTOCOL.md's example frames (each type has one).
SAMPLES: dict[type[m.EventData], m.EventData] = {}
for _body in re.findall(r"```json event\.[\w.]+\n(.*?)```", DOC, re.S):
    _frame = orjson.loads(_body)
    _data = decode_event_data(_frame["type"], _frame["data"])
    SAMPLES.setdefault(type(_data), _data)
STREAMED = [t for t in m.EVENT_TYPES if t.STREAM is not None]
UNSTREAMED = [t for t in m.EVENT_TYPES if t.STREAM is None]


async def _published(data: m.EventData, *, by_origin_only: bool = False) -> tuple[bool, bool]:
    """The (priority, by_origin_only) flags of the bus message the publisher makes for ``data``."""
    bus, got = LocalBus(), []
    bus.set_handler(lambda channel, payload: got.append(payload))
    await bus.subscribe("user:x")
    Publisher(bus).event(["user:x"], data, "0" * 26, origin="1" * 26, by_origin_only=by_origin_only)
    [payload] = got
    _, _, _, priority, origin_only = channels.open_envelope(payload)
    return priority, origin_only


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(m.EVENT_TYPES)


def test_every_stream_has_one_lane() -> None:
    assert set(STREAM_PRIORITY) == set(m.STREAMS)


@pytest.mark.parametrize("event", STREAMED, ids=lambda t: t.TYPE)
async def test_every_event_on_a_stream_takes_its_streams_lane(event: type[m.EventData]) -> None:
    assert event.STREAM is not None
    assert await _published(SAMPLES[event]) == (STREAM_PRIORITY[event.STREAM], False)


@pytest.mark.parametrize("event", UNSTREAMED, ids=lambda t: t.TYPE)
async def test_an_event_of_no_stream_takes_the_lane_its_type_is_listed_in(event: type[m.EventData]) -> None:
    assert await _published(SAMPLES[event]) == (event in PRIORITY_EVENTS, False)


def test_the_list_of_priority_events_names_no_event_of_a_stream() -> None:
    """A stream's lane is its stream's: listing one of its events would say what does not hold."""
    assert all(event.STREAM is None for event in PRIORITY_EVENTS)


async def test_an_announcements_notification_keeps_its_lane_and_is_left_out_by_its_origin() -> None:
    """The one publish site with a flag of its own (server/domain/social.py): by origin only."""
    assert is_priority(m.NotificationEvent)
    assert await _published(SAMPLES[m.NotificationEvent], by_origin_only=True) == (True, True)
