"""Time-ordered unique string ids for every persisted item.

The format is ULID-like: 26 characters of Crockford base32 holding a 48-bit millisecond Unix
timestamp followed by 80 bits. Within one generator, ids strictly increase even when the clock
stands still or steps back (the 80-bit part is incremented), so a single writer hands out ids
in the same order as it commits them — which is what makes "everything after cursor X" exact.

See ``docs/topics/resume.md`` for what commit order buys, and where several writers lose it.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
#: Every pair of characters, by the ten bits they stand for: an id is 13 lookups, not 26
#: divisions (a resume makes several ids and floors; BENCHMARKS.md).
_PAIRS = tuple(a + b for a in ALPHABET for b in ALPHABET)
#: The same digits as Python's own base 32 (``int(text, 32)``), and what a timestamp may hold.
_AS_PYTHON_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_TIMESTAMP = re.compile(f"[{ALPHABET}]*")
_ZEROS = "0" * 16


def encode(value: int, length: int) -> str:
    """``value`` as ``length`` characters of :data:`ALPHABET`, most significant first (only its
    low ``5 × length`` bits count)."""
    pairs = _PAIRS
    chars = [pairs[(value >> shift) & 1023] for shift in range(10 * (length // 2) - 10, -1, -10)]
    if length % 2:
        chars.insert(0, ALPHABET[(value >> (10 * (length // 2))) & 31])
    return "".join(chars)


def timestamp_ms(item_id: str) -> int:
    """The millisecond timestamp an id was made at (ValueError if one of its first ten
    characters is not of :data:`ALPHABET`)."""
    head = item_id[:10]
    if not _TIMESTAMP.fullmatch(head):
        raise ValueError(f"not an id: {item_id!r}")
    return int(head.translate(_AS_PYTHON_DIGITS) or "0", 32)


def floor_id(ms: int) -> str:
    """The smallest id that could be made at millisecond ``ms``: ids made later sort after it."""
    return encode(ms, 10) + _ZEROS


class IdGenerator:
    """Thread-safe, strictly increasing ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def new(self, now_ms: int | None = None) -> str:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            value = (ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS - 1)
            if value <= self._last:
                value = self._last + 1
            self._last = value
        return encode(value, 26)
