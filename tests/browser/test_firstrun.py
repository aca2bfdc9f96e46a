"""The first-run guide in Chromium, in Japanese and in English: a newcomer's empty Following
shows who invited them, a friend of the inviter to follow, a community of their interest to join
and an invite link to make; following someone updates the guide, and after a reload the guide
shows what changed."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, operator, shot, ui

#: Each language's run has an interest and a community of its own: the guide suggests every
#: community carrying the newcomer's interests, and both runs share the module's server.
INTERESTS = {"ja-JP": ("パン", "パン好きの会"), "en-US": ("coffee", "Coffee lovers")}


@pytest.mark.parametrize("locale", list(INTERESTS))
def test_newcomer_sees_inviters_circle_and_acts(server: ServerProcess, open_page: Any, locale: str) -> None:
    t, (interest, community_name) = ui(locale), INTERESTS[locale]
    inviter = new_person(server, "sasoi", "誘う 花子")
    friend = new_person(server, "tomo", "友 次郎")
    owner = new_person(server, "kai", "会 三郎")
    with Api(server, inviter.token) as api:
        api.call("unfollow", user_id=operator(server).id)
        api.call("follow", user_id=friend.id)
    with Api(server, friend.token) as api:
        api.call("follow", user_id=inviter.id)
    with Api(server, owner.token) as api:
        api.call("community.create", name=community_name, description="", tags=[interest])
    newcomer = new_person(server, "shinjin", "新人 四郎", invited_by=inviter)
    with Api(server, newcomer.token) as api:
        api.call("profile.update", interests=[interest])

    watched = open_page(locale)
    page = watched.page
    log_in(page, server, newcomer)
    guide = page.locator(".guide")
    expect(guide.get_by_role("heading", name=t("guide.title"))).to_be_visible()
    inviter_box = guide.locator(".guide-inviter")
    expect(inviter_box).to_contain_text("誘う 花子")
    expect(inviter_box).to_contain_text(t("guide.youFollow"))
    people = guide.locator(".guide-people li")
    expect(people).to_have_count(1)
    expect(people.first).to_contain_text("友 次郎")
    expect(people.first).to_contain_text(t("guide.followedByInviter", name="誘う 花子"))
    communities = guide.locator(".guide-community")
    expect(communities).to_have_count(1)
    expect(communities.first).to_contain_text(community_name)
    expect(communities.first).to_contain_text(f"#{interest}")
    shot(page, f"70-firstrun-{locale[:2]}")

    # Following the friend: the button says so, and the server agrees (the guide, asked again,
    # no longer suggests them).
    people.first.get_by_role("button", name=t("guide.followName", name="友 次郎")).click()
    following = people.first.get_by_role("button", name=t("guide.followingName", name="友 次郎"))
    expect(following).to_have_attribute("aria-pressed", "true")
    with Api(server, newcomer.token) as api:
        assert api.call("onboarding.get")["people"] == []
    communities.first.get_by_role("button", name=t("community.join")).click()
    expect(communities.first.get_by_role("button", name=t("guide.joined"))).to_be_disabled()

    guide.get_by_role("button", name=t("guide.makeInvite")).click()
    link = guide.locator(".guide-invite input.invite-url")
    expect(link).to_be_visible()
    assert "/i/" in link.input_value()

    # After a reload: the friend followed and the community joined are gone, and joining brought
    # its owner in, a member of one of the newcomer's communities now.
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(guide.get_by_role("heading", name=t("guide.title"))).to_be_visible()
    expect(guide.locator(".guide-inviter")).to_contain_text("誘う 花子")
    expect(people).to_have_count(1)
    expect(people.first).to_contain_text("会 三郎")
    expect(people.first).to_contain_text(t("guide.sharedCommunities", n=1))
    expect(guide).to_contain_text(t("guide.noCommunities"))
    expect(guide.get_by_role("button", name=t("guide.makeInvite"))).to_be_visible()
    shot(page, f"71-firstrun-after-reload-{locale[:2]}")
    assert watched.errors == []
