"""Communities, threads, reposts and quotes in Chromium: a community is made, certified by the
operators and found by tag; a member joins, an announcement reaches them, they reply in the
thread, repost and quote; a community that requires approval takes a request its owner approves
from the moderation tools."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess, tsudoi

from .support import Api, log_in, new_person, shot


def card(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("#view article.post").filter(has=page.locator(".post-text", has_text=text))


def test_communities_announcements_threads_reposts_and_quotes(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    city = new_person(server, "sendai", "仙台市 防災")
    resident = new_person(server, "kenji", "佐々木 健二", invited_by=city)  # follows the city
    owner_view, member_view = open_page("ja-JP"), open_page("ja-JP")
    a, b = owner_view.page, member_view.page
    log_in(a, server, city)
    log_in(b, server, resident)

    # The city makes a community, and the operators certify it from the shell.
    a.click("#nav a[data-route=communities]")
    a.locator(".create-details summary").click()
    a.fill("form.create-community input[name=name]", "仙台 防災情報")
    a.fill("form.create-community textarea[name=description]", "仙台市の防災・避難に関するお知らせ")
    a.fill("form.create-community input[name=tags]", "Sendai, 防災")
    a.click("form.create-community button[type=submit]")
    expect(a.locator(".community-head h1")).to_have_text("仙台 防災情報")
    community_id = a.evaluate("location.hash").split("/")[-1]
    result = tsudoi("admin", "certify", community_id, "--data", str(server.data_dir))
    assert result.returncode == 0, result.stderr

    # The resident finds it by tag and joins.
    b.click("#nav a[data-route=communities]")
    b.fill(".search-bar input[name=tag]", "#SENDAI")
    b.click(".search-bar button[type=submit]")
    found = b.locator(".community-card", has_text="仙台 防災情報")
    expect(found).to_contain_text("メンバー 1人")
    shot(b, "30-communities")
    found.locator("a.community-name").click()
    b.get_by_role("button", name="参加する").click()
    expect(b.locator(".community-head")).to_contain_text("メンバー")
    expect(b.get_by_role("button", name="退会する")).to_be_visible()

    # The certified community's owner announces; the member sees it live and is notified.
    a.reload()
    expect(a.locator(".community-head .badge.verified")).to_be_visible()
    a.locator(".announce-box summary").click()
    a.locator(".announce-box textarea").fill("【お知らせ】給水所は市役所前です")
    a.locator(".announce-box button[type=submit]").click()
    announcement = card(b, "給水所は市役所前です")
    expect(announcement).to_have_count(1)
    expect(announcement).to_contain_text("お知らせ")
    expect(b.locator("#notif-badge")).to_have_text("1")
    shot(b, "31-community")

    # A reply in the thread.
    announcement.get_by_role("link", name=re.compile("返信")).click()
    expect(b.locator(".thread .post.focused")).to_contain_text("給水所は市役所前です")
    b.locator(".thread form.composer textarea").fill("ありがとうございます、向かいます")
    b.locator(".thread form.composer button[type=submit]").click()
    expect(b.locator(".thread .feed .post-text")).to_have_text("ありがとうございます、向かいます")
    a.goto(f"{server.url}/#/post/{b.evaluate('location.hash').split('/')[2].split('?')[0]}")
    expect(a.locator(".thread .feed .post-text")).to_have_text("ありがとうございます、向かいます")
    shot(b, "32-thread")

    # A repost and a quote of the city's own post, from the Following timeline.
    a.click("#nav a[data-route=following]")
    a.locator("form.composer textarea").fill("避難所の開設状況は @" + resident.handle + " さんも確認できます")
    a.locator("form.composer button[type=submit]").click()
    b.click("#nav a[data-route=following]")
    original = card(b, "避難所の開設状況")
    expect(original.locator("a.mention")).to_have_text(f"@{resident.handle}")  # a mention is a link
    original.get_by_role("button", name=re.compile("リポスト")).click()
    expect(b.locator("#view article.post .context", has_text="佐々木 健二さんがリポスト")).to_have_count(1)
    original.first.get_by_role("button", name=re.compile("引用")).click()
    expect(b.locator("form.composer .quote-box .embed")).to_contain_text("避難所の開設状況")
    b.locator("form.composer textarea").fill("共有します")
    b.locator("form.composer button[type=submit]").click()
    quote = card(b, "共有します")
    expect(quote.locator(".embed")).to_contain_text("避難所の開設状況")
    shot(b, "33-repost-and-quote")

    # A community that requires approval: the request waits for the owner's moderation tools.
    a.click("#nav a[data-route=communities]")
    a.locator(".create-details summary").click()
    a.fill("form.create-community input[name=name]", "北四番丁 ご近所会")
    a.check("form.create-community input[name=approval_required]")
    a.click("form.create-community button[type=submit]")
    expect(a.locator(".community-head h1")).to_have_text("北四番丁 ご近所会")
    private_id = a.evaluate("location.hash").split("/")[-1]
    b.goto(f"{server.url}/#/c/{private_id}")
    expect(b.locator(".notice")).to_contain_text("メンバーだけが読めます")
    b.get_by_role("button", name="参加を申請する").click()
    expect(b.locator(".community-head")).to_contain_text("承認待ち")
    a.reload()
    a.locator(".moderation summary").click()
    request = a.locator(".moderation li", has_text="佐々木 健二")
    shot(a, "34-moderation")
    request.get_by_role("button", name="承認").click()
    expect(b.locator(".community-head")).to_contain_text("メンバー")  # live: community.membership
    expect(b.get_by_role("button", name="退会する")).to_be_visible()
    assert owner_view.errors == [] and member_view.errors == []


def test_a_profile_lists_the_persons_posts_page_by_page(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    writer = new_person(server, "writer", "書き手 さくら")
    reader = new_person(server, "reader", "読み手 ゆう")
    with Api(server, writer.token) as api:
        closed = api.call("community.create", name="書き手の内輪", approval_required=True)["community"]
        api.call("post.create", text="内輪だけの話", community_id=closed["id"])
        for n in range(1, 23):  # more than one page (20)
            api.call("post.create", text=f"さくらの投稿 {n:02d}")
    view = open_page("ja-JP")
    page = view.page
    log_in(page, server, reader)
    page.goto(f"{server.url}/#/u/{writer.handle}")
    expect(page.locator(".profile-names h1")).to_contain_text("書き手 さくら")
    posts = page.locator(".profile-posts article.post")
    expect(posts).to_have_count(20)
    expect(posts.first).to_contain_text("さくらの投稿 22")  # newest first
    page.locator(".profile-posts button.more").click()
    expect(posts).to_have_count(22)
    expect(posts.last).to_contain_text("さくらの投稿 01")
    expect(page.locator(".profile-posts button.more")).to_be_hidden()
    expect(page.locator(".profile-posts", has_text="内輪だけの話")).to_have_count(0)  # members only
    shot(page, "35-profile-posts")
    assert view.errors == []


def test_my_communities_with_my_role(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    person = new_person(server, "member", "参加者 りく")
    host = new_person(server, "host", "主催者")
    with Api(server, host.token) as api:
        walks = api.call("community.create", name="朝の散歩会")["community"]
    view = open_page("ja-JP")
    page = view.page
    log_in(page, server, person)
    page.click("#nav a[data-route=communities]")
    mine = page.locator(".my-communities")
    expect(mine).to_contain_text("まだどのコミュニティにも参加していません")
    # Made here, and joined on another device: both listed, with the role, the latter live.
    page.locator(".create-details summary").click()
    page.fill("form.create-community input[name=name]", "りくの読書会")
    page.click("form.create-community button[type=submit]")
    expect(page.locator(".community-head h1")).to_have_text("りくの読書会")
    page.click("#nav a[data-route=communities]")
    expect(mine.locator(".community-card")).to_have_count(1)
    with Api(server, person.token) as api:
        api.call("community.join", community_id=walks["id"])
    expect(mine.locator(".community-card")).to_have_count(2)
    expect(mine.locator(".community-card").first).to_contain_text("あなた: オーナー")
    expect(mine.locator(".community-card").last).to_contain_text("朝の散歩会")
    expect(mine.locator(".community-card").last).to_contain_text("あなた: メンバー")
    shot(page, "36-my-communities")
    assert view.errors == []
