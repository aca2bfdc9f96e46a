"""Event payload classes are named after their event type, and the pre-1.7 names still import.

The rule (PROTOCOL.md section 13, v1.7.0): ``post.created`` is ``PostCreatedEvent`` — the type's
parts in CamelCase, then ``Event`` — so a request (``PostCreate``) and the event it causes never
differ by one letter again. The old names are aliases of the same classes until 1.8.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import messages as m

MODELS = (Path(m.__file__)).read_text(encoding="utf-8")


def _expected_name(event_type: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._]", event_type)) + "Event"


@pytest.mark.parametrize("event", m.EVENT_TYPES, ids=lambda e: e.TYPE)
def test_an_event_class_is_named_after_its_type(event: type[m.EventData]) -> None:
    assert event.__name__ == _expected_name(event.TYPE)


def test_every_deprecated_alias_is_the_renamed_class() -> None:
    aliases = re.findall(r"^(\w+) = (\w+)  # deprecated alias, removed in 1\.8$", MODELS, re.M)
    assert len(aliases) == 9, aliases
    for old, new in aliases:
        assert getattr(m, old) is getattr(m, new), old
        assert getattr(m, new) in m.EVENT_TYPES, new
