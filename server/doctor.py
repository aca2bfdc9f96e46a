"""``tsudoi doctor``: check the configured storage, blob store and bus, and say what is wrong in
plain words.

It reads; it does not create or migrate anything (a data folder with no database is a finding,
not a reason to make one). Each adapter answers for itself (:func:`server.store.check_storage`,
:func:`server.blobs.check_blobs`, :func:`server.bus.check_bus`); this module only prints one
line per check, ``ok`` or ``PROBLEM`` with what to do. The exit status is 0 only when every
check passed, else 1. A malformed setting never gets here: ``main`` refuses it first, with
status 2.
"""

from __future__ import annotations

from collections.abc import Callable

from .blobs import check_blobs
from .bus import check_bus
from .config import Settings
from .health import Finding
from .push import check as check_push
from .store import check_storage

__all__ = ["Finding", "run"]


async def run(settings: Settings, print_line: Callable[[str], None] = print) -> int:
    findings: list[Finding] = [
        await check_storage(settings),
        await check_blobs(settings),
        await check_bus(settings),
        await check_push(settings),
    ]
    for finding in sorted(findings, key=lambda f: f.name):
        print_line(f"{finding.name:8} {'ok' if finding.ok else 'PROBLEM':8} {finding.detail}")
    return 0 if all(f.ok for f in findings) else 1
