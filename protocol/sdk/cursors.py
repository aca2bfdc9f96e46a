"""Resume cursors: what the client has handled, so it is neither missed nor handled twice.

The server numbers the items of three streams (``following``, ``direct``, ``notifications``) and
replays, after a reconnect, every item after the cursors the client sends in ``auth``
(PROTOCOL.md section 6). :class:`StreamCursors` keeps, per stream:

- the **cursor**: the greatest ``pos`` whose event has been *handled* (its handlers returned).
  It only moves after the handlers ran, so an event accepted but not yet handled when the
  connection drops is replayed, never skipped;
- the positions **accepted** (queued or handled) that the cursor does not cover yet, so an event
  queued from one connection and replayed on the next is handed to the handlers once.

A :class:`CursorStore` keeps the cursors across process restarts. :class:`JsonFileStore` writes
them after every handled event (a small JSON file, replaced atomically); a bot that crashes
between a handler's return and that write sees the event once more on restart, so handlers
that write elsewhere should still be idempotent (key by post or message id).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import orjson

from protocol import messages as m

__all__ = ["CursorStore", "JsonFileStore", "MemoryStore", "StreamCursors", "floor_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def floor_id(ms: int) -> str:
    """The smallest id that could be made at millisecond ``ms`` (Unix time): every item stored
    after that moment has a greater id (PROTOCOL.md section 1, Identifiers)."""
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return "".join(reversed(chars)) + "0" * 16


class CursorStore(Protocol):
    """Where cursors live between runs. ``load`` is called once at start, ``save`` after each
    handled stream event (with every stream's cursor), and must not block for long."""

    def load(self) -> dict[str, str]: ...

    def save(self, cursors: dict[str, str]) -> None: ...


class MemoryStore:
    """Cursors kept for the life of the process only (the default)."""

    def __init__(self, cursors: dict[str, str] | None = None) -> None:
        self.cursors = dict(cursors or {})

    def load(self) -> dict[str, str]:
        return dict(self.cursors)

    def save(self, cursors: dict[str, str]) -> None:
        self.cursors = dict(cursors)


class JsonFileStore:
    """Cursors in a JSON file, ``{"following": "01M7...", ...}``, replaced atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, str]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: not a JSON object of cursors")
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def save(self, cursors: dict[str, str]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(cursors, option=orjson.OPT_SORT_KEYS))
        os.replace(temporary, self.path)


class StreamCursors:
    """The cursors and the accepted-but-not-yet-covered positions of every stream."""

    def __init__(self, store: CursorStore, streams: tuple[str, ...] = m.STREAMS) -> None:
        self.store = store
        self.streams = streams
        self.cursors: dict[str, str] = {k: v for k, v in store.load().items() if k in streams}
        self._accepted: dict[str, set[str]] = {stream: set() for stream in streams}

    def for_auth(self) -> m.Cursors:
        return m.Cursors(**{stream: self.cursors.get(stream) for stream in self.streams})

    def missing(self) -> list[str]:
        return [stream for stream in self.streams if stream not in self.cursors]

    def accept(self, stream: str, pos: str, floor: str | None) -> bool:
        """Whether an event at ``pos`` is new: not at or before ``floor`` (the cursor this
        connection resumed from), nor already accepted. New events are remembered."""
        accepted = self._accepted.setdefault(stream, set())
        if (floor is not None and pos <= floor) or pos in accepted:
            return False
        accepted.add(pos)
        return True

    def handled(self, stream: str, pos: str) -> None:
        """The handlers of the event at ``pos`` have run: move the cursor and save it."""
        if pos > self.cursors.get(stream, ""):
            self.cursors[stream] = pos
            self.store.save(dict(self.cursors))
        accepted = self._accepted.setdefault(stream, set())
        if len(accepted) > 4096:  # those the cursor covers cannot be replayed again
            cursor = self.cursors[stream]
            accepted.difference_update({p for p in accepted if p <= cursor})

    def forget_pending(self) -> None:
        """Forget accepted positions the cursor does not cover (events dropped unhandled)."""
        for stream, accepted in self._accepted.items():
            cursor = self.cursors.get(stream, "")
            accepted.intersection_update({p for p in accepted if p <= cursor})

    def drop(self, streams: list[str]) -> None:
        """Forget the cursors of ``streams``: the server could not resume them (``ready.reload``)."""
        for stream in streams:
            old = self.cursors.pop(stream, None)
            if old is not None and stream in self._accepted:
                self._accepted[stream] = {p for p in self._accepted[stream] if p > old}

    def restart(self, stream: str, cursor: str) -> None:
        """Start ``stream`` from ``cursor`` (the server's clock when it had none), unless events
        after its cursor are accepted but not handled yet: the cursor stays before those."""
        current = self.cursors.get(stream)
        pending = [p for p in self._accepted.get(stream, ()) if current is None or p > current]
        if pending:
            cursor = min(cursor, min(pending)[:10] + "0" * 16)
        if current is None or cursor > current:
            self.cursors[stream] = cursor
            self.store.save(dict(self.cursors))
