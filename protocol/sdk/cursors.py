"""Resume cursors: what the client has handled, so it is neither missed nor handled twice.

The server numbers the items of three streams (``following``, ``direct``, ``notifications``) and
replays, after a reconnect, every item after the cursors the client sends in ``auth``
(PROTOCOL.md section 6). :class:`StreamCursors` keeps, per stream:

- the **cursor**: the greatest ``pos`` whose event has been *handled* (its handlers returned).
  It only moves after the handlers ran, so an event accepted but not yet handled when the
  connection drops is replayed, never skipped;
- the **recent** positions handled within ``limits.resume_window_ms`` behind the cursor, and
  from where on that list is complete (``since``). With several writers an item can be stored
  after one with a greater ``pos``; a 1.8.0 server that is told these positions in
  ``auth.recent`` also sends the items of the window the client lacks (section 6.5). They are
  also what an event is checked against: one whose ``pos`` was handled is dropped;
- the positions **accepted** (queued) but not handled yet, so an event queued from one
  connection and replayed on the next is handed to the handlers once.

A :class:`CursorStore` keeps the cursors across process restarts. :class:`JsonFileStore` writes
them after every handled event (a small JSON file, replaced atomically), with the recent
positions (it is a :class:`RecentStore`); a bot that crashes between a handler's return and that
write sees the event once more on restart, so handlers that write elsewhere should still be
idempotent (key by post or message id). A store of your own that keeps cursors only still works:
the recent positions are then lost on restart and, until the cursor moves on, nothing behind it
is taken, as before 1.8.0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from protocol import messages as m
from protocol.recent import RecentPositions, floor_id, ms_of

__all__ = [
    "CursorStore",
    "JsonFileStore",
    "MemoryStore",
    "RecentStore",
    "RecentWindow",
    "StreamCursors",
    "floor_id",
]


@dataclass(frozen=True)
class RecentWindow:
    """What a client holds behind one stream's cursor: every position from ``since`` up to the
    cursor that it handled is in ``held`` (in increasing order)."""

    since: str
    held: tuple[str, ...]


class CursorStore(Protocol):
    """Where cursors live between runs. ``load`` is called once at start, ``save`` after each
    handled stream event (with every stream's cursor), and must not block for long."""

    def load(self) -> dict[str, str]: ...

    def save(self, cursors: dict[str, str]) -> None: ...


@runtime_checkable
class RecentStore(CursorStore, Protocol):
    """A store that keeps the recent positions too (``auth.recent``, PROTOCOL.md section 6.5).
    ``save_recent`` replaces ``save`` for it: cursors and positions written together."""

    def load_recent(self) -> dict[str, RecentWindow]: ...

    def save_recent(self, cursors: dict[str, str], recent: dict[str, RecentWindow]) -> None: ...


class MemoryStore:
    """Cursors kept for the life of the process only (the default). It keeps no recent
    positions: the client that uses it has them in memory already, and writing them out after
    every event would cost a sort of the window each time for nothing."""

    def __init__(self, cursors: dict[str, str] | None = None) -> None:
        self.cursors = dict(cursors or {})

    def load(self) -> dict[str, str]:
        return dict(self.cursors)

    def save(self, cursors: dict[str, str]) -> None:
        self.cursors = dict(cursors)


class JsonFileStore:
    """Cursors in a JSON file, replaced atomically: ``{"following": "01M7...", ...}``, and under
    ``"recent"`` each stream's ``{"since": ..., "held": [...]}`` (an SDK before 1.8 reads the
    cursors of such a file and ignores the rest)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: not a JSON object of cursors")
        return data

    def load(self) -> dict[str, str]:
        return {k: v for k, v in self._read().items() if isinstance(k, str) and isinstance(v, str)}

    def load_recent(self) -> dict[str, RecentWindow]:
        recent = self._read().get("recent")
        windows: dict[str, RecentWindow] = {}
        for stream, window in (recent if isinstance(recent, dict) else {}).items():
            since = window.get("since") if isinstance(window, dict) else None
            held = window.get("held") if isinstance(window, dict) else None
            # A damaged entry is left out: that stream then resumes as before 1.8.0.
            if isinstance(since, str) and isinstance(held, list) and all(isinstance(p, str) for p in held):
                windows[stream] = RecentWindow(since, tuple(held))
        return windows

    def save(self, cursors: dict[str, str]) -> None:
        self._write(dict(cursors))

    def save_recent(self, cursors: dict[str, str], recent: dict[str, RecentWindow]) -> None:
        windows = {stream: {"since": w.since, "held": list(w.held)} for stream, w in recent.items()}
        self._write({**cursors, "recent": windows})

    def _write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
        os.replace(temporary, self.path)


class StreamCursors:
    """The cursors, the recent handled positions and the accepted-but-not-handled positions of
    every stream."""

    def __init__(self, store: CursorStore, streams: tuple[str, ...] = m.STREAMS) -> None:
        self.store = store
        self.streams = streams
        self.cursors: dict[str, str] = {k: v for k, v in store.load().items() if k in streams}
        #: Handled positions, each stream's kept within the window behind its greatest.
        self.recent = RecentPositions()
        #: Per stream with a cursor: every position handled from here up to the cursor is in
        #: ``recent`` (within the window). Nothing before it is taken on a resume.
        self.since: dict[str, str] = {}
        saved = store.load_recent() if isinstance(store, RecentStore) else {}
        for stream, cursor in self.cursors.items():
            window = saved.get(stream)
            self.since[stream] = cursor if window is None else min(window.since, cursor)
            if window is not None:
                self.recent.add_all(stream, (p for p in window.held if p <= cursor))
            self.recent.add(stream, cursor)  # handled (or a moment, which no item has)
        self._accepted: dict[str, set[str]] = {stream: set() for stream in streams}

    def for_auth(self) -> m.Cursors:
        return m.Cursors(**{stream: self.cursors.get(stream) for stream in self.streams})

    def missing(self) -> list[str]:
        return [stream for stream in self.streams if stream not in self.cursors]

    def _low(self, stream: str, cursor: str) -> str:
        """The lower edge of what a resume from ``cursor`` with ``recent`` may send again."""
        window_floor = floor_id(max(0, ms_of(cursor) - self.recent.window_ms))
        return max(window_floor, self.since.get(stream, cursor))

    def recent_for_auth(self, window_ms: int, limit: int) -> list[str] | None:
        """``auth.recent`` for a server whose window is ``window_ms``, or None when it would
        gain nothing (no stream knows what it holds behind its cursor: a first run, or cursors
        from a store that keeps none)."""
        self.recent.window_ms = window_ms
        if not any(self._low(stream, cursor) < cursor for stream, cursor in self.cursors.items()):
            return None
        limit = min(limit, m.RESUME_RECENT_MAX)
        return self.recent.for_auth(dict(self.cursors), limit, dict(self.since))

    def floors(self, with_recent: bool) -> dict[str, str]:
        """Per stream with a cursor, the position below which nothing of a resume is taken:
        the cursor itself, or with ``recent`` sent, the window behind it."""
        if not with_recent:
            return dict(self.cursors)
        return {stream: self._low(stream, cursor) for stream, cursor in self.cursors.items()}

    def accept(self, stream: str, pos: str, floor: str | None) -> bool:
        """Whether an event at ``pos`` is new: not before ``floor`` (see :meth:`floors`), not the
        cursor, not handled within the window, nor already accepted. New events are remembered."""
        accepted = self._accepted.setdefault(stream, set())
        if (floor is not None and pos < floor) or pos == self.cursors.get(stream):
            return False
        if pos in accepted or self.recent.holds(stream, pos):
            return False
        accepted.add(pos)
        return True

    def handled(self, stream: str, pos: str) -> None:
        """The handlers of the event at ``pos`` have run: move the cursor, keep the position
        among the recent ones, and save."""
        self._accepted.setdefault(stream, set()).discard(pos)
        self.recent.add(stream, pos)
        current = self.cursors.get(stream)
        if current is None:
            self.since[stream] = pos  # nothing before the first event is wanted on a resume
        moved = current is None or pos > current
        if moved:
            self.cursors[stream] = pos
        if isinstance(self.store, RecentStore):
            self.store.save_recent(dict(self.cursors), self.windows())
        elif moved:
            self.store.save(dict(self.cursors))

    def windows(self) -> dict[str, RecentWindow]:
        """What :class:`RecentStore` keeps: per stream, the handled positions of the window."""
        windows = {}
        for stream, cursor in self.cursors.items():
            low = self._low(stream, cursor)
            windows[stream] = RecentWindow(low, tuple(self.recent.window(stream, cursor, low)))
        return windows

    def forget_pending(self) -> None:
        """Forget accepted positions not handled (events dropped unhandled)."""
        for accepted in self._accepted.values():
            accepted.clear()

    def drop(self, streams: list[str]) -> None:
        """Forget the cursors of ``streams``: the server could not resume them (``ready.reload``)."""
        for stream in streams:
            old = self.cursors.pop(stream, None)
            self.since.pop(stream, None)
            self.recent.forget(stream)
            if old is not None and stream in self._accepted:
                self._accepted[stream] = {p for p in self._accepted[stream] if p > old}

    def restart(self, stream: str, cursor: str) -> None:
        """Start ``stream`` from ``cursor`` (the server's clock when it had none), unless events
        after its cursor are accepted but not handled yet: the cursor stays before those.
        Nothing before it is wanted on a resume."""
        current = self.cursors.get(stream)
        pending = [p for p in self._accepted.get(stream, ()) if current is None or p > current]
        if pending:
            cursor = min(cursor, min(pending)[:10] + "0" * 16)
        if current is None or cursor > current:
            self.cursors[stream] = cursor
            self.since[stream] = cursor
            if isinstance(self.store, RecentStore):
                self.store.save_recent(dict(self.cursors), self.windows())
            else:
                self.store.save(dict(self.cursors))
