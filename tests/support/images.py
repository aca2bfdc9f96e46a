"""Real images for tests, made with Pillow: photos carrying what a phone leaves in them, bombs
and lies. Shared by the pipeline's unit tests and the upload tests against a real server."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image, ImageCms


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def two_halves(width: int, height: int) -> Image.Image:
    """Red on the left, blue on the right."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def gps_photo() -> bytes:
    """A JPEG shot "sideways" (EXIF orientation 6) carrying a GPS position, an XMP packet with
    the same, a comment and an ICC profile: everything a phone may leave in a picture."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (38.0, 15.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (140.0, 52.0, 12.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>38,15.6N</exif:GPSLatitude></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(
        two_halves(600, 400), "JPEG", exif=exif.tobytes(), xmp=xmp, icc_profile=icc, comment=b"at home"
    )


def gif(frames: int, duration: int = 100, size: tuple[int, int] = (32, 32)) -> bytes:
    images = [Image.new("RGB", size, (i * 20 % 256, 255 - i * 20 % 256, i * 7 % 256)) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` whose pixel data is a few compressed bytes: what a
    decompression bomb's header looks like, without the bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
