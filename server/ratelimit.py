"""Token buckets by key: a burst of ``burst`` actions, then one more every ``refill_ms``.

In-process, per node: with N nodes a client spread across all of them gets N times the budget,
which these limits (abuse brakes, not quotas) tolerate.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class _Rule:
    """A burst of ``burst`` tokens, one more every ``refill_ms``: what both kinds of bucket share."""

    __slots__ = ("_burst", "_clock", "_refill_s")

    def __init__(self, burst: int, refill_ms: int, clock: Callable[[], float]) -> None:
        if burst < 1 or refill_ms < 1:
            raise ValueError("burst and refill_ms must be positive")
        self._burst = float(burst)
        self._refill_s = refill_ms / 1000
        self._clock = clock

    def _refilled(self, tokens: float, stamp: float, now: float) -> float:
        return min(self._burst, tokens + (now - stamp) / self._refill_s)

    def _wait_ms(self, tokens: float) -> int:
        return max(1, int((1 - tokens) * self._refill_s * 1000 + 0.999))


class RateLimiter(_Rule):
    #: Above this many keys, full (idle) buckets are forgotten: they carry no information.
    MAX_KEYS = 100_000

    def __init__(self, burst: int, refill_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(burst, refill_ms, clock)
        self._buckets: dict[object, tuple[float, float]] = {}

    @classmethod
    def per_window(cls, count: int, window_ms: int) -> RateLimiter:
        """``count`` actions at once, refilled evenly over ``window_ms``."""
        return cls(count, max(1, window_ms // count))

    def _tokens(self, key: object, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self._burst, now))
        return self._refilled(tokens, stamp, now)

    def check(self, key: object) -> int:
        """0 if an action would be allowed now, else milliseconds until it would be."""
        tokens = self._tokens(key, self._clock())
        return 0 if tokens >= 1 else self._wait_ms(tokens)

    def hit(self, key: object) -> int:
        """Spend a token: 0 if allowed (and counted), else milliseconds to wait (not counted)."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return self._wait_ms(tokens)
        if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1, now)
        return 0

    def _prune(self, now: float) -> None:
        for key in [k for k in self._buckets if self._tokens(k, now) >= self._burst]:
            del self._buckets[key]


class TokenBucket(_Rule):
    """One bucket of :class:`RateLimiter`'s rule, without keys: a connection's own frame budget.
    A node holds tens of thousands of these, so it is two floats and no dict."""

    __slots__ = ("_stamp", "_tokens")

    def __init__(self, burst: int, refill_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(burst, refill_ms, clock)
        self._tokens = self._burst
        self._stamp = clock()

    def hit(self) -> int:
        """Spend a token: 0 if allowed (and counted), else milliseconds to wait (not counted)."""
        now = self._clock()
        tokens = self._refilled(self._tokens, self._stamp, now)
        self._stamp = now
        if tokens < 1:
            self._tokens = tokens
            return self._wait_ms(tokens)
        self._tokens = tokens - 1
        return 0
