"""The lock files agree with pyproject.toml, and this environment is exactly what they pin.

``scripts/lock`` writes ``requirements/*.txt``; these tests fail when someone edits the ranges in
``pyproject.toml`` without re-locking, or when an install drifted from the lock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[^ ;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@dataclass
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def pins(lock: str) -> list[Pin]:
    found: list[Pin] = []
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            marker = match["marker"]
            found.append(
                Pin(
                    canonicalize_name(match["name"]),
                    Version(match["version"]),
                    Marker(marker) if marker else None,
                )
            )
        elif line.strip().startswith("--hash=sha256:"):
            found[-1].hashes.append(line.strip())
    return found


def wanted(lock: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    names = [*project["dependencies"], *PYPROJECT["build-system"]["requires"]]
    if lock == "test.txt":
        names += [req for extra in project["optional-dependencies"].values() for req in extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize("lock", ["serve.txt", "test.txt"])
def test_every_requirement_is_pinned_within_its_range_with_hashes(lock: str) -> None:
    locked = pins(lock)
    assert locked
    for pin in locked:
        assert pin.hashes, f"{pin.name} has no hash"
    by_name: dict[str, list[Pin]] = {}
    for pin in locked:
        by_name.setdefault(pin.name, []).append(pin)
    for requirement in wanted(lock):
        candidates = by_name.get(canonicalize_name(requirement.name))
        assert candidates, f"{requirement} is not in requirements/{lock}: run scripts/lock"
        for pin in candidates:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{requirement} but requirements/{lock} pins {pin.version}: run scripts/lock"
            )


def test_both_locks_pin_the_same_versions_of_what_they_share() -> None:
    # Markers may differ (a package needed on fewer Pythons by the server alone); versions may not.
    test: dict[str, set[Version]] = {}
    for pin in pins("test.txt"):
        test.setdefault(pin.name, set()).add(pin.version)
    for pin in pins("serve.txt"):
        assert pin.version in test.get(pin.name, set()), (
            f"{pin.name}: serve.txt {pin.version}, test.txt {test.get(pin.name)}"
        )


def test_this_environment_is_exactly_the_lock() -> None:
    for pin in pins("test.txt"):
        if pin.applies():
            assert Version(metadata.version(pin.name)) == pin.version, (
                f"{pin.name} {metadata.version(pin.name)} installed, {pin.version} locked: run scripts/test"
            )
