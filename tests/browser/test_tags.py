"""Hashtags and links in Chromium (PROTOCOL.md section 7.10), in Japanese and in English: a post's
Japanese hashtag and its URL are links made from the post's entities, never from markup; the
link leaves the app in a new tab, marked as external (said to screen readers in the page's
language); the hashtag opens its timeline, where a new post with the tag by someone the reader
does not follow appears live."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, shot, ui

#: Each language's run has a tag of its own: the tag timeline shows every post with it, and
#: both runs share the module's server.
TAGS = {"ja-JP": "炊き出し", "en-US": "給水"}


@pytest.mark.parametrize("locale", list(TAGS))
def test_hashtags_and_links_render_as_links_and_the_tag_timeline_is_live(
    server: ServerProcess,
    open_page: Any,
    locale: str,
) -> None:
    t, tag_name, lang = ui(locale), TAGS[locale], locale[:2]
    author = new_person(server, "kuyakusho", "青葉区役所")
    reader = new_person(server, "mika", "Mika", invited_by=author)  # follows the author
    stranger = new_person(server, "kouminkan", "公民館")
    view = open_page(locale)
    page = view.page
    log_in(page, server, reader)

    with Api(server, author.token) as api:
        api.call(
            "post.create",
            text=f"<b>青葉区役所前で</b> #{tag_name} 12時から、詳細はhttps://example.jp/takidashi?day=1。",
        )
    card = page.locator("#view article.post", has_text="青葉区役所前で")
    expect(card).to_have_count(1)
    expect(card.locator(".post-text b")).to_have_count(0)  # text, never markup
    expect(card.locator(".post-text")).to_contain_text("<b>青葉区役所前で</b>")
    tag = card.locator("a.hashtag")
    expect(tag).to_have_text(f"#{tag_name}")
    expect(tag).to_have_attribute("href", f"#/tag/{quote(tag_name)}")
    link = card.locator("a.link.external")
    expect(link).to_have_attribute("href", "https://example.jp/takidashi?day=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer ugc")
    expect(link.locator(".external-mark")).to_have_text("↗")
    expect(link).to_contain_text(t("post.externalLink"))  # said to screen readers, not only drawn
    shot(page, f"60-entities-{lang}")

    tag.click()
    expect(page.locator("#view .view-title")).to_contain_text(f"#{tag_name}")
    expect(page.locator("#view .live-hint")).to_have_text(t("tag.live"))
    expect(page.locator("#view article.post", has_text="青葉区役所前で")).to_have_count(1)

    # Someone the reader does not follow posts with the tag: it comes live, at the top.
    with Api(server, stranger.token) as api:
        api.call("post.create", text=f"公民館でも＃{tag_name} 始めました")
    arrived = page.locator("#view .feed > article.post").first
    expect(arrived).to_contain_text("公民館でも")
    expect(arrived.locator("a.hashtag")).to_have_text(f"＃{tag_name}")
    expect(page.locator("#view article.post", has_text="青葉区役所前で")).to_have_count(1)
    expect(page.locator("#view article.post")).to_have_count(2)
    shot(page, f"61-tag-timeline-{lang}")
    assert view.errors == []
