"""Logs an operator can read during an outage: one line when a dependency goes, one when it comes
back, and a summary, not a line per event, of what strangers do wrong.

Periodic loops (the presence tick, the Redis bus's reconnect loop, the incident poll, the webhook
dispatcher) fail on every round while a dependency is down, and so do requests, handshakes and
gap fills (the gateway's and HTTP's shared ``storage`` outage) and presence registrations. Logging each failure with its
traceback wrote about 2 KB a second for a Redis that was simply not there, and buried the one
line that mattered. Each such loop owns an :class:`OutageLog` instead:

- ``failed(exc)`` the first time logs one WARNING, ``<name> unreachable: <cause>``, where the
  cause is the innermost exception of the chain (``ConnectionRefusedError: [Errno 111] ...``);
  after that it only counts. A different kind of cause later in the same outage gets one line of
  its own (``still unreachable, now: ...``), so a refused connection that turns into a timeout is
  seen.
- A failure that is not an outage — no exception in its chain is an ``OSError`` (connection
  refused or reset, timeouts) or one of the types the owner names as its dependency's way of
  saying "unavailable" — is a bug, not the weather: it is logged at ERROR with its traceback,
  once per exception type per outage, so bugs stay visible without flooding.
- ``recovered()`` logs ``<name> back after 12.3 s (41 failures)`` once, if it was down; else
  nothing, so a loop calls it after every successful round.

:class:`Tally` is for events that are each harmless and only matter in bulk (clients closed for
malformed frames): the first is logged at once, then at most one summary line per ``interval_s``
with counts by a bounded kind, e.g. ``37 connections closed for malformed frames in the last
60 s (invalid_utf8: 37)``.

Neither ever raises, and neither holds anything per event beyond a counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["OutageLog", "Tally", "describe", "root_cause"]

#: Longest cause quoted in a line: a driver's message can embed a whole server reply.
CAUSE_MAX_CHARS = 300


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first, following ``raise ... from`` and the implicit
    context the way tracebacks print them (a suppressed context is not followed)."""
    links = [exc]
    while True:
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None or any(nxt is link for link in links):
            return links
        links.append(nxt)
        exc = nxt


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of ``exc``'s chain."""
    return _chain(exc)[-1]


def describe(exc: BaseException) -> str:
    """``Type: message`` of the innermost cause, on one line; a cause with no message (a bare
    ``TimeoutError``) borrows the outermost exception's, which usually names the dependency."""
    root = root_cause(exc)
    message = str(root) or (str(exc) if exc is not root else "")
    text = f"{type(root).__name__}: {message}" if message else type(root).__name__
    text = " ".join(text.split())
    return text if len(text) <= CAUSE_MAX_CHARS else text[: CAUSE_MAX_CHARS - 1] + "…"


class OutageLog:
    """The log's view of one dependency of one loop: down since when, how many failures, and
    which unexpected exception types were already shown with a traceback.

    ``name`` is what the operator knows the dependency as ("redis bus", "storage (incident
    poll)"). ``expected`` are exception types that mean "unavailable" besides ``OSError`` (and
    so ``TimeoutError`` and ``ConnectionError``), which always do: a driver's own connection
    error, or a port's ``...Unavailable``. ``meanwhile`` ends the first line with what the node
    does without it ("delivering locally only"). Use it from one event loop (no locking)."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        *,
        expected: tuple[type[BaseException], ...] = (),
        meanwhile: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._meanwhile = f"; {meanwhile}" if meanwhile else ""
        self._log = logger
        self._expected: tuple[type[BaseException], ...] = (OSError, *expected)
        self._clock = clock
        self._down_since: float | None = None
        self._failures = 0
        self._cause_kind: str | None = None
        self._shown: set[type[BaseException]] = set()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def failures(self) -> int:
        """Failures in the current outage (0 when up)."""
        return self._failures

    def expected(self, exc: BaseException) -> bool:
        """True if ``exc`` says the dependency is unavailable (anywhere in its chain)."""
        return any(isinstance(link, self._expected) for link in _chain(exc))

    def failed(self, exc: BaseException) -> None:
        """Record one failure; log it only if it starts an outage, changes its cause, or is an
        unexpected exception type not shown yet in this outage."""
        first = self._down_since is None
        if first:
            self._down_since = self._clock()
        self._failures += 1
        if not self.expected(exc):
            kind = type(exc)
            if kind not in self._shown:
                self._shown.add(kind)
                # A bug, not the weather: its traceback once, so it can be fixed.
                self._log.error("%s failed: %s", self.name, describe(exc), exc_info=exc)
            return
        cause_kind = type(root_cause(exc)).__name__
        if first or self._cause_kind is None:
            self._log.warning("%s unreachable: %s%s", self.name, describe(exc), self._meanwhile)
        elif cause_kind != self._cause_kind:
            self._log.warning("%s still unreachable, now: %s", self.name, describe(exc))
        self._cause_kind = cause_kind

    def recovered(self) -> bool:
        """Record a success; log the outage's end if there was one. True if it was down."""
        if self._down_since is None:
            return False
        lasted = self._clock() - self._down_since
        failures = self._failures
        self._down_since, self._failures, self._cause_kind = None, 0, None
        self._shown.clear()
        self._log.warning(
            "%s back after %.1f s (%d failure%s)", self.name, lasted, failures, "" if failures == 1 else "s"
        )
        return True

    async def every(self, interval_s: float, check: Callable[[], Awaitable[object]]) -> None:
        """Run ``check`` every ``interval_s`` seconds until cancelled, its failures and recovery
        logged here: the body of a polling task (the incident poll, the operators' signals)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await check()
            except Exception as exc:  # the dependency is down, or a bug (then its traceback, once)
                self.failed(exc)
            else:
                self.recovered()


class Tally:
    """Counts of a bounded set of kinds of event, logged as a summary at most once per
    ``interval_s`` (the first event of a quiet spell at once). ``one`` and ``many`` read after
    a count: "connection closed for malformed frames", "connections closed for malformed
    frames". Call :meth:`note` from a running event loop."""

    def __init__(
        self,
        one: str,
        many: str,
        logger: logging.Logger,
        *,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._one, self._many = one, many
        self._log = logger
        self.interval_s = interval_s
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._last_logged: float | None = None
        self._flush_handle: asyncio.TimerHandle | None = None

    def note(self, kind: str) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        now = self._clock()
        if self._last_logged is None or now - self._last_logged >= self.interval_s:
            self._flush(now)
        elif self._flush_handle is None:
            # The rest of this window is summed up when it ends, even if nothing more comes.
            delay = self._last_logged + self.interval_s - now
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line, if anything."""
        self._flush(self._clock())

    def _flush(self, now: float) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._counts:
            return
        counts, self._counts = self._counts, {}
        total = sum(counts.values())
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))
        window = "" if self._last_logged is None else f" in the last {now - self._last_logged:.0f} s"
        self._last_logged = now
        what = self._one if total == 1 else self._many
        self._log.warning("%d %s%s (%s)", total, what, window, kinds)

    def close(self) -> None:
        """Stop the pending summary timer (at shutdown); what it would have said is flushed."""
        self.flush()
