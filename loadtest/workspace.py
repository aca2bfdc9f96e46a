"""A run's private folder, and what must stop before it goes.

Each run seeds a database in a new ``tsudoi-load-*`` folder of the temporary directory (``TMPDIR``)
and writes ``accounts.json`` there: every seeded account's live token. ``close()`` stops whatever
the run registered (its worker processes, its server, its Redis) and then removes the folder, or,
with ``keep``, leaves it with the tokens file readable by its owner alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .local import make_folder

TOKENS = "accounts.json"


class Workspace:
    def __init__(self, *, keep: bool = False) -> None:
        self.keep = keep
        self.folder = make_folder()
        self._stops: list[Callable[[], None]] = []

    def on_close(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` when the workspace closes, before its folder is removed. ``stop`` must be
        safe to call after it has already run (the run stops its processes itself when it ends
        normally; this is for when it does not)."""
        self._stops.append(stop)

    def close(self) -> Path | None:
        """Stop what was registered (last first, each even if another fails), then remove the
        folder; returns the folder if it was kept instead. Safe to call again."""
        failure: BaseException | None = None
        while self._stops:
            try:
                self._stops.pop()()
            except Exception as exc:  # the others must still stop; the first failure is raised
                failure = failure or exc
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            tokens = self.folder / TOKENS
            if tokens.exists():  # the seed writes it 0600; make sure nothing loosened it
                tokens.chmod(0o600)
        if failure is not None:
            raise failure
        return self.folder if self.keep else None
