"""The specification's version is stated the same everywhere it appears.

It is written by hand in four places — PROTOCOL.md's opening paragraph, its section 12, the
newest entry of its changelog (section 13) and ``info.version`` in ``protocol/spec.py`` — and
copied into ``protocol/asyncapi.json`` when that is regenerated. A release that bumps one and
forgets another tells clients two different things; this module catches it. It also checks that
no "since x.y.z" remark in the spec or the models, and no version the SDK's compatibility tests
date a message to (``tests/sdk/test_older_servers.py``), names a version the changelog lacks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from protocol import spec
from tests.sdk.test_older_servers import INTRODUCED

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
ASYNCAPI = json.loads((ROOT / "protocol" / "asyncapi.json").read_text(encoding="utf-8"))
MODELS = (ROOT / "protocol" / "messages.py").read_text(encoding="utf-8")

VERSION = r"(\d+\.\d+\.\d+)"
DATE = r"(\d{4}-\d{2}-\d{2})"


def _one(pattern: str, text: str, where: str) -> re.Match[str]:
    found = list(re.finditer(pattern, text))
    assert len(found) == 1, f"expected one statement of the version in {where}, found {len(found)}"
    return found[0]


def _section(number: int) -> str:
    start = re.search(rf"^## {number}\. .*$", DOC, re.M)
    assert start is not None, f"PROTOCOL.md has no section {number}"
    end = re.search(r"^## \d+\. ", DOC[start.end() :], re.M)
    return DOC[start.end() : start.end() + end.start()] if end else DOC[start.end() :]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _changelog() -> list[tuple[str, str]]:
    """(version, date) of every changelog entry, in the order written (newest first)."""
    return re.findall(rf"^### v{VERSION} — {DATE}$", _section(13), re.M)


def test_the_version_is_the_same_everywhere() -> None:
    header = _one(rf"specification version {VERSION} of {DATE}", DOC, "PROTOCOL.md's opening")
    policy = _one(rf"This specification has its own version \({VERSION}, section 13\)", _section(12), "§12")
    entries = _changelog()
    assert entries, "PROTOCOL.md section 13 has no changelog entry"
    newest_version, newest_date = entries[0]
    stated = {
        "PROTOCOL.md opening": header.group(1),
        "PROTOCOL.md section 12": policy.group(1),
        "PROTOCOL.md section 13, newest entry": newest_version,
        "protocol/spec.py info.version": spec.build()["info"]["version"],
        "protocol/asyncapi.json info.version": ASYNCAPI["info"]["version"],
    }
    assert len(set(stated.values())) == 1, f"the spec version differs: {stated}"
    assert header.group(2) == newest_date, (
        f"PROTOCOL.md's opening dates the spec {header.group(2)}, its newest changelog entry {newest_date}"
    )


def test_the_changelog_is_newest_first_without_repeats() -> None:
    versions = [version for version, _ in _changelog()]
    assert versions == sorted(versions, key=_key, reverse=True), versions
    assert len(versions) == len(set(versions)), versions
    dates = [date for _, date in _changelog()]
    assert dates == sorted(dates, reverse=True), dates


def test_every_since_remark_names_a_released_version() -> None:
    released = {version for version, _ in _changelog()}
    remarks = re.findall(rf"\bsince v?{VERSION}", DOC + MODELS)
    assert remarks, "no 'since x.y.z' remark found: has the wording changed?"
    unknown = sorted(set(remarks) - released, key=_key)
    assert not unknown, f"'since' names versions with no changelog entry: {unknown}"


def test_the_sdk_compatibility_tests_date_messages_to_released_versions() -> None:
    released = {version for version, _ in _changelog()}
    unknown = sorted(set(INTRODUCED) - released, key=_key)
    assert not unknown, f"tests/sdk/test_older_servers.py dates messages to unreleased versions: {unknown}"
