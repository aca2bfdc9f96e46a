"""The image pool (server/media/worker.py): jobs run in worker processes, refusals cross back
with their codes, and a full pool refuses at once with ``busy`` instead of queueing."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ProcessPoolExecutor

import pytest
from PIL import Image

from server.config import ConfigError, Settings
from server.media import ImageWorker, Limits, MediaError, MediaErrorCode


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (255, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_the_pool_processes_images_and_refuses_bad_ones_with_their_codes() -> None:
    async with ImageWorker(workers=1, queue_max=4, limits=Limits(max_pixels=10_000)) as worker:
        result = await worker.process(png(), kind="avatar")
        assert result.placeholder == "#ff0000"
        assert (result.display.width, result.display.height) == (48, 48)
        with pytest.raises(MediaError) as caught:
            await worker.process(b"<svg/>", kind="post")
        assert caught.value.code == MediaErrorCode.UNSUPPORTED_FORMAT
        with pytest.raises(MediaError) as caught:
            await worker.process(png((200, 200)), kind="post")
        assert caught.value.code == MediaErrorCode.TOO_MANY_PIXELS
        assert worker.pending == 0


@pytest.mark.parametrize("threads", [False, True])
async def test_a_full_pool_refuses_with_busy_and_serves_what_it_took(threads: bool) -> None:
    async with ImageWorker(workers=1, queue_max=1, threads=threads) as worker:
        outcomes = await asyncio.gather(
            *(worker.process(png(), kind="post") for _ in range(4)), return_exceptions=True
        )
        busy = [o for o in outcomes if isinstance(o, MediaError)]
        done = [o for o in outcomes if not isinstance(o, BaseException)]
        # One runs, one waits; the other two arrive while both places are taken.
        assert len(done) == 2 and len(busy) == 2
        assert all(error.code == MediaErrorCode.BUSY for error in busy)
        assert worker.pending == 0
        assert (await worker.process(png(), kind="post")).placeholder == "#ff0000"


def test_the_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError, match="workers"):
        ImageWorker(workers=0)


def test_the_settings_set_the_pool_and_its_limits() -> None:
    settings = Settings.from_env({"TSUDOI_MEDIA_MAX_FRAMES": "7", "TSUDOI_MEDIA_QUEUE_MAX": "0"})
    worker = ImageWorker.from_settings(settings)
    try:
        assert (worker.limits.max_frames, worker.queue_max, worker.workers) == (7, 0, 2)
        assert worker.limits.max_pixels == Limits().max_pixels == settings.media_max_pixels
    finally:
        worker.close()
    with pytest.raises(ConfigError, match="TSUDOI_MEDIA_MAX_PIXELS"):
        Settings.from_env({"TSUDOI_MEDIA_MAX_PIXELS": "100000000"})


async def test_a_worker_that_dies_costs_its_image_and_the_pool_is_replaced() -> None:
    async with ImageWorker(workers=1, queue_max=2) as worker:
        await worker.process(png(), kind="post")  # the worker process is up
        executor = worker._executor
        assert isinstance(executor, ProcessPoolExecutor)
        for process in list(executor._processes.values()):
            process.kill()  # as the kernel's OOM killer or a crashing decoder would end it
            process.join()
        with pytest.raises(MediaError) as caught:
            await worker.process(png(), kind="post")
        assert caught.value.code == MediaErrorCode.CORRUPT
        assert worker._executor is not executor
        assert (await worker.process(png(), kind="post")).placeholder == "#ff0000"
        await asyncio.sleep(0)
        assert worker.pending == 0
