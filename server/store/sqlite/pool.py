"""The threads SQLite's calls run on, handing their results back to the event loop in batches.

Every storage call is a hop from the event loop to a thread and back. With the standard
``loop.run_in_executor`` a hop costs far more CPU than the small indexed queries it carries: a
``concurrent.futures.Future`` chained to an asyncio future by two callbacks, and one
``call_soon_threadsafe`` per result, each writing to the loop's wake-up pipe. Measured on the
project's machine (BENCHMARKS.md, "Gateway at the runtime's ceiling"): 50–80 µs of CPU per
primary-key read with 50 in flight, for a query that takes 3–5 µs itself. A resume makes about
ten such reads (session, user, follows, memberships, hidden users, one page per stream, the
profile's counts), so in a reconnect storm, when thousands are in flight, the hops were a large
share of each resume.

:class:`ThreadPool` does the same job with less: callers queue ``(loop, future, function)``; a
worker runs the function and adds the outcome to its loop's list of finished work, and only
the worker that finds the list empty wakes the loop. One wake-up then settles every future
finished meanwhile, so under load (a storm) the cost per call falls to the queue and the
future: 14–22 µs in the same measurement.

Semantics kept from the executor: calls run in the order queued, on ``threads`` threads made on
first use, each keeping its own SQLite connection (the engine's thread-local); an exception is
raised to the awaiting caller; a call whose future was cancelled before a worker took it is not
run (a cancelled caller learns nothing either way, as with the executor, where a call already
running also runs to its end). :meth:`shutdown` lets queued calls finish, then stops the threads.
The threads are daemons: a process that never closes its storage still exits (SQLite's journal
keeps the file whole if a write is cut short; the server always closes it).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")
#: (the caller's future, the function's result, or the exception it raised)
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class ThreadPool:
    __slots__ = ("_done", "_jobs", "_lock", "_name", "_size", "_threads")

    def __init__(self, threads: int, name: str) -> None:
        self._size = threads
        self._name = name
        self._jobs: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None
        ] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Per event loop, work finished and not yet handed back: present while a wake-up for
        #: that loop is scheduled, so a worker adding to it need not schedule another.
        self._done: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        self._threads: list[threading.Thread] = []

    def run(self, fn: Callable[[], _T]) -> asyncio.Future[_T]:
        """Queue ``fn`` for a worker thread; the future settles with its outcome."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._work, name=f"{self._name}_{n}", daemon=True)
                for n in range(self._size)
            ]
            for thread in self._threads:
                thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._jobs.put((loop, future, fn))
        return future

    def shutdown(self) -> None:
        """Let the calls queued so far finish, then stop the threads (idempotent)."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, fn = job
            if future.cancelled():  # read across threads: a benign race, as the executor's
                continue
            try:
                outcome: _Outcome = (future, fn(), None)
            except BaseException as exc:
                outcome = (future, None, exc)
            with self._lock:
                done = self._done.get(loop)
                wake = done is None
                if done is None:
                    self._done[loop] = [outcome]
                else:
                    done.append(outcome)
            if wake:
                try:
                    loop.call_soon_threadsafe(self._settle, loop)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    with self._lock:
                        self._done.pop(loop, None)

    def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: settle every future finished since the wake-up was scheduled."""
        with self._lock:
            done = self._done.pop(loop, [])
        for future, result, exc in done:
            if future.cancelled():
                continue
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)
