"""Settings in Chromium, and what they change for other people: Hanako and Taro are friends;
Taro hides his presence (Hanako's safety board and his profile stop showing it) and takes
messages only from people he follows (Jiro, whom he does not follow, is told so in words);
Hanako makes an invite and copies its link; she mutes and blocks people from their profiles,
sees them in her lists, and lifts both from there.

The tests of this module build on each other, in order, on one server and one set of pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .conftest import Watched
from .support import Api, Person, log_in, new_person, shot

#: What a presence line says while the person's presence is visible (online, away, last seen).
SHOWN_PRESENCE = re.compile(r"オンライン|離席中|オフライン|最終アクセス")


@dataclass
class Scene:
    server: ServerProcess
    hanako: Person
    taro: Person
    jiro: Person
    sakura: Person
    ken: Person
    hanako_view: Watched
    taro_view: Watched

    @property
    def a(self) -> Page:
        return self.hanako_view.page

    @property
    def b(self) -> Page:
        return self.taro_view.page


@pytest.fixture(scope="module")
def scene(server: ServerProcess, open_page) -> Scene:  # type: ignore[no-untyped-def]
    hanako = new_person(server, "hanako", "山田 花子")
    taro = new_person(server, "taro", "川口 太郎", invited_by=hanako)  # follows Hanako
    jiro = new_person(server, "jiro", "佐藤 次郎")
    sakura = new_person(server, "sakura", "桜井 さくら")
    ken = new_person(server, "ken", "激安セール")
    with Api(server, hanako.token) as api:
        for person in (taro, sakura, ken):
            api.call("follow", user_id=person.id)
    with Api(server, sakura.token) as api:
        api.call("post.create", text="ミュートする前のさくらの投稿")
    with Api(server, ken.token) as api:
        api.call("post.create", text="本日限りの大特価セール")
    scene = Scene(server, hanako, taro, jiro, sakura, ken, open_page("ja-JP"), open_page("ja-JP"))
    log_in(scene.b, server, taro)
    log_in(scene.a, server, hanako)
    return scene


def post_card(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("#view article.post").filter(has=page.locator(".post-text", has_text=text))


def go(page: Page, route: str) -> None:
    page.click(f"#nav a[data-route={route}]")


def test_hiding_presence_from_friends(scene: Scene) -> None:
    a, b = scene.a, scene.b
    go(a, "safety")
    entry = a.locator(".board-entry", has_text="川口 太郎")
    expect(entry.locator(".presence-line")).to_contain_text(SHOWN_PRESENCE)
    go(b, "settings")
    nobody = b.get_by_role("radio", name="だれにも見せない")
    expect(b.get_by_role("radio", name="友達（相互フォロー）")).to_be_checked()  # the default
    nobody.check()
    expect(b.locator(".toast")).to_contain_text("保存しました")
    shot(b, "40-settings-privacy")
    # Hanako reads her board again: Taro is listed, his presence is not.
    go(a, "following")
    go(a, "safety")
    expect(entry.locator(".presence-line")).to_have_text("アクセス状況は非公開")
    expect(entry.locator(".presence-line")).not_to_contain_text(SHOWN_PRESENCE)
    shot(a, "41-safety-board-presence-hidden")
    entry.locator("a.author").click()
    expect(a.locator(".profile-names h1")).to_contain_text("川口 太郎")
    expect(a.locator(".profile-extra")).not_to_contain_text(SHOWN_PRESENCE)
    # The choice is the server's, not the page's: it is still there after a reload.
    b.reload()
    expect(b.get_by_role("radio", name="だれにも見せない")).to_be_checked()


def test_taking_messages_only_from_people_followed(scene: Scene, open_page) -> None:  # type: ignore[no-untyped-def]
    a, b = scene.a, scene.b
    b.get_by_role("radio", name="フォローしている人だけ").check()
    expect(b.locator(".toast", has_text="保存しました")).to_be_visible()  # the page was reloaded
    jiro_view = open_page("ja-JP")
    c = jiro_view.page
    log_in(c, scene.server, scene.jiro)
    # From the profile: Jiro is not followed by Taro, so he is told, in words, and stays put.
    c.goto(f"{scene.server.url}/#/u/{scene.taro.handle}")
    c.get_by_role("button", name="メッセージ").click()
    refused = c.locator(".toast.error")
    expect(refused).to_have_text("この人にはメッセージを送れません。")
    shot(c, "42-dm-not-allowed")
    assert c.evaluate("location.hash") == f"#/u/{scene.taro.handle}"
    # From the new-message form: the same answer, and no conversation appears.
    go(c, "dm")
    c.fill("form.new-dm input[name=handles]", f"@{scene.taro.handle}")
    c.click("form.new-dm button[type=submit]")
    expect(refused).to_have_count(2)
    expect(refused.last).to_have_text("この人にはメッセージを送れません。")
    expect(c.locator(".conversation")).to_have_count(0)
    assert c.evaluate("location.hash") == "#/dm"
    # Hanako, whom Taro follows, may still write to him.
    a.goto(f"{scene.server.url}/#/u/{scene.taro.handle}")
    a.get_by_role("button", name="メッセージ").click()
    expect(a.locator(".conv-title")).to_contain_text("川口 太郎")
    assert jiro_view.errors == []


def test_an_invite_link_is_copied(scene: Scene) -> None:
    a = scene.a
    scene.hanako_view.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=scene.server.url
    )
    go(a, "settings")
    expect(a.locator(".invite")).to_have_count(1)  # the one Taro used, with no link to copy
    expect(a.locator(".invite-url")).to_have_count(0)
    a.get_by_role("button", name="招待リンクをつくる").click()
    link = a.locator(".invite-url")
    expect(link).to_have_count(1)
    with Api(scene.server, scene.hanako.token) as api:
        invite = api.call("invite.list")["invites"][0]
    # The server keeps a hash of the code: the list has no link, only the code's first characters;
    # the page shows the link invite.create gave it.
    assert invite["code"] is None and invite["url"] is None
    url = link.input_value()
    assert (
        url.startswith(f"{scene.server.url}/i/{invite['code_prefix']}")
        and len(url) > len(scene.server.url) + 20
    )
    expect(a.locator(".invite").first).to_contain_text(f"招待 {invite['code_prefix']}…")
    a.locator(".invite").first.get_by_role("button", name="コピー").click()
    expect(a.locator(".toast", has_text="コピーしました")).to_be_visible()
    assert a.evaluate("navigator.clipboard.readText()") == url
    shot(a, "43-settings-invite-copied")
    # Coming back later, the link is gone (it was shown once); the page says so.
    go(a, "following")
    go(a, "settings")
    expect(a.locator(".invite")).to_have_count(2)
    expect(a.locator(".invite-url")).to_have_count(0)
    expect(a.locator(".invite").first).to_contain_text("リンクは招待をつくったときにだけ表示されます")


def test_muting_from_a_profile_and_unmuting_from_the_list(scene: Scene) -> None:
    a = scene.a
    go(a, "following")
    expect(post_card(a, "ミュートする前のさくらの投稿")).to_have_count(1)
    a.goto(f"{scene.server.url}/#/u/{scene.sakura.handle}")
    a.get_by_role("button", name="ミュート", exact=True).click()
    expect(a.get_by_role("button", name="ミュート解除")).to_be_visible()
    # Her posts leave the Following tab at once, and her new ones do not arrive.
    go(a, "following")
    expect(post_card(a, "ミュートする前のさくらの投稿")).to_have_count(0)
    with Api(scene.server, scene.sakura.token) as sakura, Api(scene.server, scene.taro.token) as taro:
        sakura.call("post.create", text="ミュート中のさくらの投稿")
        taro.call("post.create", text="さくらさんの後に書いた太郎の投稿")
        expect(post_card(a, "さくらさんの後に書いた太郎の投稿")).to_have_count(1)
        expect(post_card(a, "ミュート中のさくらの投稿")).to_have_count(0)
        go(a, "settings")
        muted = a.locator("section", has=a.get_by_role("heading", name="ミュート中のユーザー"))
        expect(muted.locator("li")).to_have_count(1)
        expect(muted.locator("li")).to_contain_text("桜井 さくら")
        shot(a, "44-settings-muted")
        muted.get_by_role("button", name="ミュート解除").click()
        expect(muted.locator("li")).to_have_text("いません。")
        # Unmuted: her posts are back on Following, and new ones arrive live again.
        go(a, "following")
        expect(post_card(a, "ミュートする前のさくらの投稿")).to_have_count(1)
        sakura.call("post.create", text="ミュートを解除された後のさくらの投稿")
        expect(post_card(a, "ミュートを解除された後のさくらの投稿")).to_have_count(1)


def test_blocking_from_a_profile_and_unblocking_from_the_list(scene: Scene) -> None:
    a = scene.a
    a.goto(f"{scene.server.url}/#/u/{scene.ken.handle}")
    posts = a.locator(".profile-posts")
    expect(posts).to_contain_text("本日限りの大特価セール")
    a.get_by_role("button", name="ブロック", exact=True).click()
    expect(a.get_by_role("button", name="ブロック解除")).to_be_visible()
    expect(posts).to_be_hidden()  # a block hides the person's posts either way
    expect(a.get_by_role("button", name="フォローする")).to_be_disabled()  # the block ended the follow
    go(a, "following")
    expect(post_card(a, "本日限りの大特価セール")).to_have_count(0)
    go(a, "settings")
    blocked = a.locator("section", has=a.get_by_role("heading", name="ブロック中のユーザー"))
    expect(blocked.locator("li")).to_have_count(1)
    expect(blocked.locator("li")).to_contain_text(f"激安セール @{scene.ken.handle}")
    shot(a, "45-settings-blocked")
    blocked.get_by_role("button", name="ブロック解除").click()
    expect(blocked.locator("li")).to_have_text("いません。")
    a.goto(f"{scene.server.url}/#/u/{scene.ken.handle}")
    expect(a.get_by_role("button", name="ブロック", exact=True)).to_be_visible()
    expect(a.get_by_role("button", name="フォローする")).to_be_enabled()
    expect(posts).to_contain_text("本日限りの大特価セール")
    assert scene.hanako_view.errors == [] and scene.taro_view.errors == []
