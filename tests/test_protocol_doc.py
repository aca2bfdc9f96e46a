"""protocol/PROTOCOL.md is checked against the code: every op, event, error code and close code is
documented, every example frame validates against the AsyncAPI document, and what section 8 says
of rate budgets, shedding and the priority lane is what the server declares (its ops table,
server/gateway/ops.py, and its lanes, server/publisher.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import messages as m
from protocol.errors import CloseCode, ErrorCode
from protocol.text import Emotext
from server.gateway.ops import OPS
from server.publisher import is_priority
from tests.support.schema import SchemaViolation, validate, validate_as

DOC = (Path(__file__).resolve().parents[1] / "protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
SPEC = json.loads((Path(__file__).resolve().parents[1] / "protocol" / "asyncapi.json").read_text())
OP_NAMES = {op.name for op in OPS}
EXAMPLES = re.findall(r"```json ([\w.]+)\n(.*?)```", DOC, re.S)


def test_every_op_and_event_has_a_section() -> None:
    headings = re.findall(r"^#+ .*$", DOC, re.M)
    for name in [m.op_of(t) for t in m.CLIENT_FRAME_TYPES] + [t.TYPE for t in m.EVENT_TYPES]:
        assert any(f"`{name}`" in heading for heading in headings), f"no section for {name}"


def test_every_error_code_close_code_and_emotext_is_in_a_table() -> None:
    rows = [line for line in DOC.splitlines() if line.startswith("|")]
    for code in ErrorCode:
        assert any(f"`{code.value}`" in row for row in rows), f"error code {code.value} undocumented"
    for close in CloseCode:
        assert any(str(int(close)) in row and f"`{close.name.lower()}`" in row for row in rows), close
    for effect in Emotext:
        assert any(f"`{effect.value}`" in row for row in rows), f"emotext {effect.value} undocumented"


def test_every_message_has_an_example() -> None:
    documented = {name for name, _ in EXAMPLES}
    assert set(SPEC["components"]["messages"]) <= documented


@pytest.mark.parametrize(("name", "body"), EXAMPLES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXAMPLES)])
def test_example_frames_validate(name: str, body: str) -> None:
    assert validate_as(name, json.loads(body)) == name


def test_the_validator_can_fail() -> None:
    """The suite-wide frame check is only worth something if a wrong frame is caught."""
    with pytest.raises(SchemaViolation):
        validate({"op": "hello", "protocol": "tsudoi.v1"})
    with pytest.raises(SchemaViolation):
        validate({"op": "event", "seq": 1, "type": "post.deleted", "data": {"post_id": "x"}})
    with pytest.raises(SchemaViolation):
        validate({"op": "ok", "id": "1", "data": {"post": None}}, "post.create")


def _paragraph(lead: str) -> str:
    """The paragraph of section 8 that starts with the bold ``lead``."""
    found: list[str] = re.findall(rf"^\*\*{re.escape(lead)}\*\*.*?(?=\n\n)", DOC, re.M | re.S)
    [text] = found
    return text


def _quoted(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


@pytest.mark.parametrize("bucket", ["post", "message"])
def test_the_rate_table_names_the_ops_of_each_budget(bucket: str) -> None:
    budget = f"(`limits.{bucket}_burst`, `limits.{bucket}_refill_ms`)"
    [row] = [line for line in DOC.splitlines() if line.startswith("|") and budget in line]
    ops = row.split("|")[2]
    assert _quoted(ops) == {op.name for op in OPS if op.bucket == bucket}


def test_the_ops_shed_during_an_incident_are_named() -> None:
    shed = {op.name for op in OPS if op.shed}
    assert shed  # what the section describes
    assert _quoted(_paragraph("Discover is shed.")) & OP_NAMES == shed


def test_the_priority_events_are_named() -> None:
    named = _quoted(_paragraph("A priority lane.")) & {t.TYPE for t in m.EVENT_TYPES}
    assert named == {t.TYPE for t in m.EVENT_TYPES if is_priority(t)}
