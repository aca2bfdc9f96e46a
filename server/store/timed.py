"""A Storage that times every call of the port, around whichever adapter is configured.

:func:`server.store.open_storage` wraps the adapter in one when it is given metrics, so latency is
measured in one place for every adapter, and no adapter knows about metrics. The proxy keeps the
port's behaviour exactly: the same arguments reach the adapter, the same result or exception comes
back (failed calls are timed too), and anything outside the port is the adapter's own attribute.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from prometheus_client import Histogram

from .base import Storage

#: The port's coroutine methods, read from the Protocol itself (every area it is the sum of) so a
#: new method is timed too.
PORT_METHODS = tuple(
    name
    for area in Storage.__mro__
    for name, value in vars(area).items()
    if inspect.iscoroutinefunction(value)
)


def timed_storage(inner: Storage, latency: Histogram) -> Storage:
    """``inner``, with each port method observed in ``latency`` under ``op=<method name>``."""
    return cast(Storage, TimedStorage(inner, latency))


class TimedStorage:
    def __init__(self, inner: Storage, latency: Histogram) -> None:
        self._inner = inner
        self._latency = latency

    def __getattr__(self, name: str) -> Any:
        """A port method, timed (wrapped on first use, then found directly); anything else is the
        adapter's own attribute, untouched."""
        found = getattr(self._inner, name)
        if name in PORT_METHODS:
            found = _timed(found, self._latency, name)
            setattr(self, name, found)
        return found

    def __repr__(self) -> str:
        return f"TimedStorage({self._inner!r})"


def _timed(
    method: Callable[..., Awaitable[Any]], latency: Histogram, op: str
) -> Callable[..., Awaitable[Any]]:
    series = latency.labels(op=op)  # made on first use of the method: only methods called show

    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            series.observe(time.perf_counter() - started)

    return timed
