"""Runs the image pipeline off the event loop, in a bounded pool of processes.

Decoding and resizing a 12-megapixel photo takes a CPU core for a good part of a second; done on
the event loop it would stall every connection's delivery. Processes rather than threads (the
figures are in BENCHMARKS.md, "Images"): Pillow releases the GIL while it decodes, resizes and
encodes, but not in the Python between those steps, and the loop's lag under fifty jobs is what
counts; processes also keep ``warnings.catch_warnings`` (server/media/images.py) from racing,
confine a decoder's crash to a worker that is replaced, and give memory back when a worker is
recycled after ``RECYCLE_AFTER`` jobs.

The bound is explicit: at most ``workers`` jobs run and ``queue_max`` wait. One more is refused
at once with ``MediaErrorCode.BUSY`` rather than queued: an upload's bytes are in memory while
it waits, and a client told "busy" can retry, which a server out of memory cannot.

A worker ends when its node does, however the node ended (:func:`_end_with_parent`): a node
killed with SIGKILL cannot stop its pool, and its workers would otherwise wait for work for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from server.config import Settings
from server.media.images import Kind, Limits, MediaError, MediaErrorCode, Processed, process

#: A worker process is replaced after this many jobs, so a decoder's large allocations (and any
#: fragmentation they leave) do not stay with the node for its lifetime.
RECYCLE_AFTER = 200
#: How often a worker looks whether its node is still there.
PARENT_CHECK_S = 1.0


def _end_with_parent(parent: int) -> None:
    """Run in each worker process as it starts: end it once ``parent`` (the node) is gone.

    A worker waits for jobs on a ``multiprocessing`` queue, and every worker holds both ends of
    that queue's pipe, so it never reads an end of file when the node dies without closing the
    pool: each would wait for ever (as every SIGKILLed node's did, with the pool's resource
    tracker). Once the node is gone the worker's parent is no longer it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="tsudoi-media-parent", daemon=True).start()


class ImageWorker:
    """``await worker.process(data, kind=...)``: the pipeline in a pool, bounded.

    ``threads=True`` runs it in threads instead, for the benchmark's comparison only: there the
    loop lags more, and ``process``'s warning filter is process-wide state that threads share.
    Call ``close()`` (or use ``async with``) at shutdown.
    """

    def __init__(
        self, *, workers: int = 2, queue_max: int = 48, limits: Limits | None = None, threads: bool = False
    ) -> None:
        if workers < 1 or queue_max < 0:
            raise ValueError("workers must be at least 1 and queue_max at least 0")
        self.workers = workers
        self.queue_max = queue_max
        self.limits = limits or Limits()
        self.threads = threads
        self._pending = 0
        self._executor: Executor = self._start()

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageWorker:
        """The pool and limits the ``media_*`` settings describe."""
        limits = Limits(
            max_bytes=settings.media_max_bytes,
            max_pixels=settings.media_max_pixels,
            max_frames=settings.media_max_frames,
            max_duration_ms=settings.media_max_duration_ms,
            max_animation_pixels=settings.media_max_animation_pixels,
        )
        return cls(workers=settings.media_workers, queue_max=settings.media_queue_max, limits=limits)

    def _start(self) -> Executor:
        if self.threads:
            return ThreadPoolExecutor(self.workers, thread_name_prefix="tsudoi-media")
        # "spawn": a fork of a process running an event loop and threads can inherit held locks.
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=RECYCLE_AFTER,
            initializer=_end_with_parent,
            initargs=(os.getpid(),),
        )

    @property
    def pending(self) -> int:
        """Jobs running or waiting now."""
        return self._pending

    async def process(self, data: bytes, *, kind: Kind) -> Processed:
        """The pipeline's result for ``data``; MediaError when refused, BUSY when the pool
        already holds ``workers + queue_max`` jobs."""
        if self._pending >= self.workers + self.queue_max:
            raise MediaError(MediaErrorCode.BUSY, "too many images are being processed; try again shortly")
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            future = executor.submit(process, data, kind=kind, limits=self.limits)
            # The place is given back when the job ends, not when its caller stops waiting: a
            # cancelled caller (a client gone) leaves a running job running, holding a worker.
            self._pending += 1
            future.add_done_callback(partial(self._ended, loop))
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            # A worker died (a decoder crashed on these bytes, or the system killed it for
            # memory): replace the pool once, however many jobs it took down with it, and
            # refuse this image rather than retry it.
            if self._executor is executor:
                self._restart()
            raise MediaError(MediaErrorCode.CORRUPT, "the image could not be processed") from None

    def _ended(self, loop: asyncio.AbstractEventLoop, _future: object) -> None:
        """A job's done callback, in whichever thread finished it."""
        # A closed loop raises RuntimeError: nobody is counting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._pending -= 1

    def _restart(self) -> None:
        broken, self._executor = self._executor, self._start()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers; jobs not yet started are cancelled."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> ImageWorker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)
