"""The image pipeline: an upload's bytes in, re-encoded variants out. Pure: no I/O, no state.

``process(data, kind=...)`` either returns a :class:`Processed` (a display variant and a
thumbnail, the original's oriented size, a placeholder colour) or raises :class:`MediaError`
with a stable :class:`MediaErrorCode`. Nothing the client sent reaches the output except pixels:
every variant is encoded afresh from decoded pixels, so metadata (EXIF and its GPS position, XMP,
comments, ICC profiles) and any bytes riding along (an HTML page after a JPEG's end) are gone.

The order of the checks is the defence (docs/topics/media.md):

1. the byte count, before anything is parsed;
2. the format, from the first bytes (magic numbers), never from a name or a Content-Type; only
   the matching Pillow plugin is then allowed to parse, so SVG, HTML, PDF, TIFF, executables and
   every format Pillow knows but we do not accept are never parsed at all;
3. the pixel count, from the header (``Image.open`` is lazy), before a pixel is decoded;
4. the frames and duration of an animation, counted while decoding, stopping at the bound;
5. the decode itself, inside one ``try``: truncated or corrupt data is refused
   (``LOAD_TRUNCATED_IMAGES`` stays off).

Pillow's own decompression-bomb guard stays on; its warning (over about 89 megapixels, more than
we accept anyway) is turned into a refusal here instead of being printed. ``warnings.catch_warnings``
changes process-wide state, which is why the pool runs this function in processes of its own.
"""

from __future__ import annotations

import enum
import io
import math
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageCms

Kind = Literal["avatar", "post"]

#: Long-edge bounds of the variants, in pixels. A post's display size fills a desktop timeline
#: column at 2x; its thumbnail is what low-bandwidth mode (an incident) shows. An avatar is
#: cropped square: 400 for the profile, 96 for post cards, lists and the safety board (48 CSS px
#: at 2x). An animation's display size is smaller: every frame is held in memory while encoding.
POST_DISPLAY = 1600
POST_THUMBNAIL = 400
AVATAR_DISPLAY = 400
AVATAR_THUMBNAIL = 96
ANIMATION_DISPLAY = 800

#: Encoder settings, chosen by loadtest/tools/images.py (BENCHMARKS.md, "Images"). A display
#: variant of a photo is a progressive JPEG: libjpeg-turbo encodes 1600 x 1200 in a seventh of
#: WebP's time, and a progressive JPEG shows a coarse picture early on a slow link. Variants up to
#: ``WEBP_UP_TO`` px (thumbnails, avatars: what low-bandwidth mode shows) are WebP: about 40% fewer
#: bytes for some 8 ms more. Anything with transparency is WebP (lossy colour, lossless alpha),
#: a fraction of PNG's size; an animation is an animated WebP, a fraction of GIF's.
JPEG_QUALITY = 82
WEBP_QUALITY = 80
WEBP_UP_TO = 400
#: libwebp's effort (0-6). Method 4 for small variants, where it costs milliseconds; method 2 for
#: large transparent ones and animations (many frames): a third of method 4's time for about 5%
#: more bytes (BENCHMARKS.md, "Images").
WEBP_METHOD_SMALL = 4
WEBP_METHOD_LARGE = 2

#: What each accepted format's plugin is called in Pillow, and the first bytes that announce it.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")


class MediaErrorCode(enum.StrEnum):
    """Why an upload was refused; each value is a stable machine code, one meaning each."""

    #: Not a JPEG, PNG, WebP, GIF or AVIF image by its first bytes (SVG, HTML, PDF, HEIC, ...).
    UNSUPPORTED_FORMAT = "unsupported_format"
    #: More bytes than ``Limits.max_bytes``.
    TOO_LARGE = "too_large"
    #: Width x height over ``Limits.max_pixels`` (or an animation's frames together over
    #: ``Limits.max_animation_pixels``); refused from the header, before decoding.
    TOO_MANY_PIXELS = "too_many_pixels"
    #: An animation with more than ``Limits.max_frames`` frames.
    TOO_MANY_FRAMES = "too_many_frames"
    #: An animation longer than ``Limits.max_duration_ms`` in all.
    TOO_LONG = "too_long"
    #: The bytes start like an accepted format but do not decode as a whole image.
    CORRUPT = "corrupt"
    #: The processing pool is full (server/media/worker.py); try again shortly.
    BUSY = "busy"


class MediaError(Exception):
    """An upload refused: ``code`` for machines, ``message`` for people. Picklable, so it
    crosses from a pool process unchanged."""

    def __init__(self, code: MediaErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Limits:
    """Bounds on what is decoded (server/config.py's ``media_*`` settings)."""

    max_bytes: int = 20 * 1024 * 1024
    #: A 50-megapixel phone photo (8160 x 6144) fits; decoding 60 megapixels of RGBA takes at
    #: most 240 MB in a worker (a JPEG is decoded scaled down, far less).
    max_pixels: int = 60_000_000
    max_frames: int = 200
    max_duration_ms: int = 60_000
    #: The frames of an animation together: every displayed frame is held until encoded.
    max_animation_pixels: int = 40_000_000


@dataclass(frozen=True)
class Variant:
    """One encoded rendition: its pixel size, its Content-Type and its bytes."""

    width: int
    height: int
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Processed:
    """What an accepted upload became. ``width``/``height`` are the original's, upright."""

    kind: Kind
    source_format: str
    width: int
    height: int
    animated: bool
    #: The average colour, ``#rrggbb``, over white where transparent: what a client paints in
    #: the variant's box while it loads.
    placeholder: str
    display: Variant
    thumbnail: Variant


def sniff(data: bytes) -> str | None:
    """The Pillow format name the first bytes announce, among the accepted ones, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        # An ISO media file: AVIF if its major or a compatible brand says so. HEIC shares the
        # container (brands heic, mif1) and is refused here, since nothing decodes it.
        size = int.from_bytes(data[:4], "big")
        brands = data[8 : min(max(size, 16), 64)]
        if any(brands[i : i + 4] in (b"avif", b"avis") for i in range(0, len(brands) - 3, 4)):
            return "AVIF"
    return None


def process(data: bytes, *, kind: Kind, limits: Limits | None = None) -> Processed:
    """Check, decode, orient, strip and re-encode one upload; raise MediaError if refused.

    ``kind="post"`` keeps the aspect ratio (display long edge <= 1600, thumbnail <= 400) and
    keeps an animation animated (animated WebP); ``kind="avatar"`` crops the centre square
    (400 and 96) from the first frame. Never upscales.
    """
    if kind not in ("avatar", "post"):
        raise ValueError(f"kind must be 'avatar' or 'post', not {kind!r}")
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise MediaError(
            MediaErrorCode.TOO_LARGE,
            f"the file has {len(data)} bytes; at most {limits.max_bytes} are accepted",
        )
    fmt = sniff(data)
    if fmt is None:
        raise MediaError(
            MediaErrorCode.UNSUPPORTED_FORMAT, "this is not a JPEG, PNG, WebP, GIF or AVIF image"
        )
    with warnings.catch_warnings():
        # Pillow's other warnings (a malformed EXIF block, say) are about data we discard.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(limits) from None
        except Exception:
            raise MediaError(MediaErrorCode.CORRUPT, f"the file starts as {fmt} but is not one") from None
        with image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise _too_many_pixels(limits)
            try:
                return _render(image, fmt, kind, limits)
            except MediaError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_many_pixels(limits) from None
            except Exception:
                # Truncated data, a bad checksum, a decoder's refusal: the image is not whole.
                raise MediaError(MediaErrorCode.CORRUPT, f"the {fmt} image is truncated or damaged") from None


def _too_many_pixels(limits: Limits) -> MediaError:
    return MediaError(MediaErrorCode.TOO_MANY_PIXELS, f"the image is larger than {limits.max_pixels} pixels")


def _render(image: Image.Image, fmt: str, kind: Kind, limits: Limits) -> Processed:
    original = image.size
    # A JPEG with several frames is an MPO (a stereo pair, a depth map, a preview), never an
    # animation: its first frame is the picture.
    if kind == "post" and fmt != "JPEG" and getattr(image, "is_animated", False):
        orientation = _orientation(image)
        width, height = _turned(original, orientation)
        frames, durations, loop = _frames(image, orientation, limits)
        if len(frames) > 1:
            return _animated(fmt, width, height, frames, durations, loop)
        still = frames[0]
    else:
        _draft(image, kind)
        image.load()
        # After the load: a PNG may keep its EXIF after the pixel data.
        orientation = _orientation(image)
        width, height = _turned(original, orientation)
        still = _upright(_srgb(image), orientation)
    if kind == "avatar":
        side = min(still.size)
        left, top = (still.width - side) // 2, (still.height - side) // 2
        square = still.crop((left, top, left + side, top + side))
        display = _fit(square, AVATAR_DISPLAY)
        thumbnail = _fit(display, AVATAR_THUMBNAIL)
    else:
        display = _fit(still, POST_DISPLAY)
        thumbnail = _fit(display, POST_THUMBNAIL)
    display, thumbnail = _opaque_if_possible(display), _opaque_if_possible(thumbnail)
    return Processed(
        kind=kind,
        source_format=fmt.lower(),
        width=width,
        height=height,
        animated=False,
        placeholder=_placeholder(thumbnail),
        display=_encode_still(display),
        thumbnail=_encode_still(thumbnail),
    )


def _animated(
    fmt: str, width: int, height: int, frames: list[Image.Image], durations: list[int], loop: int
) -> Processed:
    buffer = io.BytesIO()
    for frame in frames:
        frame.info.clear()
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        quality=WEBP_QUALITY,
        method=WEBP_METHOD_LARGE,
    )
    first = _opaque_if_possible(frames[0])
    thumbnail = _fit(first, POST_THUMBNAIL)
    return Processed(
        kind="post",
        source_format=fmt.lower(),
        width=width,
        height=height,
        animated=True,
        placeholder=_placeholder(thumbnail),
        display=Variant(frames[0].width, frames[0].height, "image/webp", buffer.getvalue()),
        # Low-bandwidth mode shows the thumbnail: a still of the first frame.
        thumbnail=_encode_still(thumbnail),
    )


def _frames(image: Image.Image, orientation: int, limits: Limits) -> tuple[list[Image.Image], list[int], int]:
    """Every frame, composited (Pillow does), upright and fitted, with its duration; refused at
    the first frame past a bound, so a million-frame GIF costs max_frames frames of work."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    pixels = 0
    total_ms = 0
    index = 0
    while True:
        try:
            image.seek(index)
        except EOFError:
            break
        if index >= limits.max_frames:
            raise MediaError(
                MediaErrorCode.TOO_MANY_FRAMES, f"the animation has more than {limits.max_frames} frames"
            )
        # A GIF frame larger than the canvas grows it (Pillow follows browsers), so the size
        # is checked again at every frame.
        area = image.width * image.height
        if area > limits.max_pixels:
            raise _too_many_pixels(limits)
        pixels += area
        if pixels > limits.max_animation_pixels:
            raise MediaError(
                MediaErrorCode.TOO_MANY_PIXELS,
                f"the animation's frames hold more than {limits.max_animation_pixels} pixels together",
            )
        # Browsers show a frame of 10 ms or less for 100 ms; count (and keep) what they show.
        duration = int(image.info.get("duration") or 0)
        duration = 100 if duration <= 10 else duration
        total_ms += duration
        if total_ms > limits.max_duration_ms:
            raise MediaError(
                MediaErrorCode.TOO_LONG, f"the animation lasts more than {limits.max_duration_ms} ms"
            )
        # Animations are taken as sRGB (GIF has no colour profile); their profile is dropped.
        frame = _upright(image.convert("RGBA"), orientation)
        frames.append(_fit(frame, ANIMATION_DISPLAY))
        durations.append(duration)
        index += 1
    loop = image.info.get("loop", 0)
    return frames, durations, loop if isinstance(loop, int) else 0


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable (a damaged EXIF block is
    metadata we discard, not a reason to refuse the picture)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _turned(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``size`` once upright: orientations 5 to 8 turn the picture a quarter."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


def _draft(image: Image.Image, kind: Kind) -> None:
    """Let libjpeg decode a JPEG already scaled down (by 1/2, 1/4 or 1/8) when the display
    variant is that much smaller: a 12-megapixel photo for a 1600 px display decodes at a
    quarter of the pixels, in a fraction of the time and memory. No-op for other formats."""
    width, height = image.size
    bound = POST_DISPLAY if kind == "post" else AVATAR_DISPLAY
    edge = max(width, height) if kind == "post" else min(width, height)
    if edge <= bound:
        return
    scale = bound / edge
    image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _srgb(image: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB. A colour profile (Display P3 from a phone, a CMYK print profile) is
    applied, so colours look the same once it is dropped; a profile that cannot be applied is
    ignored. Outputs carry no profile: browsers take untagged images as sRGB."""
    if image.mode.startswith("I"):
        # 16-bit grey (a PNG): converting straight to RGB would clip every value over 255 to
        # white, so scale it to 8 bits first.
        image = image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    target = "RGBA" if alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=out_mode)
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return image if image.mode == target else image.convert(target)


def _fit(image: Image.Image, bound: int) -> Image.Image:
    """``image`` scaled down so its long edge is at most ``bound`` (never up). Bicubic with a
    reducing gap, as Pillow's own ``thumbnail``: a third cheaper than Lanczos (BENCHMARKS.md),
    and no different to the eye when shrinking."""
    long_edge = max(image.size)
    if long_edge <= bound:
        return image
    scale = bound / long_edge
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _opaque_if_possible(image: Image.Image) -> Image.Image:
    """RGBA whose alpha is 255 everywhere becomes RGB (and so a JPEG)."""
    if image.mode == "RGBA":
        low, _high = image.getchannel("A").getextrema()
        if low == 255:
            return image.convert("RGB")
    return image


def _encode_still(image: Image.Image) -> Variant:
    """WebP if transparent or small, else a progressive JPEG. A fresh encode writes only what is
    passed here: no EXIF, XMP, comment or ICC profile."""
    buffer = io.BytesIO()
    image.info.clear()
    small = max(image.size) <= WEBP_UP_TO
    if image.mode == "RGBA" or small:
        method = WEBP_METHOD_SMALL if small else WEBP_METHOD_LARGE
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=method)
        content_type = "image/webp"
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        content_type = "image/jpeg"
    return Variant(image.width, image.height, content_type, buffer.getvalue())


def _placeholder(image: Image.Image) -> str:
    rgba = image.convert("RGBA")
    ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    ground.alpha_composite(rgba)
    red, green, blue = ground.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    return f"#{red:02x}{green:02x}{blue:02x}"
