"""Issue 17 in Chromium: follower and following lists from a profile's counts; reply, repost and
reaction counts on cards (live, and drawn as counts rather than alerts); a community owner's
join-request list updating live; a blocked person offered neither Follow nor Message; the report
dialog with its reasons and "also block". Each in Japanese and in English (the page's words are
the SPA's own strings, tests/browser/support.py ``ui``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from tests.support.server import ServerProcess, tsudoi

from .support import LOCALES, Api, log_in, new_person, shot, ui

in_both_languages = pytest.mark.parametrize("locale", list(LOCALES))


@in_both_languages
def test_lists_from_the_counts_and_counts_on_cards(
    server: ServerProcess, open_page: Any, locale: str
) -> None:
    t = ui(locale)
    star = new_person(server, "star", "Star")
    fans = [new_person(server, "fan", f"Fan {i}") for i in range(2)]
    viewer = new_person(server, "viewer", "Viewer")
    for person in [*fans, viewer]:
        with Api(server, person.token) as api:
            api.call("follow", user_id=star.id)
    with Api(server, star.token) as api:
        api.call("follow", user_id=fans[0].id)
        post = api.call("post.create", text="Water at the gym")["post"]
    with Api(server, fans[0].token) as api:
        api.call("post.create", text="Thanks!", reply_to=post["id"])
        api.call("post.react", post_id=post["id"], emoji=api.hello["limits"]["reaction_emoji"][0])

    watched = open_page(locale)
    page = watched.page
    log_in(page, server, viewer)
    page.goto(f"{server.url}/#/u/{star.handle}")
    card = page.locator("#view article.post").filter(
        has=page.locator(".post-text", has_text="Water at the gym")
    )
    expect(card.locator("[data-tally=replies_count]")).to_have_text("1")
    expect(card.locator("[data-tally=reposts_count]")).to_be_hidden()
    # A reaction's number is drawn in its chip's colours, not as the red unread badge.
    chip_count = card.locator(".reactions .chip .count").first
    expect(chip_count).to_have_text("1")
    assert chip_count.evaluate("el => getComputedStyle(el).backgroundColor") == "rgba(0, 0, 0, 0)"

    with Api(server, fans[1].token) as api:  # live: the viewer follows the star
        api.call("post.repost", post_id=post["id"])
    expect(card.locator("[data-tally=reposts_count]")).to_have_text("1")

    page.locator("a.count-link", has_text=t("profile.followers")).click()
    expect(page.locator("h1")).to_have_text(t("people.followersTitle", handle=star.handle))
    people = page.locator(".people-list .person")
    expect(people).to_have_count(3)
    expect(people.first).to_contain_text(viewer.handle)  # the most recent follow first
    shot(page, f"60-followers-{locale[:2]}")
    page.locator("a.back").click()
    page.locator("a.count-link", has_text=t("profile.following")).click()
    expect(page.locator("h1")).to_have_text(t("people.followingTitle", handle=star.handle))
    expect(page.locator(".people-list .person", has_text=fans[0].handle)).to_have_count(1)
    assert watched.errors == []


@in_both_languages
def test_join_requests_reach_the_owners_list_live(server: ServerProcess, open_page: Any, locale: str) -> None:
    owner = new_person(server, "owner", "避難所 管理")
    asker = new_person(server, "asker", "ゆき")
    with Api(server, owner.token) as api:
        community = api.call("community.create", name="避難所 運営", approval_required=True)["community"]
    watched = open_page(locale)
    page = watched.page
    log_in(page, server, owner)
    page.goto(f"{server.url}/#/c/{community['id']}")
    page.locator("details.moderation summary").click()
    requests = page.locator("details.moderation .mod-list").first
    expect(requests.locator(".empty")).to_be_visible()

    with Api(server, asker.token) as api:
        api.call("community.join", community_id=community["id"])
        expect(requests.locator("li", has_text=asker.handle)).to_have_count(1)  # no reload
        shot(page, f"61-join-request-live-{locale[:2]}")
        api.call("community.leave", community_id=community["id"])  # withdrawn
        expect(requests.locator("li", has_text=asker.handle)).to_have_count(0)
    assert watched.errors == []


def test_a_blocked_person_is_offered_neither_follow_nor_message(
    server: ServerProcess, open_page: Any
) -> None:
    blocker, blocked = (
        new_person(server, "blocker", "ブロックする人"),
        new_person(server, "blocked", "された人"),
    )
    with Api(server, blocker.token) as api:
        api.call("block.add", user_id=blocked.id)
    for locale, notice in (
        ("ja-JP", "このアカウントはフォローも、メッセージを送ることもできません。"),
        ("en-US", "You can't follow or message this account."),
    ):
        watched = open_page(locale)
        page = watched.page
        log_in(page, server, blocked)
        page.goto(f"{server.url}/#/u/{blocker.handle}")
        expect(page.locator(".profile-head h1")).to_contain_text(blocker.display_name)
        expect(page.locator(".profile .unavailable")).to_have_text(notice)
        expect(page.locator(".profile-actions button.follow")).to_have_count(0)
        expect(page.locator(".profile-actions button.message")).to_have_count(0)
        # Nothing says who blocks whom, least of all that the viewer does.
        assert "ブロックしている" not in page.locator(".profile").inner_text()
        assert "blocking" not in page.locator(".profile").inner_text().lower()
        assert watched.errors == []
    shot(page, "62-blocked-profile")


@in_both_languages
def test_the_report_dialog_files_a_reason_and_can_block(
    server: ServerProcess, open_page: Any, locale: str
) -> None:
    t = ui(locale)
    reporter, liar = new_person(server, "reporter", "Reporter"), new_person(server, "liar", "Liar")
    watched = open_page(locale)
    page = watched.page
    log_in(page, server, reporter)
    page.goto(f"{server.url}/#/u/{liar.handle}")
    page.locator(".profile-actions").get_by_role("button", name=t("profile.report")).click()
    dialog = page.get_by_role("dialog", name=t("report.titleUser", name=liar.display_name))
    expect(dialog).to_be_visible()
    dialog.get_by_label(t("report.kind.misinformation")).check()
    dialog.get_by_label(t("report.note")).fill("Says the shelter is closed; it is open")
    dialog.get_by_label(t("report.alsoBlock", handle=liar.handle)).check()
    shot(page, f"63-report-dialog-{locale[:2]}")
    dialog.get_by_role("button", name=t("report.send")).click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".profile-actions").get_by_role("button", name=t("profile.unblock"))).to_be_visible()
    expect(page.locator(".profile-actions button.follow")).to_be_disabled()
    expect(page.locator(".profile-actions button.message")).to_have_count(0)

    listed = orjson.loads(tsudoi("admin", "reports", "--json", "--data", str(server.data_dir)).stdout)
    mine = [row for row in listed if row["user"] == liar.handle]
    assert [(row["category"], row["reason"]) for row in mine] == [
        ("misinformation", "Says the shelter is closed; it is open")
    ]
    assert watched.errors == []
