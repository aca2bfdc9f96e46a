"""Hashtags and links in Chromium (PROTOCOL.md section 7.10): a post's `#炊き出し` and its URL are
links made from the post's entities, never from markup; the link leaves the app in a new tab,
marked as external; the hashtag opens its timeline, where a new post with the tag by someone the
reader does not follow appears live. In Japanese, and the tag page in English."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from playwright.sync_api import expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, shot


def test_hashtags_and_links_render_as_links_and_the_tag_timeline_is_live(
    server: ServerProcess,
    open_page: Any,
) -> None:
    author = new_person(server, "kuyakusho", "青葉区役所")
    reader = new_person(server, "mika", "Mika", invited_by=author)  # follows the author
    stranger = new_person(server, "kouminkan", "公民館")
    view = open_page("ja-JP")
    page = view.page
    log_in(page, server, reader)

    with Api(server, author.token) as api:
        api.call(
            "post.create",
            text="<b>青葉区役所前で</b> #炊き出し 12時から、詳細はhttps://example.jp/takidashi?day=1。",
        )
    card = page.locator("#view article.post", has_text="青葉区役所前で")
    expect(card).to_have_count(1)
    expect(card.locator(".post-text b")).to_have_count(0)  # text, never markup
    expect(card.locator(".post-text")).to_contain_text("<b>青葉区役所前で</b>")
    tag = card.locator("a.hashtag")
    expect(tag).to_have_text("#炊き出し")
    expect(tag).to_have_attribute("href", f"#/tag/{quote('炊き出し')}")
    link = card.locator("a.link.external")
    expect(link).to_have_attribute("href", "https://example.jp/takidashi?day=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer ugc")
    expect(link.locator(".external-mark")).to_have_text("↗")
    expect(link).to_contain_text("外部リンク")  # said to screen readers, not only drawn
    shot(page, "60-entities")

    tag.click()
    expect(page.locator("#view .view-title")).to_contain_text("#炊き出し")
    expect(page.locator("#view .live-hint")).to_contain_text("ライブ")
    expect(page.locator("#view article.post", has_text="青葉区役所前で")).to_have_count(1)

    # Someone the reader does not follow posts with the tag: it comes live, at the top.
    with Api(server, stranger.token) as api:
        api.call("post.create", text="公民館でも＃炊き出し 始めました")
    arrived = page.locator("#view .feed > article.post").first
    expect(arrived).to_contain_text("公民館でも")
    expect(arrived.locator("a.hashtag")).to_have_text("＃炊き出し")
    expect(page.locator("#view article.post", has_text="青葉区役所前で")).to_have_count(1)
    shot(page, "61-tag-timeline")

    # In English: the same page, its words and the link's warning.
    english = open_page("en-US").page
    log_in(english, server, stranger)
    english.goto(f"{server.url}/#/tag/{quote('炊き出し')}")
    expect(english.locator("#view .live-hint")).to_contain_text("Live")
    expect(english.locator("#view article.post")).to_have_count(2)
    expect(english.locator("#view a.link.external")).to_contain_text("external link, opens in a new tab")
    assert view.errors == []
