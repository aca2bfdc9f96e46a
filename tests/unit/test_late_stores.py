"""Items stored later than the resume window are counted and logged as they are published: a
client resuming from a later position may miss them (PROTOCOL.md section 6.5)."""

from __future__ import annotations

import logging

import pytest

from protocol.messages import PostDeletedEvent
from server.bus.local import LocalBus
from server.ids import IdGenerator
from server.metrics import Metrics
from server.publisher import Publisher

NOW_S = 1_800_000_000.0


async def test_an_item_published_past_the_window_after_its_id_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    publisher = Publisher(LocalBus(), metrics, late_after_ms=5_000, clock=lambda: NOW_S)
    ids = IdGenerator()
    now_ms = int(NOW_S * 1000)
    with caplog.at_level(logging.INFO, logger="server.publisher"):
        for age_ms in (60_000, 6_000, 4_900, 0):  # oldest first: one generator's ids only grow
            pos = ids.new(now_ms - age_ms)
            event = PostDeletedEvent(post_id=pos, author_id="A", community_id=None)
            publisher.event(["posts:A"], event, pos)
    assert metrics.late_stores._value.get() == 2
    assert "stored later than the resume window" in caplog.text


async def test_without_a_window_nothing_is_watched() -> None:
    metrics = Metrics()
    publisher = Publisher(LocalBus(), metrics, clock=lambda: NOW_S)
    pos = IdGenerator().new(int(NOW_S * 1000) - 60_000)
    publisher.event(["posts:A"], PostDeletedEvent(post_id=pos, author_id="A", community_id=None), pos)
    assert metrics.late_stores._value.get() == 0
