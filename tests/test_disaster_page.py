"""The "during a disaster" page (PROTOCOL.md 11.15): served to anyone, written by the operator
from the shell, rendered safely; and a safety status's coarse area, on both storage adapters."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from protocol.sdk import disaster_page
from tests.support.client import Client, ErrorFrame, Users
from tests.support.mongo import MongoBackend, expect_stand_in_divergence
from tests.support.server import ServerProcess, tsudoi
from tests.test_cli import assert_one_line_error

PAGE = "/api/disaster-page"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element of ``html`` with its attributes, as an HTML parser reads them."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture(params=["sqlite", "mongo"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings of a server on each storage adapter: SQLite, or a fresh MongoDB database."""
    if request.param == "sqlite":
        yield {}
        return
    mongo_backend: MongoBackend = request.getfixturevalue("mongo_backend")
    expect_stand_in_divergence(request, mongo_backend)
    name = mongo_backend.new_database()
    yield {"TSUDOI_MONGODB_URL": mongo_backend.url, "TSUDOI_MONGODB_DATABASE": name}
    asyncio.run(mongo_backend.drop_database(name))


def admin(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    """``tsudoi admin disaster-page ...`` beside the running server, on its storage."""
    result = tsudoi("admin", "disaster-page", *args, "--data", str(server.data_dir), env=server.env)
    return result.returncode, result.stdout, result.stderr


async def fetch(server: ServerProcess, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        return await http.get(PAGE, headers=headers)


async def test_the_built_in_page_is_served_to_anyone_and_revalidated(
    start_server: Callable[..., ServerProcess], backend: dict[str, str]
) -> None:
    server = start_server(**backend)
    response = await fetch(server)  # no session: someone in a disaster may not be able to sign in
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, no-cache"
    page = response.json()
    assert set(page) == {"markdown", "html", "updated_at", "default"}
    assert page["default"] is True and page["updated_at"] is None
    assert "災害用伝言ダイヤル" in page["markdown"] and "Disaster Emergency Message Dial" in page["markdown"]
    html = page["html"]
    assert (
        '<a href="https://www.web171.jp/" class="external" target="_blank" rel="noopener noreferrer">' in html
    )
    assert '<a href="tel:171">171</a>' in html  # a phone number is no web page: not opened apart
    assert '<a href="#/safety">' in html  # within the app
    etag = response.headers["etag"]
    again = await fetch(server, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        head = await http.head(PAGE)
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    through_sdk = await disaster_page(server.ws_url)  # the SDK's own, from the WebSocket URL
    assert (through_sdk.markdown, through_sdk.html, through_sdk.default) == (page["markdown"], html, True)


async def test_an_operator_writes_the_page_from_the_shell_and_it_is_rendered_safely(
    start_server: Callable[..., ServerProcess], backend: dict[str, str], tmp_path: Path
) -> None:
    server = start_server(**backend)
    before = (await fetch(server)).headers["etag"]
    source = tmp_path / "page.md"
    source.write_text(
        "# 宮城県の皆さんへ\r\n\r\n"
        "<script>alert('x')</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n'
        "- [避難所の一覧](https://city.example/shelters)\n"
        "- [悪い](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [vb](VBScript:x)\n"
        "- [電話](tel:0120-000-000) [mail](mailto:help@city.example) [安否](#/safety)\n"
        "- ![地図](https://tracker.example/map.png)\n"
        "- <javascript:alert(2)> and [spaced]( javascript:alert(3) )\n",
        encoding="utf-8",
    )
    status, out, err = admin(server, "set", str(source))
    assert status == 0, err
    assert out.startswith("disaster page set (")
    # The operator is told what is not shown as written; nothing else is on stderr.
    notes = err.strip().splitlines()
    assert notes == [
        "tsudoi: note: not shown as written: link javascript:alert(1)",
        "tsudoi: note: not shown as written: link data:text/html;base64,PHNjcmlwdD4=",
        "tsudoi: note: not shown as written: link VBScript:x",
        "tsudoi: note: not shown as written: image https://tracker.example/map.png",
        "tsudoi: note: not shown as written: link javascript:alert(2)",
        "tsudoi: note: not shown as written: link javascript:alert(3)",
    ], err

    response = await fetch(server, **{"If-None-Match": before})
    assert response.status_code == 200  # the old page's ETag no longer holds
    page = response.json()
    assert page["default"] is False and page["updated_at"] is not None
    assert page["markdown"].startswith("# 宮城県の皆さんへ\n\n<script>")  # as written, CRLF made LF
    html = page["html"]
    # As a browser parses it: only harmless elements, no event handler, links only as allowed.
    found = elements(html)
    assert {tag for tag, _ in found} <= {"h1", "p", "ul", "li", "a"}, found
    assert not [name for _, attrs in found for name in attrs if name.startswith("on")]
    hrefs = [attrs["href"] for tag, attrs in found if tag == "a"]
    assert hrefs == [
        "https://city.example/shelters",
        "tel:0120-000-000",
        "mailto:help@city.example",
        "#/safety",
    ]
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x" in html  # raw HTML is text
    assert (
        '<a href="https://city.example/shelters" class="external" target="_blank" '
        'rel="noopener noreferrer">避難所の一覧</a>' in html
    )
    assert '<a href="tel:0120-000-000">電話</a>' in html
    assert '<a href="mailto:help@city.example">mail</a>' in html
    assert '<a href="#/safety">安否</a>' in html
    assert "<li>地図</li>" in html  # a picture is its alt text: nothing is loaded
    assert "tracker.example" not in html

    # What the operator wrote is what `show` prints, and the HTML clients get.
    status, out, err = admin(server, "show")
    assert (status, out) == (0, page["markdown"] + "\n") and "written" in err
    status, out, _ = admin(server, "show", "--html")
    assert (status, out) == (0, html)

    status, out, _ = admin(server, "clear")
    assert (status, out.strip()) == (0, "cleared: the built-in page is shown")
    cleared = (await fetch(server)).json()
    assert cleared["default"] is True and "web171" in cleared["markdown"]
    status, out, _ = admin(server, "clear")
    assert status == 0 and out.startswith("no page was written")


def test_a_page_that_cannot_be_used_is_refused_in_one_line(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server()
    cases: list[tuple[str, bytes | None, int, str]] = [
        ("missing.md", None, 1, "cannot read"),
        ("latin1.md", "Café".encode("latin-1"), 2, "is not UTF-8 text"),
        ("empty.md", b" \n\t\n", 2, "the page is empty"),
        ("bell.md", b"# ok\n\x07ring\n", 2, "control characters"),
        ("long.md", ("あ" * 11_000).encode(), 2, "at most 32768 bytes"),
        ("huge.md", b"x" * 200_000, 2, "far over the page's 32768 bytes"),
    ]
    for name, content, status, says in cases:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        result = tsudoi("admin", "disaster-page", "set", str(path), "--data", str(server.data_dir))
        assert_one_line_error(result, status, says)
    folder = tsudoi("admin", "disaster-page", "set", str(tmp_path), "--data", str(server.data_dir))
    assert_one_line_error(folder, 1, "cannot read")
    nothing = tsudoi("admin", "disaster-page", "--data", str(server.data_dir))
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    # Nothing was written by any of them.
    shown = tsudoi("admin", "disaster-page", "show", "--data", str(server.data_dir))
    assert shown.returncode == 0 and "the built-in page" in shown.stderr


def test_a_page_can_come_from_standard_input(start_server: Callable[..., ServerProcess]) -> None:
    import subprocess
    import sys

    from tests.support.server import ROOT, TEST_ENV

    server = start_server()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "admin",
            "disaster-page",
            "set",
            "-",
            "--data",
            str(server.data_dir),
        ],
        input="\ufeff# 標準入力から\n".encode(),
        capture_output=True,
        cwd=ROOT,
        env={**server.env, **TEST_ENV, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    shown = tsudoi("admin", "disaster-page", "show", "--data", str(server.data_dir))
    assert shown.stdout == "# 標準入力から\n"  # the byte-order mark is not part of the page


@pytest.mark.nx27017_diverges(
    "with a compound index that includes _id (sessions by user) the first sign-up's insert fails"
)
async def test_a_status_area_reaches_friends_board_and_history_on_each_adapter(
    start_server: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
    backend: dict[str, str],
) -> None:
    server = start_server(**backend)
    users = users_of(server)
    aya, ken = await users.new("aya"), await users.new("ken")
    await users.friends(aya, ken)
    ken_client = await Client.login(server, ken.token)
    aya_client = await Client.login(server, aya.token)
    try:
        decomposed = unicodedata.normalize("NFD", "宮城県 仙台市青葉区") + "  "  # NFD, with trailing blanks
        status = (await aya_client.call("safety.set", state="evacuating", area=decomposed))["status"]
        assert status["area"] == "宮城県 仙台市青葉区"  # stored NFC, trimmed
        event = await ken_client.next_event("safety.status")
        assert event["data"]["status"] == status
        board = await ken_client.call("safety.board")
        assert [(e["user"]["id"], e["status"]["area"]) for e in board["entries"]] == [
            (aya.id, "宮城県 仙台市青葉区")
        ]
        history = await ken_client.call("safety.history", user_id=aya.id)
        assert history["statuses"][0]["area"] == "宮城県 仙台市青葉区"
        plain = (await aya_client.call("safety.set", state="safe"))["status"]
        assert plain["area"] is None
        for bad in ("あ" * 51, "一行目\n二行目", "\u200b"):
            with pytest.raises(ErrorFrame) as refused:
                await aya_client.call("safety.set", state="safe", area=bad)
            assert (refused.value.code, refused.value.frame.get("path")) == ("name_invalid", "$.area")
    finally:
        await ken_client.close()
        await aya_client.close()
