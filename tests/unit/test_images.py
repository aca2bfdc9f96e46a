"""The image pipeline (server/media/images.py) on real images made here with Pillow: what is
refused and with which code, and what an accepted image becomes (upright, stripped, bounded)."""

from __future__ import annotations

import io
import pickle
import struct
import sys

import pytest
from PIL import ExifTags, Image

from server.media import Limits, MediaError, MediaErrorCode, Processed, process
from server.media.images import sniff
from tests.support.images import HTML, SVG, encode, gif, gps_photo, png_header_only, two_halves


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def refused(data: bytes, code: MediaErrorCode, *, kind: str = "post", limits: Limits | None = None) -> None:
    with pytest.raises(MediaError) as caught:
        process(data, kind=kind, limits=limits)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.message
    assert caught.value.message


def reddish(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def bluish(pixel: tuple[int, ...]) -> bool:
    return pixel[2] > 200 and pixel[0] < 60 and pixel[1] < 60


def test_a_photo_with_gps_comes_out_upright_with_no_metadata_at_all() -> None:
    data = gps_photo()
    source = opened(data)
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo), "the fixture carries a position"
    assert b"GPS" in data and b"Exif" in data and b"xmpmeta" in data

    result = process(data, kind="post")

    # Orientation 6: the stored picture turns a quarter clockwise, its left half to the top.
    assert (result.width, result.height) == (400, 600)
    assert result.display.content_type == "image/jpeg"
    assert result.thumbnail.content_type == "image/webp"
    for variant in (result.display, result.thumbnail):
        out = opened(variant.data)
        width, height = out.size
        assert (width, height) == (variant.width, variant.height)
        assert height > width
        assert reddish(out.getpixel((width // 2, height // 8)))  # type: ignore[arg-type]
        assert bluish(out.getpixel((width // 2, height * 7 // 8)))  # type: ignore[arg-type]
        assert not out.getexif()
        assert "icc_profile" not in out.info and "xmp" not in out.info and "comment" not in out.info
        # JPEG's APP1 "Exif" and "ICC_PROFILE", WebP's "EXIF", "XMP " and "ICCP" chunks.
        for marker in (b"Exif", b"EXIF", b"GPS", b"xmpmeta", b"XMP ", b"ICC", b"PhoneMaker", b"at home"):
            assert marker not in variant.data


def test_an_avatar_is_cropped_square_from_the_centre_and_bounded() -> None:
    wide = Image.new("RGB", (1000, 600), (0, 255, 0))
    wide.paste((255, 0, 0), (200, 0, 800, 600))  # only the middle 600 px are red
    result = process(encode(wide, "PNG"), kind="avatar")
    assert (result.width, result.height) == (1000, 600)
    assert (result.display.width, result.display.height) == (400, 400)
    assert (result.thumbnail.width, result.thumbnail.height) == (96, 96)
    corner = opened(result.display.data).getpixel((2, 2))
    assert reddish(corner), corner  # type: ignore[arg-type]


def test_variants_are_bounded_and_never_upscaled() -> None:
    post = process(encode(two_halves(3000, 1000), "PNG"), kind="post")
    assert (post.display.width, post.display.height) == (1600, 533)
    assert (post.thumbnail.width, post.thumbnail.height) == (400, 133)
    assert (post.display.content_type, post.thumbnail.content_type) == ("image/jpeg", "image/webp")

    small = process(encode(two_halves(300, 500), "PNG"), kind="avatar")
    assert (small.display.width, small.display.height) == (300, 300)
    assert (small.thumbnail.width, small.thumbnail.height) == (96, 96)

    tiny = process(encode(two_halves(120, 80), "WEBP"), kind="post")
    assert (tiny.display.width, tiny.display.height) == (120, 80)
    assert tiny.source_format == "webp"


def test_a_large_jpeg_is_decoded_scaled_down_yet_reports_its_full_size() -> None:
    result = process(encode(two_halves(4000, 3000), "JPEG", quality=90), kind="post")
    assert (result.width, result.height) == (4000, 3000)
    assert (result.display.width, result.display.height) == (1600, 1200)


def test_the_placeholder_of_a_solid_red_image_is_red() -> None:
    assert (
        process(encode(Image.new("RGB", (64, 48), (255, 0, 0)), "PNG"), kind="post").placeholder == "#ff0000"
    )
    # Transparent pixels count as white: a half-transparent red square is a light red.
    half = Image.new("RGBA", (64, 64), (255, 0, 0, 128))
    assert process(encode(half, "PNG"), kind="post").placeholder == "#ff7f7f"


def test_a_png_with_alpha_keeps_its_transparency() -> None:
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 0, 200, 100))
    result = process(encode(image, "PNG"), kind="post")
    assert result.display.content_type == "image/webp"
    out = opened(result.display.data)
    assert out.mode == "RGBA"
    assert out.getpixel((20, 50))[3] == 0  # type: ignore[index]
    assert out.getpixel((180, 50))[3] == 255  # type: ignore[index]
    # A palette image with a transparent index is transparent too.
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.info["transparency"] = palette.getpixel((0, 0))
    assert process(encode(palette, "PNG"), kind="post").display.content_type == "image/webp"


def test_alpha_that_is_opaque_everywhere_is_dropped() -> None:
    result = process(encode(Image.new("RGBA", (2000, 50), (9, 9, 9, 255)), "PNG"), kind="post")
    assert result.display.content_type == "image/jpeg"
    assert opened(result.thumbnail.data).mode == "RGB"


def test_a_cmyk_jpeg_comes_out_rgb() -> None:
    result = process(encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"), kind="post")
    out = opened(result.display.data)
    assert out.mode == "RGB"
    assert reddish(out.getpixel((20, 20)))  # type: ignore[arg-type]


def test_a_16_bit_grey_png_keeps_its_greys() -> None:
    ramp = Image.linear_gradient("L").resize((64, 64)).convert("I").point(lambda v: v * 257).convert("I;16")
    result = process(encode(ramp, "PNG"), kind="post")
    out = opened(result.display.data).convert("L")
    dark, light = out.getpixel((32, 2)), out.getpixel((32, 61))
    assert isinstance(dark, int) and isinstance(light, int)
    assert dark < 30 and light > 225, (dark, light)


def test_an_avif_is_accepted_and_re_encoded() -> None:
    result = process(encode(two_halves(64, 32), "AVIF"), kind="post")
    assert result.source_format == "avif"
    assert result.display.content_type == "image/webp"
    assert reddish(opened(result.display.data).getpixel((8, 16)))  # type: ignore[arg-type]


def test_an_animated_gif_within_the_bounds_stays_animated_as_webp() -> None:
    data = gif(5)
    result = process(data, kind="post", limits=Limits(max_frames=5))
    assert result.animated and result.source_format == "gif"
    assert result.display.content_type == "image/webp"
    out = opened(result.display.data)
    assert getattr(out, "n_frames", 1) == 5
    assert out.info.get("duration") == 100
    # The thumbnail, what low-bandwidth mode shows, is a still of the first frame.
    assert not getattr(opened(result.thumbnail.data), "is_animated", False)
    # An avatar takes the first frame only.
    avatar = process(data, kind="avatar", limits=Limits(max_frames=5))
    assert not avatar.animated
    assert not getattr(opened(avatar.display.data), "is_animated", False)


def test_a_jpeg_with_more_frames_is_a_still_of_its_first() -> None:
    # MPO: what some cameras write, a stereo pair or a depth map after the picture.
    second = Image.new("RGB", (64, 64), (0, 0, 255))
    data = encode(Image.new("RGB", (64, 64), (255, 0, 0)), "MPO", save_all=True, append_images=[second])
    assert getattr(opened(data), "is_animated", False)
    result = process(data, kind="post")
    assert not result.animated
    red, green, blue = (int(result.placeholder[i : i + 2], 16) for i in (1, 3, 5))
    assert red > 240 and green < 16 and blue < 16, result.placeholder


def test_an_animation_over_the_frame_or_duration_bound_is_refused() -> None:
    refused(gif(6), MediaErrorCode.TOO_MANY_FRAMES, limits=Limits(max_frames=5))
    refused(gif(5, duration=200), MediaErrorCode.TOO_LONG, limits=Limits(max_duration_ms=900))
    refused(
        gif(5, size=(100, 100)), MediaErrorCode.TOO_MANY_PIXELS, limits=Limits(max_animation_pixels=40_000)
    )


def test_a_gif_frame_that_grows_the_canvas_is_held_to_the_pixel_bound() -> None:
    # A third frame declaring 5000 x 5000 on a 10 x 10 canvas, with a few bytes of data: Pillow
    # (as browsers) grows the canvas to fit it, so the bound must be checked at every frame.
    frame = b"\x21\xf9\x04\x00\x0a\x00\x00\x00" + b"\x2c" + struct.pack("<HHHH", 0, 0, 5000, 5000)
    data = gif(2, size=(10, 10))[:-1] + frame + b"\x00\x02\x01\x2c\x00;"
    refused(data, MediaErrorCode.TOO_MANY_PIXELS, limits=Limits(max_pixels=1_000_000))


def test_pixel_bombs_are_refused_from_the_header_before_decoding() -> None:
    # Decoding any of these would fail as corrupt (the data is a few bytes): too_many_pixels
    # shows the size was refused first. Past Pillow's own bomb error, past its warning (which
    # must not leak: pytest turns warnings into errors), and past our lower limit.
    refused(png_header_only(50_000, 50_000), MediaErrorCode.TOO_MANY_PIXELS)
    refused(png_header_only(10_000, 10_000), MediaErrorCode.TOO_MANY_PIXELS)
    refused(png_header_only(9000, 9000), MediaErrorCode.TOO_MANY_PIXELS)
    refused(png_header_only(300, 300), MediaErrorCode.TOO_MANY_PIXELS, limits=Limits(max_pixels=80_000))
    refused(png_header_only(300, 300), MediaErrorCode.CORRUPT)


def test_truncated_and_damaged_files_are_refused_as_corrupt() -> None:
    png = encode(Image.effect_noise((200, 200), 50), "PNG")
    refused(png[: len(png) // 2], MediaErrorCode.CORRUPT)
    damaged = bytearray(png)
    damaged[40] ^= 0xFF  # inside the first chunk after IHDR: its CRC no longer matches
    refused(bytes(damaged), MediaErrorCode.CORRUPT)
    jpeg = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    refused(jpeg[: len(jpeg) // 2], MediaErrorCode.CORRUPT)
    refused(b"\xff\xd8\xff", MediaErrorCode.CORRUPT)
    refused(b"GIF89a", MediaErrorCode.CORRUPT)


def test_what_is_not_an_accepted_image_is_refused_by_its_bytes() -> None:
    with open(sys.executable, "rb") as executable:
        elf = executable.read(4096)
    heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64
    for data in (SVG, HTML, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", elf, heic, b"", b"BM" + b"\0" * 60):
        refused(data, MediaErrorCode.UNSUPPORTED_FORMAT)
    # The name or type a client claims plays no part: there is nowhere to pass one.
    refused(HTML + encode(two_halves(20, 20), "JPEG"), MediaErrorCode.UNSUPPORTED_FORMAT)


def test_a_jpeg_carrying_html_after_it_is_re_encoded_without_the_html() -> None:
    # Cameras append data after a JPEG's end (motion photos, trailers), so a whole JPEG with
    # bytes after it is accepted; nothing of those bytes survives the re-encoding.
    result = process(encode(two_halves(40, 40), "JPEG") + HTML, kind="post")
    for variant in (result.display, result.thumbnail):
        assert b"<script" not in variant.data and b"html" not in variant.data


def test_a_file_over_the_byte_limit_is_refused_before_it_is_parsed() -> None:
    refused(b"\xff\xd8\xff" + b"\0" * 200, MediaErrorCode.TOO_LARGE, limits=Limits(max_bytes=100))


def test_sniffing_reads_the_first_bytes_only() -> None:
    assert sniff(encode(two_halves(4, 4), "GIF")) == "GIF"
    assert sniff(encode(two_halves(4, 4), "WEBP")) == "WEBP"
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") is None


def test_results_and_errors_cross_a_process_boundary() -> None:
    result = process(encode(two_halves(8, 8), "PNG"), kind="post")
    assert isinstance(pickle.loads(pickle.dumps(result)), Processed)
    error = pickle.loads(pickle.dumps(MediaError(MediaErrorCode.BUSY, "busy")))
    assert (error.code, error.message) == (MediaErrorCode.BUSY, "busy")


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        process(encode(two_halves(8, 8), "PNG"), kind="banner")  # type: ignore[arg-type]
