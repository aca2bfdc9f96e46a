"""Pictures against a real server: upload over HTTP, attach over the socket, serve to whoever may
see them, collect what nothing uses (PROTOCOL.md section 11.11, docs/topics/media.md).

The pipeline's own matrix of images is in tests/unit/test_images.py; here each kind of refusal is
checked once through the HTTP route, with its status and code."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.client import Account, Client, ErrorFrame, Users
from tests.support.images import HTML, SVG, encode, gif, gps_photo, png_header_only, two_halves
from tests.support.metrics import scrape
from tests.support.server import ServerProcess


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


async def upload(
    server: ServerProcess, account: Account, data: bytes, kind: str = "post", **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        return await http.post(
            "/api/media", params={"kind": kind}, content=data, headers={**bearer(account), **headers}
        )


async def uploaded(
    server: ServerProcess, account: Account, data: bytes, kind: str = "post"
) -> dict[str, Any]:
    response = await upload(server, account, data, kind)
    assert response.status_code == 201, response.text
    media: dict[str, Any] = response.json()["media"]
    return media


async def fetch(
    server: ServerProcess, url: str, account: Account | None = None, **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        return await http.get(url, headers={**(bearer(account) if account else {}), **headers})


def photo(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (120, 80)) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG")


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


async def test_an_upload_is_stripped_private_until_attached_then_public_with_its_post(
    server: ServerProcess, users: Users
) -> None:
    alice, stranger = await users.new("alice"), await users.new("stranger")
    response = await upload(server, alice, gps_photo(), headers="ignored")
    assert response.status_code == 201, response.text
    body = response.json()
    media = body["media"]
    # Upright (the photo was shot "sideways"), its placeholder a colour, its alt not given yet.
    assert (media["width"], media["height"]) == (400, 600) and media["alt"] is None
    assert media["display"]["url"] == f"/media/{media['id']}/display"
    assert media["placeholder"].startswith("#") and body["expires_at"].endswith("Z")

    served = await fetch(server, media["display"]["url"], alice)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "private, no-cache"
    assert b"Exif" not in served.content and b"GPS" not in served.content and b"xmpmeta" not in served.content
    assert not Image.open(io.BytesIO(served.content)).getexif()
    # Waiting to be attached, it is its owner's alone: to anyone else it does not exist.
    refused(await fetch(server, media["display"]["url"], stranger), 404, "not_found")
    refused(await fetch(server, media["thumbnail"]["url"]), 404, "not_found")

    client = await Client.login(server, alice.token)
    post = (
        await client.call(
            "post.create", text="避難所の入口", media=[{"id": media["id"], "alt": "  A school gate, open  "}]
        )
    )["post"]
    assert [(m["id"], m["alt"]) for m in post["media"]] == [(media["id"], "A school gate, open")]
    # Attached to a post anyone may read: anyone may see it, and caches may keep it for good.
    public = await fetch(server, media["thumbnail"]["url"])
    assert public.status_code == 200 and public.headers["content-type"] == "image/webp"
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = await fetch(server, media["thumbnail"]["url"], None, **{"If-None-Match": public.headers["etag"]})
    assert again.status_code == 304 and not again.content
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        head = await http.head(media["thumbnail"]["url"])
    assert head.status_code == 200 and not head.content
    assert head.headers["content-length"] == str(len(public.content))
    # An attached upload is attached once.
    with pytest.raises(ErrorFrame) as caught:
        await client.call("post.create", text="again", media=[{"id": media["id"]}])
    assert caught.value.code == "media_not_found" and caught.value.frame["path"] == "$.media[0]"
    # Deleting the post takes its pictures with it.
    await client.call("post.delete", post_id=post["id"])
    refused(await fetch(server, media["display"]["url"], stranger), 404, "not_found")
    await client.close()


async def test_what_is_not_a_picture_is_refused_with_its_code(server: ServerProcess, users: Users) -> None:
    alice = await users.new("alice")
    with open(sys.executable, "rb") as executable:
        elf = executable.read(4096)
    truncated = encode(Image.effect_noise((200, 200), 50), "PNG")
    cases = [
        (SVG, 415, "unsupported_format"),
        (HTML + photo(), 415, "unsupported_format"),  # a polyglot that starts as HTML
        (elf, 415, "unsupported_format"),  # an executable, whatever it is called
        (png_header_only(50_000, 50_000), 422, "too_many_pixels"),  # a bomb, by its header
        (truncated[: len(truncated) // 2], 422, "corrupt"),
        (gif(201, size=(4, 4)), 422, "too_many_frames"),
        (b"", 400, "invalid_request"),
    ]
    for data, status, code in cases:
        refused(await upload(server, alice, data, **{"Content-Type": "image/png"}), status, code)
    refused(await upload(server, alice, photo(), kind="banner"), 400, "invalid_request")
    # A whole JPEG with HTML after it is a JPEG; what is served holds nothing of the HTML.
    media = await uploaded(server, alice, photo() + HTML)
    assert b"<script" not in (await fetch(server, media["display"]["url"], alice)).content


async def test_an_upload_needs_a_session_and_a_cookie_needs_the_page_s_origin(
    server: ServerProcess, users: Users
) -> None:
    alice = await users.new("alice")
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        refused(await http.post("/api/media", content=photo()), 401, "not_authenticated")
        http.cookies.set("tsudoi_session", alice.token)
        refused(await http.post("/api/media", content=photo()), 403, "origin_rejected")
        refused(
            await http.post("/api/media", content=photo(), headers={"Origin": "https://elsewhere.example"}),
            403,
            "origin_rejected",
        )
        made = await http.post("/api/media", content=photo(), headers={"Origin": server.url})
        assert made.status_code == 201, made.text
        # An <img> sends the cookie and no Origin: the owner sees their own upload.
        assert (await http.get(made.json()["media"]["display"]["url"])).status_code == 200


async def test_pictures_in_a_conversation_are_for_its_members_only(
    server: ServerProcess, users: Users
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    stranger = await users.new("stranger")
    await users.friends(alice, bob)
    media = await uploaded(server, alice, photo())
    a, b = await Client.login(server, alice.token), await Client.login(server, bob.token)
    conversation = (await a.call("dm.open", user_ids=[bob.id]))["conversation"]
    # Pictures alone: a message may have no text when it has pictures.
    message = (
        await a.call("dm.send", conversation_id=conversation["id"], text="", media=[{"id": media["id"]}])
    )["message"]
    assert message["text"] == "" and [m["id"] for m in message["media"]] == [media["id"]]
    event = await b.next_event("dm.message")
    while event["data"]["message"]["id"] != message["id"]:  # "created", made by dm.open
        event = await b.next_event("dm.message")
    assert event["data"]["message"]["media"][0]["display"]["url"] == media["display"]["url"]
    for who in (alice, bob):
        seen = await fetch(server, media["display"]["url"], who)
        assert seen.status_code == 200 and seen.headers["cache-control"] == "private, no-cache"
    refused(await fetch(server, media["display"]["url"], stranger), 404, "not_found")
    refused(await fetch(server, media["display"]["url"]), 404, "not_found")
    # Without pictures, an empty message is still refused.
    with pytest.raises(ErrorFrame) as caught:
        await a.call("dm.send", conversation_id=conversation["id"], text=" ")
    assert caught.value.code == "text_empty"
    await a.close()
    await b.close()


async def test_pictures_in_a_members_only_community_are_for_its_members(
    server: ServerProcess, users: Users
) -> None:
    owner, member, outsider = await users.new("owner"), await users.new("member"), await users.new("outside")
    o = await Client.login(server, owner.token)
    closed = (await o.call("community.create", name="Shelter 3", approval_required=True))["community"]
    open_ = (await o.call("community.create", name="Town news", approval_required=False))["community"]
    m = await Client.login(server, member.token)
    await m.call("community.join", community_id=closed["id"])
    await o.call("community.approve", community_id=closed["id"], user_id=member.id)
    inside, outside = (
        await uploaded(server, owner, photo()),
        await uploaded(server, owner, photo((0, 90, 200))),
    )
    await o.call(
        "post.create", text="Inside the shelter", community_id=closed["id"], media=[{"id": inside["id"]}]
    )
    await o.call("post.create", text="The bridge", community_id=open_["id"], media=[{"id": outside["id"]}])
    assert (await fetch(server, inside["display"]["url"], member)).status_code == 200
    refused(await fetch(server, inside["display"]["url"], outsider), 404, "not_found")
    refused(await fetch(server, inside["display"]["url"]), 404, "not_found")
    assert (await fetch(server, outside["display"]["url"])).headers["cache-control"].startswith("public")
    await o.close()
    await m.close()


async def test_only_your_own_waiting_uploads_of_the_right_kind_attach(
    server: ServerProcess, users: Users
) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    theirs = await uploaded(server, bob, photo())
    face = await uploaded(server, alice, photo(), kind="avatar")
    picture = await uploaded(server, alice, photo())
    client = await Client.login(server, alice.token)
    for media, path in (
        ([{"id": picture["id"]}, {"id": theirs["id"]}], "$.media[1]"),  # someone else's
        ([{"id": face["id"]}], "$.media[0]"),  # an avatar is not a post's picture
    ):
        with pytest.raises(ErrorFrame) as caught:
            await client.call("post.create", text="mine?", media=media)
        assert (caught.value.code, caught.value.frame["path"]) == ("media_not_found", path)
    with pytest.raises(ErrorFrame) as caught:
        await client.call("profile.update", avatar=picture["id"])
    assert caught.value.code == "media_not_found"
    # Nothing was attached by the refused requests: the first picture is still free to use.
    post = (await client.call("post.create", text="ok", media=[{"id": picture["id"]}]))["post"]
    assert len(post["media"]) == 1
    with pytest.raises(ErrorFrame) as caught:
        await client.call("post.create", text="five", media=[{"id": picture["id"]}] * 5)
    assert caught.value.code == "invalid_frame"
    await client.close()


async def test_a_new_face_and_name_reach_followers_live(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    face = await uploaded(server, author, encode(two_halves(300, 200), "PNG"), kind="avatar")
    assert (face["width"], face["height"]) == (300, 200)
    a, f = await Client.login(server, author.token), await Client.login(server, fan.token)
    profile = (
        await a.call(
            "profile.update",
            display_name="防災 太郎",
            bio="仙台市青葉区。炊き出しの情報を流します。",
            interests=["防災", "Ｓｅｎｄａｉ", "防災"],
            avatar=face["id"],
        )
    )["user"]
    assert (profile["display_name"], profile["interests"]) == ("防災 太郎", ["防災", "sendai"])
    assert profile["avatar"]["url"] == f"/media/{face['id']}/display"
    updated = (await f.next_event("user.updated"))["data"]["user"]
    assert updated["avatar"] == profile["avatar"] and updated["display_name"] == "防災 太郎"
    square = Image.open(io.BytesIO((await fetch(server, profile["avatar"]["url"])).content))
    assert square.size == (200, 200)
    assert (
        (await fetch(server, profile["avatar"]["thumbnail_url"]))
        .headers["cache-control"]
        .startswith("public")
    )
    # Others read it everywhere a User is: here, on the author's profile.
    seen = (await f.call("user.get", handle=author.handle))["user"]
    assert seen["avatar"] == profile["avatar"] and seen["bio"] == profile["bio"]
    # A bio is at most 160 characters; removing the face puts the initial back.
    with pytest.raises(ErrorFrame) as caught:
        await a.call("profile.update", bio="あ" * 161)
    assert caught.value.code == "text_too_long"
    assert (await a.call("profile.update", remove_avatar=True))["user"]["avatar"] is None
    assert (await f.next_event("user.updated"))["data"]["user"]["avatar"] is None
    refused(await fetch(server, profile["avatar"]["url"]), 404, "not_found")
    await a.close()
    await f.close()


async def test_uploads_expire_detached_pictures_are_collected_and_figures_count_it(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    # Uploads wait 8 s here: long enough for the steps below that need them waiting on a busy
    # machine, short enough to see them expire. Collection runs every 0.3 s.
    server = start_server(
        TSUDOI_MEDIA_PENDING_TTL_MS="8000",
        TSUDOI_MEDIA_COLLECT_INTERVAL_MS="300",
        TSUDOI_MEDIA_COLLECT_MARGIN_MS="0",
        TSUDOI_MEDIA_BLOB_GRACE_MS="0",
        TSUDOI_MEDIA_PENDING_MAX="2",
        TSUDOI_MEDIA_MAX_BYTES="20000",
    )
    users = users_of(server)
    alice = await users.new("alice")
    client = await Client.login(server, alice.token)
    refused(await upload(server, alice, b"\xff\xd8\xff" + bytes(30_000)), 413, "too_large")
    kept = await uploaded(server, alice, photo((1, 2, 3)))
    post = (await client.call("post.create", text="kept", media=[{"id": kept["id"]}]))["post"]
    # Two waiting (an attached upload holds no place): the third is refused, before any work.
    never, spare = await uploaded(server, alice, photo()), await uploaded(server, alice, photo((5, 5, 5)))
    refused(await upload(server, alice, photo((9, 9, 9))), 429, "too_many_uploads")
    blobs = server.data_dir / "blobs"

    def files() -> int:
        return sum(1 for path in blobs.rglob("*") if path.is_file() and len(path.name) == 64)

    async def gone(url: str) -> bool:
        for _ in range(300):
            if (await fetch(server, url, alice)).status_code == 404:
                return True
            await asyncio.sleep(0.1)
        return False

    # The uploads never attached expire and go; the attached one stays while its post does.
    assert await gone(never["display"]["url"]) and await gone(spare["thumbnail"]["url"])
    assert (await fetch(server, kept["display"]["url"])).status_code == 200
    before = files()
    await client.call("post.delete", post_id=post["id"])
    for _ in range(100):
        if files() < before:
            break
        await asyncio.sleep(0.1)
    assert files() < before, "the deleted post's pictures were never collected"
    figures = await scrape(server)
    assert (figures.value("tsudoi_media_collected_total") or 0) >= 3
    assert figures.value("tsudoi_uploads_total", outcome="stored") == 3
    assert figures.value("tsudoi_uploads_total", outcome="too_large") is None  # refused before the pool
    assert figures.value("tsudoi_uploads_total", outcome="too_many_uploads") == 1
    assert (figures.value("tsudoi_upload_bytes_total") or 0) > 0
    assert figures.value("tsudoi_image_processing_seconds_count") == 3
    await client.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
async def test_the_image_workers_of_a_killed_node_end_with_it(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    """A node killed with SIGKILL cannot stop its image workers; they must notice and end, not
    wait for work for ever (each holds both ends of its job queue, so it never reads an end of
    file)."""
    server = start_server()
    account = await users_of(server).new()
    await uploaded(server, account, photo())  # the pool starts its workers on the first job
    assert server.proc is not None
    workers = _children(server.proc.pid)
    assert workers, "the node started no image worker"
    server.stop(signal.SIGKILL)
    for _ in range(100):
        left = [pid for pid in workers if Path(f"/proc/{pid}").exists() and _zombie_or_alive(pid)]
        if not left:
            break
        await asyncio.sleep(0.1)
    assert not left, f"image workers {left} outlived their node"


def _zombie_or_alive(pid: int) -> bool:
    """True while ``pid`` runs (an orphan is reaped by init as soon as it ends)."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False
