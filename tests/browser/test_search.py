"""Search in Chromium, in Japanese and in English: people by display name, posts by a Japanese
word without spaces and by an English one whatever its width and case, with the posts of a
community that requires approval found only by its members."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, shot


def test_search_people_and_posts_in_both_languages(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    author = new_person(server, "hinan", "避難 太郎")
    searcher = new_person(server, "sagasu", "探す 花子")
    with Api(server, author.token) as api:
        api.call("post.create", text="錦町公園で炊き出しがあります。12時から")
        api.call("post.create", text="ＳＥＮＤＡＩ station is open again")
        closed = api.call("community.create", name="内輪の会", approval_required=True)["community"]
        api.call("post.create", text="炊き出しの手伝いは会員だけで", community_id=closed["id"])

    watched = open_page("ja-JP")
    page = watched.page
    log_in(page, server, searcher)
    page.click("#nav a[data-route=search]")
    expect(page.locator("#view h1")).to_have_text("検索")
    page.get_by_role("searchbox", name="人と投稿を検索").fill("炊き出し")
    page.get_by_role("button", name="検索", exact=True).click()
    posts = page.locator(".search-results article.post")
    expect(posts).to_have_count(1)
    expect(posts.first).to_contain_text("錦町公園で炊き出しがあります")
    people = page.locator(".search-results section").nth(0)
    expect(people).to_contain_text("見つかりませんでした。")
    expect(page.locator(".search-people")).to_be_hidden()
    shot(page, "60-search-ja")

    # People by a part of the display name; the route keeps the query.
    page.get_by_role("searchbox", name="人と投稿を検索").fill("避難")
    page.get_by_role("button", name="検索", exact=True).click()
    expect(page.locator(".search-people li")).to_have_count(1)
    expect(page.locator(".search-people li")).to_contain_text("避難 太郎")
    expect(page.locator(".search-people li")).to_contain_text("@" + author.handle)
    assert "q=%E9%81%BF%E9%9B%A3" in page.evaluate("location.hash")
    page.locator(".search-people li a").click()
    expect(page.locator("#view")).to_contain_text("@" + author.handle)

    # The member (the owner) finds the members-only post too.
    mine = open_page("en-US")
    log_in(mine.page, server, author)
    mine.page.goto(f"{server.url}/#/search?q=%E7%82%8A%E3%81%8D%E5%87%BA%E3%81%97")
    expect(mine.page.locator(".search-results article.post")).to_have_count(2)
    expect(mine.page.locator(".search-results")).to_contain_text("会員だけで")

    # English: width and case do not matter; an @handle finds the person.
    english = open_page("en-US")
    log_in(english.page, server, searcher)
    english.page.click("#nav a[data-route=search]")
    expect(english.page.locator("#view h1")).to_have_text("Search")
    english.page.get_by_role("searchbox", name="Search people and posts").fill("sendai STATION")
    english.page.get_by_role("button", name="Search", exact=True).click()
    expect(english.page.locator(".search-results article.post")).to_have_count(1)
    expect(english.page.locator(".search-results article.post")).to_contain_text("ＳＥＮＤＡＩ station")
    expect(english.page.locator(".search-results section").nth(0)).to_contain_text("No one found.")
    english.page.get_by_role("searchbox", name="Search people and posts").fill("@" + searcher.handle)
    english.page.get_by_role("button", name="Search", exact=True).click()
    expect(english.page.locator(".search-people li")).to_contain_text("探す 花子")
    expect(english.page.locator(".search-results")).to_contain_text("No posts found.")
    shot(english.page, "61-search-en")

    # On a phone the bottom bar has no room for Search: it is in the top bar.
    page.set_viewport_size({"width": 390, "height": 844})
    page.click("#nav a[data-route=following]")
    expect(page.locator("#nav a[data-route=search]")).to_be_hidden()
    page.get_by_role("link", name="検索").click()
    expect(page.locator("#view h1")).to_have_text("検索")
    shot(page, "62-search-phone")
    assert watched.errors == [] and mine.errors == [] and english.errors == []
