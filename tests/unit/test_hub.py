"""Whom the hub leaves out of a fan-out: the recipients hiding an event's origin, or (for an
announcement's notification, published once to its community) the origin's own connections."""

from __future__ import annotations

import itertools

from server import channels
from server.bus.local import LocalBus
from server.gateway.connection import Connection
from server.gateway.hub import Hub
from server.metrics import Metrics
from tests.unit.test_connection import Sink, pos, settle, tail

AUTHOR, READER, MUTER = ("A" * 26, "R" * 26, "M" * 26)


def test_an_envelope_carries_its_lane_and_whom_its_origin_leaves_out() -> None:
    for priority, by_origin_only in itertools.product((False, True), repeat=2):
        payload = channels.envelope(
            tail(pos(1)), pos(1), AUTHOR, priority=priority, by_origin_only=by_origin_only
        )
        assert channels.open_envelope(payload) == (tail(pos(1)), pos(1), AUTHOR, priority, by_origin_only)
    assert channels.open_envelope(channels.envelope(b"{}", None)) == (b"{}", None, None, False, False)


async def _community_of_three() -> tuple[Hub, str, dict[str, Sink]]:
    """A hub with one connection each for the author, a reader and someone muting the author,
    all listening to one community's channel."""
    hub = Hub(LocalBus(), metrics=Metrics())
    channel = channels.community("C" * 26)
    sinks = {}
    for user_id in (AUTHOR, READER, MUTER):
        sink = sinks[user_id] = Sink()
        conn = Connection(sink, connection_id=user_id, send_queue_max=16)
        conn.user_id = user_id
        await hub.attach(conn, [channel])
        if user_id == MUTER:
            hub.hide(conn, [AUTHOR])
    return hub, channel, sinks


async def test_an_ordinary_event_is_left_out_by_those_hiding_its_origin() -> None:
    hub, channel, sinks = await _community_of_three()
    hub.deliver(channel, channels.envelope(tail(pos(1)), pos(1), AUTHOR))
    await settle()
    assert [len(sinks[user].sent) for user in (AUTHOR, READER, MUTER)] == [1, 1, 0]


async def test_an_event_by_origin_only_is_left_out_by_its_origins_own_connections() -> None:
    hub, channel, sinks = await _community_of_three()
    hub.deliver(channel, channels.envelope(tail(pos(1)), pos(1), AUTHOR, priority=True, by_origin_only=True))
    await settle()
    assert [len(sinks[user].sent) for user in (AUTHOR, READER, MUTER)] == [0, 1, 1]
    assert sinks[READER].sent == sinks[MUTER].sent
