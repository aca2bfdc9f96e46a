"""The page survives the network blinking and the server restarting: it reconnects by itself,
resumes the Following and direct streams from its cursors, and shows every post made while it
was away, once each, without a reload. A post written while offline goes out after the resume."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, WebSocket, expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, shot

#: More than one page of timeline.following (30): only the resumed stream brings them all.
MISSED = 40


def cards(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("#view article.post .post-text", has_text=text)


def test_the_page_resumes_every_post_after_a_server_restart(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    chihiro = new_person(server, "chihiro", "佐藤 ちひろ")
    bot = new_person(server, "bousai", "仙台 防災 bot", invited_by=chihiro)
    with Api(server, chihiro.token) as api:
        api.call("follow", user_id=bot.id)
    view = open_page("ja-JP")
    page, context = view.page, view.context
    page.goto(f"{server.url}/")
    page.fill("input[name=handle]", chihiro.handle)
    page.fill("input[name=password]", chihiro.password)
    page.click("form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    with Api(server, bot.token) as api:
        api.call("post.create", text="再起動の前の投稿")
    expect(cards(page, "再起動の前の投稿")).to_have_count(1)

    # 1. The server restarts (close 4000, going away); posts are made as soon as it is back.
    server.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "waiting")
    shot(page, "20-reconnecting")
    server.start()
    with Api(server, bot.token) as api:
        api.call("post.create", text="再起動の直後の投稿")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=20000)
    expect(cards(page, "再起動の直後の投稿")).to_have_count(1)

    # 2. The network is down while the server restarts and many posts and a message are made:
    #    only the resume from the page's cursors can bring them all back. The server stops
    #    first: with Chromium set offline first, the page saw no close at all in 2 runs of 10
    #    (its state never changed for 5 s), and would have waited for the heartbeat timeout.
    server.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "waiting")
    context.set_offline(True)
    server.start()
    composer = page.locator("form.composer")
    composer.locator("textarea").fill("オフライン中に書いた投稿")
    composer.locator("button[type=submit]").click()
    expect(page.locator(".toast")).to_contain_text("再接続したら自動で投稿します")
    with Api(server, bot.token) as api:
        for i in range(MISSED):
            api.call("post.create", text=f"切断中の投稿 {i + 1:02d}")
        conversation = api.call("dm.open", user_ids=[chihiro.id])["conversation"]
        api.call("dm.send", conversation_id=conversation["id"], text="大丈夫ですか？")
    assert page.evaluate("document.querySelectorAll('#view article.post').length") == 2
    context.set_offline(False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=20000)
    for i in range(MISSED):
        expect(cards(page, f"切断中の投稿 {i + 1:02d}")).to_have_count(1)
    expect(cards(page, "オフライン中に書いた投稿")).to_have_count(1)  # sent after the resume
    expect(cards(page, "再起動の前の投稿")).to_have_count(1)
    expect(page.locator("#dm-badge")).to_have_text("1")  # the direct stream resumed too
    assert page.evaluate("window.__sameDocument") is True
    texts = page.locator("#view article.post .post-text").all_inner_texts()
    missed = [text for text in texts if text.startswith("切断中の投稿")]
    assert missed == [f"切断中の投稿 {i:02d}" for i in range(MISSED, 0, -1)]  # newest first
    total = page.locator("#view article.post").count()
    assert total == MISSED + 3, total  # every post once: nothing lost, nothing doubled
    shot(page, "21-resumed")
    assert view.errors == []


def test_the_page_resumes_with_the_positions_it_holds_behind_its_cursors(  # type: ignore[no-untyped-def]
    server: ServerProcess, open_page
) -> None:
    """A 1.8 server announces resume_window_ms: after a reconnect the page's auth names the
    positions it processed within that window behind its cursors (auth.recent, §6.5), and what
    the resume brings is shown once. Every connection asks for compact events (§3.5), and the
    posts shown arrived compact, live and resumed."""
    eri = new_person(server, "eri", "高橋 絵里")
    bot = new_person(server, "kisho", "気象 bot", invited_by=eri)
    with Api(server, eri.token) as api:
        api.call("follow", user_id=bot.id)
        assert "resume_window_ms" in api.hello["limits"]
    view = open_page("ja-JP")
    page = view.page
    sent: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []

    def received(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "post.created":
            posts.append(frame["data"]["post"])

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))
        socket.on("framereceived", received)

    page.on("websocket", watch)
    log_in(page, server, eri)
    with Api(server, bot.token) as api:
        held = [api.call("post.create", text=f"窓の中の投稿 {i}")["post"]["id"] for i in (1, 2)]
    for i in (1, 2):
        expect(cards(page, f"窓の中の投稿 {i}")).to_have_count(1)

    server.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "waiting")
    server.start()
    with Api(server, bot.token) as api:
        api.call("post.create", text="再接続の間の投稿")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=20000)
    expect(cards(page, "再接続の間の投稿")).to_have_count(1)

    *before, resumed = [frame for frame in sent if frame.get("op") == "auth"]
    assert before and all("recent" not in frame for frame in before), before  # nothing held yet
    assert resumed["cursors"]["following"] == held[-1]
    assert set(held) <= set(resumed["recent"])
    assert resumed["recent"][0] in resumed["cursors"].values()  # nearest a cursor first
    assert all(frame.get("compact") is True for frame in [*before, resumed])
    texts = [post["text"] for post in posts]
    assert "窓の中の投稿 1" in texts and "再接続の間の投稿" in texts
    assert all("reply_to" not in post and "verified" not in post["author"] for post in posts), posts
    for i in (1, 2):
        expect(cards(page, f"窓の中の投稿 {i}")).to_have_count(1)
    assert view.errors == []
