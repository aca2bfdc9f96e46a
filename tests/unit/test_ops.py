"""The ops table (server/gateway/ops.py): every request type of the protocol declared exactly
once, which the gateway checks at start-up."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import messages as m
from server.gateway.ops import OPS, Context, Op, index


async def _noop(c: Context, f: Any) -> m.Done:
    return m.Done()


def test_every_request_type_has_exactly_one_op() -> None:
    table = index(OPS)
    assert set(table) == set(m.REQUEST_TYPES)
    assert len(OPS) == len(m.REQUEST_TYPES)
    assert all(table[op.request] is op for op in OPS)


def test_a_missing_op_is_refused() -> None:
    with pytest.raises(TypeError, match="no entry for \\['PostGet'\\]"):
        index(op for op in OPS if op.request is not m.PostGet)


def test_a_second_entry_is_refused() -> None:
    with pytest.raises(TypeError, match="two entries for PostGet"):
        index([*OPS, Op(m.PostGet, _noop)])


def test_an_entry_for_a_request_the_protocol_lacks_is_refused() -> None:
    class Extra(m.Request, tag="extra.op"):
        pass

    with pytest.raises(TypeError, match="the protocol lacks: \\['Extra'\\]"):
        index([*OPS, Op(Extra, _noop)])


def test_a_bucket_goes_with_its_message() -> None:
    with pytest.raises(TypeError, match="go together"):
        Op(m.PostGet, _noop, bucket="post")
    with pytest.raises(TypeError, match="go together"):
        Op(m.PostGet, _noop, too_fast="too fast")


def test_only_the_heartbeat_is_not_activity() -> None:
    """A heartbeat proves the connection, not the person: it neither marks the user active nor
    reads storage."""
    assert [op.request for op in OPS if not op.activity] == [m.Heartbeat]
