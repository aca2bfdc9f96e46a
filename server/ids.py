"""Time-ordered unique string ids for every persisted item.

The format is ULID-like: 26 characters of Crockford base32 holding a 48-bit millisecond Unix
timestamp followed by 80 bits. Within one generator, ids strictly increase even when the clock
stands still or steps back (the 80-bit part is incremented), so a single writer hands out ids
in the same order as it commits them — which is what makes "everything after cursor X" exact.

See ``docs/topics/resume.md`` for what commit order buys, and where several writers lose it.
"""

from __future__ import annotations

import secrets
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


def encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(ALPHABET[index])
    return "".join(reversed(chars))


def timestamp_ms(item_id: str) -> int:
    """The millisecond timestamp an id was made at."""
    value = 0
    for char in item_id[:10]:
        value = value * 32 + ALPHABET.index(char)
    return value


def floor_id(ms: int) -> str:
    """The smallest id that could be made at millisecond ``ms``: ids made later sort after it."""
    return encode(ms << _RANDOM_BITS, 26)


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
