"""Pictures through the SDK against a real server: ``Client.upload`` over HTTP, attached with alt
text by ``post_create`` and ``dm_send``, received by others through the SDK and fetched with
``Client.fetch_media``; refusals raised as the error code's class (PROTOCOL.md 11.11, 11.12)."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from protocol import messages as m
from protocol.errors import ErrorCode
from protocol.http import UploadResponse
from protocol.sdk import Client, ConnectionLost, RetryLaterError, attach, codes, fetch_media, upload_media
from protocol.sdk.decoding import convert
from tests.support.client import Users
from tests.support.images import SVG, encode
from tests.support.server import ServerProcess


def picture(size: tuple[int, int] = (640, 480)) -> bytes:
    """A PNG a bot might draw: a sky, a ground and a red marker."""
    image = Image.new("RGB", size, (120, 170, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, size[1] * 2 // 3, size[0], size[1]), fill=(90, 140, 70))
    draw.ellipse(
        (size[0] // 2 - 20, size[1] // 2 - 20, size[0] // 2 + 20, size[1] // 2 + 20), fill=(220, 30, 30)
    )
    return encode(image, "PNG")


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_a_picture_goes_up_out_with_its_alt_to_a_follower_who_fetches_it(
    server: ServerProcess, users: Users, tmp_path: Path
) -> None:
    author, fan = await users.author_and_fan()
    received: asyncio.Queue[m.Post] = asyncio.Queue()
    async with Client(server.url, author.token) as writer, Client(server.url, fan.token) as reader:
        reader.on("post.created")(lambda event: received.put_nowait(event.post))
        drawn = tmp_path / "map.png"
        drawn.write_bytes(picture())
        uploaded = await writer.upload(drawn)  # a path; bytes below
        assert (uploaded.width, uploaded.height) == (640, 480) and uploaded.alt is None
        assert uploaded.display.url == f"/media/{uploaded.id}/display"
        second = await writer.upload(picture((300, 300)))

        alt = "青葉区の地図：赤い丸が市役所前の給水所"
        sent = (
            await writer.post_create("給水所の場所", media=[attach(uploaded, alt), attach(second.id)])
        ).post
        post = await asyncio.wait_for(received.get(), 15)
        assert post.id == sent.id and [p.id for p in post.media] == [uploaded.id, second.id]
        assert [p.alt for p in post.media] == [alt, None]

        display = opened(await reader.fetch_media(post.media[0].display))
        assert display.size == (640, 480) and display.format == "JPEG"
        thumbnail = opened(await reader.fetch_media(post.media[0].thumbnail.url))
        assert thumbnail.size == (post.media[0].thumbnail.width, post.media[0].thumbnail.height) == (400, 300)
        # The red marker survived the re-encoding, where it was drawn.
        red, green, blue = display.convert("RGB").getpixel((320, 240))  # type: ignore[misc]
        assert red > 180 and green < 80 and blue < 80

        # A post's public picture needs no token; the module-level helper says the same.
        anonymous = await fetch_media(server.url, post.media[0].display.url)
        assert anonymous == await reader.fetch_media(post.media[0].display)


async def test_refusals_raise_the_codes_class(server: ServerProcess, users: Users) -> None:
    author, stranger = await users.new("author"), await users.new("stranger")
    async with Client(server.url, author.token) as writer, Client(server.url, stranger.token) as other:
        with pytest.raises(codes.UnsupportedFormatError) as refused:
            await writer.upload(SVG)
        assert refused.value.code == ErrorCode.UNSUPPORTED_FORMAT and refused.value.op is None
        with pytest.raises(codes.CorruptError):
            await writer.upload(picture()[:200])

        waiting = await writer.upload(picture())
        # Until attached, only its owner may fetch it: anyone else is told it does not exist.
        with pytest.raises(codes.NotFoundError):
            await other.fetch_media(waiting.display)
        assert opened(await writer.fetch_media(waiting.display)).size == (640, 480)
        # Someone else's upload cannot be attached.
        with pytest.raises(codes.MediaNotFoundError) as not_theirs:
            await other.post_create("借りた写真", media=[attach(waiting, "他人の写真")])
        assert not_theirs.value.path == "$.media[0]"
        with pytest.raises(FileNotFoundError):
            await writer.upload(Path("/nonexistent/map.png"))


async def test_a_picture_in_a_message_is_served_to_the_conversations_members_only(
    server: ServerProcess, users: Users
) -> None:
    bot, person, outsider = await users.bot(), await users.new("person"), await users.new("outsider")
    received: asyncio.Queue[m.Message] = asyncio.Queue()
    async with (
        Client(server.url, bot.token) as sender,
        Client(server.url, person.token) as member,
        Client(server.url, outsider.token) as other,
    ):
        member.on("dm.message")(lambda event: received.put_nowait(event.message))
        conversation = (await member.dm_open([bot.id])).conversation
        drawn = await sender.upload(picture())
        await sender.dm_send(conversation.id, "", media=[attach(drawn, "避難所の地図")])
        while (message := await asyncio.wait_for(received.get(), 15)).kind != "text":
            pass
        assert message.text == "" and [(p.id, p.alt) for p in message.media] == [(drawn.id, "避難所の地図")]
        assert opened(await member.fetch_media(message.media[0].display)).size == (640, 480)
        with pytest.raises(codes.NotFoundError):
            await other.fetch_media(message.media[0].display)


@pytest.fixture(scope="module")
def stingy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server allowing each user one upload, then one more every 3 s."""
    env = {"TSUDOI_UPLOAD_BURST": "1", "TSUDOI_UPLOAD_REFILL_MS": "3000"}
    process = ServerProcess(tmp_path_factory.mktemp("stingy"), env).start()
    yield process
    process.stop()


async def test_a_rate_limited_upload_is_retried_after_the_wait_it_names(stingy: ServerProcess) -> None:
    users = Users(stingy)
    try:
        patient, hasty = await users.new("patient"), await users.new("hasty")
        async with Client(stingy.url, patient.token) as client:
            first, second = await client.upload(picture()), await client.upload(picture((64, 64)))
            assert first.id != second.id and (second.width, second.height) == (64, 64)
        # Without retries the refusal comes through, with the wait it names. The budget is
        # taken before the body is read, so the second of two tiny uploads is over it.
        async with Client(stingy.url, hasty.token, rate_limit_retries=0) as client:
            await client.upload(picture((64, 64)))
            with pytest.raises(codes.RateLimitedError) as refused:
                await client.upload(picture((64, 64)))
            assert isinstance(refused.value, RetryLaterError)
            assert refused.value.retry_after_ms is not None and refused.value.retry_after_ms > 0
        # The module-level helper never retries.
        with pytest.raises(codes.RateLimitedError):
            await upload_media(stingy.url, hasty.token, picture((64, 64)))
    finally:
        await users.close()


async def test_the_token_goes_only_to_the_server_it_belongs_to() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"bytes")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        base = "https://tsudoi.example/ws"
        assert await fetch_media(base, "/media/01J/display", token="tsd_x", http=http) == b"bytes"
        await fetch_media(base, "https://tsudoi.example/media/01J/thumbnail", token="tsd_x", http=http)
        await fetch_media(base, "https://cdn.elsewhere.example/media/01J/display", token="tsd_x", http=http)
    assert [str(r.url) for r in seen] == [
        "https://tsudoi.example/media/01J/display",
        "https://tsudoi.example/media/01J/thumbnail",
        "https://cdn.elsewhere.example/media/01J/display",
    ]
    assert [r.headers.get("authorization") for r in seen] == ["Bearer tsd_x", "Bearer tsd_x", None]


def test_an_upload_answer_from_a_newer_server_reads_with_its_new_fields_dropped() -> None:
    """``upload_media`` reads ``POST /api/media``'s answer as the SDK reads frames (PROTOCOL.md
    section 12): fields a later server adds, at any depth, are ignored."""
    variant: dict[str, Any] = {
        "url": "/media/01M9A3QC4D7E2F5G8H1J3K6M9N/display",
        "width": 1600,
        "height": 1200,
    }
    media: dict[str, Any] = {
        "id": "01M9A3QC4D7E2F5G8H1J3K6M9N",
        "width": 4032,
        "height": 3024,
        "placeholder": "#7d8590",
        "alt": None,
        "animated": False,
        "display": {**variant, "content_type": "image/jpeg"},
        "thumbnail": {
            **variant,
            "url": variant["url"].replace("display", "thumbnail"),
            "content_type": "image/webp",
        },
    }
    answer = {"media": media, "expires_at": "2026-11-22T14:12:30.008Z"}
    newer = {
        "media": {
            **media,
            "blurhash": "LEHV6nWB2yk8",
            "display": {**media["display"], "bytes": 120_000},
        },
        "expires_at": answer["expires_at"],
        "quota": {"left": 39},
    }
    assert convert(newer, UploadResponse) == convert(answer, UploadResponse)
    assert convert(newer, UploadResponse).media.display.width == 1600


async def test_no_server_to_answer_is_connection_lost_not_an_httpx_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionLost):
        await upload_media(f"http://127.0.0.1:{port}", "tsd_x", picture((8, 8)))
    with pytest.raises(ConnectionLost):
        await fetch_media(f"http://127.0.0.1:{port}", "/media/01J/display")


async def test_a_bot_sets_its_avatar_from_an_upload_of_kind_avatar(
    server: ServerProcess, users: Users
) -> None:
    bot = await users.bot()
    async with Client(server.url, bot.token) as client:
        face = await client.upload(picture((640, 480)), kind="avatar")
        with pytest.raises(codes.MediaNotFoundError):  # a post's picture is not an avatar
            await client.profile_update(avatar=(await client.upload(picture())).id)
        profile = (await client.profile_update(avatar=face.id)).user
        assert profile.avatar is not None
        # Cropped to a centred square; public, so fetched without a token too.
        square = opened(await fetch_media(server.url, profile.avatar.url))
        assert square.size[0] == square.size[1] <= 400
        assert opened(await client.fetch_media(profile.avatar.thumbnail_url)).size[0] <= 96
