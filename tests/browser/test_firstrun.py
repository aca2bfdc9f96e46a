"""The first-run guide in Chromium, in Japanese and English: a newcomer's empty Following shows
who invited them, a friend of the inviter to follow, a community of their interest to join and
an invite link to make; following someone updates the guide."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, operator, shot


def test_newcomer_sees_inviters_circle_and_acts(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    inviter = new_person(server, "sasoi", "誘う 花子")
    friend = new_person(server, "tomo", "友 次郎")
    owner = new_person(server, "kai", "会 三郎")
    with Api(server, inviter.token) as api:
        api.call("unfollow", user_id=operator(server).id)
        api.call("follow", user_id=friend.id)
    with Api(server, friend.token) as api:
        api.call("follow", user_id=inviter.id)
    with Api(server, owner.token) as api:
        community = api.call(
            "community.create", name="パン好きの会", description="おいしいパン", tags=["パン"]
        )
    newcomer = new_person(server, "shinjin", "新人 四郎", invited_by=inviter)
    with Api(server, newcomer.token) as api:
        api.call("profile.update", interests=["パン"])

    watched = open_page("ja-JP")
    page = watched.page
    log_in(page, server, newcomer)
    guide = page.locator(".guide")
    expect(guide.get_by_role("heading", name="はじめに")).to_be_visible()
    inviter_box = guide.locator(".guide-inviter")
    expect(inviter_box).to_contain_text("誘う 花子")
    expect(inviter_box).to_contain_text("まだフォローは返されていません")
    people = guide.locator(".guide-people li")
    expect(people).to_have_count(1)
    expect(people.first).to_contain_text("友 次郎")
    expect(people.first).to_contain_text("誘う 花子さんがフォロー")
    communities = guide.locator(".guide-community")
    expect(communities).to_have_count(1)
    expect(communities.first).to_contain_text("パン好きの会")
    expect(communities.first).to_contain_text("#パン")
    shot(page, "70-firstrun-ja")

    # Following the friend: the button says so, and the server agrees (the guide, asked again,
    # no longer suggests them).
    follow = people.first.get_by_role("button", name="友 次郎さんをフォロー")
    follow.click()
    expect(people.first.get_by_role("button", name="フォロー中", exact=False)).to_have_attribute(
        "aria-pressed", "true"
    )
    with Api(server, newcomer.token) as api:
        assert api.call("onboarding.get")["people"] == []
    communities.first.get_by_role("button", name="参加する").click()
    expect(communities.first.get_by_role("button", name="参加済み")).to_be_disabled()

    guide.get_by_role("button", name="招待リンクを作る").click()
    link = guide.locator(".guide-invite input.invite-url")
    expect(link).to_be_visible()
    assert "/i/" in link.input_value()

    # In English, after a reload: the friend followed and the community joined are gone.
    english = open_page("en-US")
    log_in(english.page, server, newcomer)
    en_guide = english.page.locator(".guide")
    expect(en_guide.get_by_role("heading", name="Getting started")).to_be_visible()
    expect(en_guide.locator(".guide-inviter")).to_contain_text("誘う 花子")
    # Joining brought its owner in: a member of one of the newcomer's communities now.
    en_people = en_guide.locator(".guide-people li")
    expect(en_people).to_have_count(1)
    expect(en_people.first).to_contain_text("会 三郎")
    expect(en_people.first).to_contain_text("In 1 of your communities")
    expect(en_guide).to_contain_text("No communities to suggest yet.")
    expect(en_guide.get_by_role("button", name="Make an invite link")).to_be_visible()
    shot(english.page, "71-firstrun-en")
    assert community["community"]["name"] == "パン好きの会"
    assert watched.errors == [] and english.errors == []
