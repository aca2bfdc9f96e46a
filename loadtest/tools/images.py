"""What the image pipeline costs (server/media/): the encoder choices, one photo's processing, and
the event loop's lag while fifty uploads go through the pool. A benchmark, not a test: it prints
figures for BENCHMARKS.md ("Images").

    .venv/bin/python -m loadtest.tools.images [JOBS] [WORKERS]

Typical photos are made once per run: 12-megapixel (4000 x 3000) JPEGs at quality 90, smooth
gradients with shapes and sensor-like noise, about what a phone writes (3-6 MB), one of them
stored sideways (EXIF orientation 6) with a GPS position. Then:

1. encoders on a display-size (1600 x 1200) frame: bytes and milliseconds per encode;
2. decoding the photo whole and as JPEG draft (scaled in libjpeg), and ``process`` end to end,
   one at a time on this thread: the per-core throughput;
3. JOBS (50) concurrent ``ImageWorker.process`` calls with WORKERS (2) workers, in processes and
   in threads, while a ticker on the event loop asks to wake every 5 ms and records how late it
   wakes: the lag every connection's delivery would see. The queue admits all JOBS here.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from PIL import ExifTags, Image, ImageDraw, ImageFilter

from server.media import ImageWorker, images, process
from server.media.images import Kind

TICK_S = 0.005
default_method = images.WEBP_METHOD_LARGE


def photo(seed: int, *, sideways: bool = False, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A JPEG that compresses like a photo (not like flat colour or pure noise), 12 megapixels
    unless ``size`` says otherwise."""
    width, height = size
    # Shapes drawn small and blurred, scaled up (soft edges, like optics), then sensor noise
    # and fine texture, which is what makes a phone's JPEG weigh megabytes.
    small = (width // 4, height // 4)
    base = Image.linear_gradient("L").resize(small).rotate(seed * 37 % 360)
    image = Image.merge(
        "RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base.point(lambda v: 255 - v))
    )
    draw = ImageDraw.Draw(image)
    for i in range(60):
        x, y = (seed * 7919 + i * 104729) % small[0], (seed * 6271 + i * 15485863) % small[1]
        radius = 15 + (i * 53) % 120
        draw.ellipse((x, y, x + radius, y + radius), fill=((i * 61) % 256, (i * 97) % 256, (i * 13) % 256))
    image = image.filter(ImageFilter.GaussianBlur(1)).resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 64) for _ in range(3)])
    image = Image.blend(image, noise, 0.12)
    options: dict[str, object] = {"quality": 90}
    if sideways:
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (38.0, 15.0, 36.0)
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def timed(action: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` runs of ``action``, in seconds: on a machine shared with other
    work the fastest run is the one least disturbed (timeit's advice)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def encoders(source: bytes) -> None:
    with Image.open(io.BytesIO(source)) as opened:
        frame = opened.convert("RGB").resize((1600, 1200), Image.Resampling.LANCZOS)
    thumb = frame.resize((400, 300), Image.Resampling.BICUBIC, reducing_gap=2.0)
    alpha = frame.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(frame.size))
    choices: list[tuple[str, Image.Image, str, dict[str, object]]] = [
        (
            "JPEG q82 progressive optimize",
            frame,
            "JPEG",
            {"quality": 82, "optimize": True, "progressive": True},
        ),
        ("JPEG q82 baseline", frame, "JPEG", {"quality": 82}),
        ("JPEG q90 baseline", frame, "JPEG", {"quality": 90}),
        ("WebP q80 method 4", frame, "WEBP", {"quality": 80, "method": 4}),
        ("WebP q80 method 2", frame, "WEBP", {"quality": 80, "method": 2}),
        ("AVIF q60 speed 8", frame, "AVIF", {"quality": 60, "speed": 8}),
        (
            "thumbnail 400: JPEG q82 progressive optimize",
            thumb,
            "JPEG",
            {"quality": 82, "optimize": True, "progressive": True},
        ),
        ("thumbnail 400: WebP q80 method 4", thumb, "WEBP", {"quality": 80, "method": 4}),
        ("RGBA: WebP q80 method 4", alpha, "WEBP", {"quality": 80, "method": 4}),
        ("RGBA: WebP q80 method 2", alpha, "WEBP", {"quality": 80, "method": 2}),
        ("RGBA: PNG", alpha, "PNG", {}),
    ]
    print("== encoders, one 1600 x 1200 display frame and its 400 x 300 thumbnail (fastest of 5)")
    for label, image, fmt, options in choices:
        sizes: list[int] = []
        seconds = timed(partial(encode, image, fmt, options, sizes), 5)
        print(f"  {label:46s} {sizes[-1] / 1024:7.0f} KiB  {seconds * 1000:6.1f} ms")


def encode(image: Image.Image, fmt: str, options: dict[str, object], sizes: list[int]) -> None:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    sizes.append(len(buffer.getvalue()))


def pipeline(photos: list[bytes]) -> None:
    print("== one photo at a time on this thread (fastest of 5)")

    def decode_whole() -> None:
        with Image.open(io.BytesIO(photos[0])) as image:
            image.load()

    def decode_draft() -> None:
        with Image.open(io.BytesIO(photos[0])) as image:
            image.draft("RGB", (1600, 1200))
            image.load()

    print(f"  decode 4000 x 3000 whole          {timed(decode_whole, 5) * 1000:6.0f} ms")
    print(f"  decode as JPEG draft (2000 x 1500) {timed(decode_draft, 5) * 1000:6.0f} ms")
    kinds: tuple[Kind, ...] = ("post", "avatar")
    for kind in kinds:
        seconds = timed(partial(process, photos[0], kind=kind), 5)
        result = process(photos[0], kind=kind)
        print(
            f"  process(kind={kind!r}) {seconds * 1000:6.0f} ms -> display {len(result.display.data) / 1024:.0f} KiB,"
            f" thumbnail {len(result.thumbnail.data) / 1024:.0f} KiB; {1 / seconds:.1f} photos/s per core"
        )


def gif(frames: int, size: tuple[int, int]) -> bytes:
    """An animated GIF whose frames differ everywhere (a moving gradient), as a screen capture's."""
    base = Image.linear_gradient("L").resize(size)
    images = [
        Image.merge(
            "RGB",
            (
                base.point(lambda v, i=i: (v + 9 * i) % 256),
                base,
                base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            ),
        )
        for i in range(frames)
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def animation() -> None:
    data = gif(100, (480, 270))
    print(f"== an animated GIF, 100 frames of 480 x 270 ({len(data) / 1024:.0f} KiB), fastest of 3")
    for method in (4, 2, 0):
        images.WEBP_METHOD_LARGE = method
        seconds = timed(partial(process, data, kind="post"), 3)
        result = process(data, kind="post")
        print(
            f"  animated WebP method {method}: {seconds * 1000:6.0f} ms -> {len(result.display.data) / 1024:.0f} KiB"
        )
    images.WEBP_METHOD_LARGE = default_method


async def under_load(photos: list[bytes], jobs: int, workers: int, threads: bool) -> None:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lags.append(time.perf_counter() - start - TICK_S)

    async with ImageWorker(workers=workers, queue_max=jobs, threads=threads) as worker:
        await worker.process(photos[0], kind="avatar")  # start the workers outside the timing
        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.2)
        idle = len(lags)
        start = time.perf_counter()
        results = await asyncio.gather(
            *(worker.process(photos[i % len(photos)], kind="post") for i in range(jobs)),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - start
        stop.set()
        await ticking
    failed = [r for r in results if isinstance(r, BaseException)]
    busy = sorted(lags[idle:])
    quantile = statistics.quantiles(busy, n=100) if len(busy) > 1 else [busy[0]] * 99
    print(
        f"  {'threads' if threads else 'processes'}: {jobs} photos in {elapsed:.1f} s = {jobs / elapsed:.1f}/s"
        f" ({len(failed)} failed); loop lag p50 {quantile[49] * 1000:.1f} ms, p99 {quantile[98] * 1000:.1f} ms,"
        f" max {busy[-1] * 1000:.1f} ms over {len(busy)} ticks"
    )


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    start = time.perf_counter()
    photos = [photo(1, sideways=True), photo(2), photo(3)]
    sizes = ", ".join(f"{len(p) / 1e6:.1f} MB" for p in photos)
    print(f"== three 12-megapixel JPEGs ({sizes}) made in {time.perf_counter() - start:.1f} s")
    encoders(photos[1])
    pipeline(photos)
    animation()
    print(
        f"== {jobs} concurrent uploads through ImageWorker(workers={workers}), ticker every {TICK_S * 1000:.0f} ms"
    )
    for threads in (False, True):
        asyncio.run(under_load(photos, jobs, workers, threads))


if __name__ == "__main__":
    main()
