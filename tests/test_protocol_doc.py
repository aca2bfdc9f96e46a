"""protocol/PROTOCOL.md is checked against the code: every op, event, error code and close code is
documented, and every example frame validates against the AsyncAPI document."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import messages as m
from protocol.errors import CloseCode, ErrorCode
from protocol.text import Emotext
from tests.support.schema import SchemaViolation, validate, validate_as

DOC = (Path(__file__).resolve().parents[1] / "protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
SPEC = json.loads((Path(__file__).resolve().parents[1] / "protocol" / "asyncapi.json").read_text())
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
