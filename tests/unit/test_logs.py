"""server.logs: what OutageLog and Tally write, driven by a hand-moved clock."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.logs import OutageLog, Tally, describe

LOGGER = logging.getLogger("tests.outage")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Unavailable(Exception):
    """A port's way of saying its dependency is down."""


def refused() -> Unavailable:
    """An Unavailable raised from a refused connection, as a driver would chain it."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
        except OSError as exc:
            raise Unavailable("redis presence: Error 111") from exc
    except Unavailable as outer:
        return outer


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records]


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = OutageLog("presence store", LOGGER, expected=(Unavailable,), clock=clock)
    assert outage.recovered() is False  # up all along: nothing to say
    for _ in range(41):
        outage.failed(refused())
        clock.now += 0.3
    assert outage.down and outage.failures == 41
    assert outage.recovered() is True
    assert lines(caplog) == [
        "WARNING presence store unreachable: ConnectionRefusedError: [Errno 111] Connect call failed "
        "('127.0.0.1', 1)",
        "WARNING presence store back after 12.3 s (41 failures)",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert not outage.down and outage.failures == 0


def test_a_new_kind_of_cause_gets_a_line_and_the_next_outage_starts_afresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = OutageLog("redis bus", LOGGER, meanwhile="delivering locally only", clock=Clock())
    outage.failed(ConnectionResetError(104, "Connection reset by peer"))
    outage.failed(ConnectionResetError(104, "Connection reset by peer"))
    outage.failed(TimeoutError())
    outage.failed(TimeoutError())
    outage.recovered()
    outage.failed(ConnectionRefusedError(111, "refused"))
    assert lines(caplog) == [
        "WARNING redis bus unreachable: ConnectionResetError: [Errno 104] Connection reset by peer; "
        "delivering locally only",
        "WARNING redis bus still unreachable, now: TimeoutError",
        "WARNING redis bus back after 0.0 s (4 failures)",
        "WARNING redis bus unreachable: ConnectionRefusedError: [Errno 111] refused; delivering locally only",
    ]


def test_a_bug_keeps_one_traceback_per_exception_type_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog("storage (incident poll)", LOGGER, expected=(Unavailable,), clock=Clock())
    for _ in range(3):
        outage.failed(KeyError("incident"))
    outage.failed(ValueError("bad row"))
    outage.failed(refused())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "storage (incident poll) failed: KeyError: 'incident'",
        "storage (incident poll) failed: ValueError: bad row",
    ]
    assert all(r.exc_info is not None for r in errors)  # the traceback, so the bug can be fixed
    assert outage.failures == 5


def test_describe_names_the_innermost_cause_on_one_bounded_line() -> None:
    assert describe(refused()) == "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    try:
        try:
            raise TimeoutError
        except TimeoutError as exc:
            raise Unavailable("redis presence: timed out") from exc
    except Unavailable as outer:
        assert describe(outer) == "TimeoutError: redis presence: timed out"
    long = describe(OSError("line one\nline two " + "x" * 1000))
    assert "\n" not in long and len(long) == 300 and long.endswith("…")


async def test_a_tally_logs_the_first_at_once_then_a_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    tally = Tally("connection closed", "connections closed", LOGGER, interval_s=0.05, clock=clock)
    tally.note("invalid_utf8")
    for kind in ["invalid_utf8"] * 36 + ["too_big"]:
        tally.note(kind)
    assert lines(caplog) == ["WARNING 1 connection closed (invalid_utf8: 1)"]
    clock.now += 60
    await asyncio.sleep(0.1)  # the window's timer fires although nothing more came
    assert lines(caplog)[1:] == [
        "WARNING 37 connections closed in the last 60 s (invalid_utf8: 36, too_big: 1)"
    ]
    tally.close()  # nothing pending: nothing more
    assert len(caplog.records) == 2
