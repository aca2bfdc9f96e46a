"""The positions a client holds near its cursors, for ``auth.recent`` (PROTOCOL.md sections 6.2, 6.5).

With several writers an item can be stored a moment after one with a greater ``pos``, so a cursor
alone cannot say what a client holds. Since 1.8.0 a resuming client also names the positions it
holds within ``limits.resume_window_ms`` behind each stream's cursor; the server then sends what
it lacks of that window. :class:`RecentPositions` is that memory, pure (no I/O) and shared by
the SDK and the load-test client:

- per stream, the greatest position held (the cursor) and every position held within the window
  behind it; older ones are forgotten, so memory is bounded by the window (and by ``cap``);
- :meth:`~RecentPositions.holds` answers "already processed?" for the window, which is what a
  client must drop when the server sends a position again (one left out of ``recent``);
- :meth:`~RecentPositions.for_auth` is the ``recent`` list, nearest the cursors first, at most
  ``limits.resume_recent_max`` long.

A position's first 10 characters are its millisecond in Crockford base32 (section 1,
Identifiers), so the window is measured on the ids themselves, never on the client's clock.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from . import messages as m
from .codec import encode

__all__ = ["DEFAULT_WINDOW_MS", "RecentPositions", "encode_auth", "floor_id", "ms_of"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {char: index for index, char in enumerate(_CROCKFORD)}
#: ``limits.resume_window_ms`` when a server says nothing else (section 6.2).
DEFAULT_WINDOW_MS = 5000


def ms_of(pos: str) -> int:
    """The millisecond (Unix time) a position was made at: its first 10 characters.
    ``ValueError`` for a string that is not an id."""
    value = 0
    try:
        for char in pos[:10]:
            value = value * 32 + _VALUE[char]
    except KeyError:
        raise ValueError(f"not an id: {pos!r}") from None
    if len(pos) < 10:
        raise ValueError(f"not an id: {pos!r}")
    return value


def floor_id(ms: int) -> str:
    """The smallest id that could be made at millisecond ``ms`` (Unix time): every item stored
    after that moment has a greater id (section 1, Identifiers)."""
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return "".join(reversed(chars)) + "0" * 16


class RecentPositions:
    """Per stream, the positions held within ``window_ms`` of the greatest one held.

    ``cap`` bounds each stream's set whatever the rate (the oldest go first); at 20 items a
    second a 5-second window holds 100. Forgetting is amortised: a stream's set is pruned when it
    has doubled since the last prune, so :meth:`add` is O(1) on average.
    """

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS, *, cap: int = 10_000) -> None:
        self.window_ms = window_ms
        self.cap = cap
        self._held: dict[str, set[str]] = {}
        self._greatest: dict[str, str] = {}
        self._pruned_at: dict[str, int] = {}

    def greatest(self, stream: str) -> str | None:
        return self._greatest.get(stream)

    def holds(self, stream: str, pos: str) -> bool:
        return pos in self._held.get(stream, ())

    def add(self, stream: str, pos: str) -> bool:
        """Remember ``pos`` as held; False if it was already (a duplicate to drop)."""
        held = self._held.setdefault(stream, set())
        if pos in held:
            return False
        held.add(pos)
        if pos > self._greatest.get(stream, ""):
            self._greatest[stream] = pos
        if len(held) > max(64, 2 * self._pruned_at.get(stream, 0)):
            self.prune(stream)
        return True

    def add_all(self, stream: str, positions: Iterable[str]) -> None:
        for pos in positions:
            self.add(stream, pos)

    def forget(self, stream: str, pos: str | None = None) -> None:
        """Forget one position of ``stream``, or (``pos`` None) the whole stream."""
        if pos is None:
            self._held.pop(stream, None)
            self._greatest.pop(stream, None)
            self._pruned_at.pop(stream, None)
        else:
            self._held.get(stream, set()).discard(pos)

    def edge(self, stream: str) -> str | None:
        """The smallest position the window of ``stream`` covers, or None with nothing held."""
        greatest = self._greatest.get(stream)
        if greatest is None:
            return None
        return floor_id(max(0, ms_of(greatest) - self.window_ms))

    def prune(self, stream: str) -> None:
        """Forget positions older than the window (and the oldest past ``cap``)."""
        edge = self.edge(stream)
        held = self._held.get(stream)
        if edge is None or held is None:
            return
        kept = sorted(pos for pos in held if pos >= edge)[-self.cap :]
        self._held[stream] = set(kept)
        self._pruned_at[stream] = len(kept)

    def window(self, stream: str, cursor: str | None = None, since: str | None = None) -> list[str]:
        """The positions held within the window behind ``cursor`` (the greatest held, by
        default) and at or after ``since``, in increasing order."""
        cursor = cursor or self._greatest.get(stream)
        if cursor is None:
            return []
        low = floor_id(max(0, ms_of(cursor) - self.window_ms))
        if since is not None:
            low = max(low, since)
        return sorted(pos for pos in self._held.get(stream, ()) if low <= pos <= cursor)

    def for_auth(self, cursors: dict[str, str], limit: int, since: dict[str, str] | None = None) -> list[str]:
        """``auth.recent``: every stream's :meth:`window` behind its cursor, one list. Past
        ``limit``, those nearest their cursor are kept: a position left out may be sent again,
        and is dropped by :meth:`holds`, while one far behind is less likely to be lacking."""
        since = since or {}
        ranked: list[tuple[int, str]] = []
        for stream, cursor in cursors.items():
            top = ms_of(cursor)
            ranked += [(top - ms_of(pos), pos) for pos in self.window(stream, cursor, since.get(stream))]
        ranked.sort()
        return [pos for _, pos in ranked[: max(0, limit)]]


def encode_auth(
    token: str | None, cursors: m.Cursors | None, recent: list[str] | None, *, compact: bool = False
) -> bytes:
    """An ``auth`` frame, with ``recent`` and ``compact`` left out entirely rather than null when
    not asked for: a server before 1.8.0 (1.15.0) refuses a field it does not know, whatever its
    value (section 2.3)."""
    frame = msgspec.to_builtins(m.Auth(token=token, cursors=cursors, recent=recent, compact=compact or None))
    for field in ("recent", "compact"):
        if frame.get(field) is None:
            frame.pop(field, None)
    return encode(frame)
