"""Event payload classes are named after their event type; the pre-1.7 names are gone.

The rule (PROTOCOL.md section 13, v1.7.0): ``post.created`` is ``PostCreatedEvent`` — the type's
parts in CamelCase, then ``Event`` — so a request (``PostCreate``) and the event it causes never
differ by one letter again. The old names were aliases of the same classes through 1.7 and
were removed in 1.8.0, as the 1.7.0 changelog promised.
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


def test_the_pre_1_7_names_were_removed_in_1_8() -> None:
    old = ["PostCreated", "PostDeleted", "PostReactions", "CommunityMembership", "DmMessage"]
    old += ["IncidentStarted", "IncidentEnded", "UserUpdated", "CommunityCertified"]
    assert [name for name in old if hasattr(m, name)] == []
    assert "deprecated alias" not in MODELS
