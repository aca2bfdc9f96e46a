"""The SPA in Chromium, as two people: Hanako (already a member) invites Taro, who signs up
through the invite landing; they follow each other, post with an emotext, react, exchange direct
messages with the typing indicator, report their safety, and see the incident banner.

The tests of this module build on each other, in order, on one server and one pair of pages.
Screenshots of the main screens go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .conftest import Watched
from .support import Api, Person, new_person, operator, shot


@dataclass
class Scene:
    server: ServerProcess
    hanako: Person
    hanako_view: Watched
    taro_view: Watched
    taro_handle: str = "taro_k"

    @property
    def a(self) -> Page:
        return self.hanako_view.page

    @property
    def b(self) -> Page:
        return self.taro_view.page


@pytest.fixture(scope="module")
def scene(server: ServerProcess, open_page) -> Scene:  # type: ignore[no-untyped-def]
    hanako = new_person(server, "hanako", "山田 花子")
    return Scene(server, hanako, open_page("ja-JP"), open_page("ja-JP"))


def post_card(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("#view article.post").filter(has=page.locator(".post-text", has_text=text))


def test_log_in_and_make_an_invite(scene: Scene) -> None:
    a = scene.a
    a.goto(f"{scene.server.url}/")
    expect(a.locator("#login-title")).to_have_text("ログイン")  # Japanese from the browser's language
    shot(a, "01-login")
    a.fill("input[name=handle]", scene.hanako.handle)
    a.fill("input[name=password]", scene.hanako.password)
    a.click("form button[type=submit]")
    expect(a.locator("#conn")).to_have_attribute("data-state", "online")
    a.fill("textarea[name=text]", "今日から Tsudoi をはじめました")
    a.click("form.composer button[type=submit]")
    expect(post_card(a, "今日から Tsudoi をはじめました")).to_have_count(1)
    a.click("#nav a[data-route=settings]")
    a.get_by_role("button", name="招待リンクをつくる").click()
    expect(a.locator(".invite-url")).to_have_count(1)
    shot(a, "02-settings-invites")


def test_sign_up_through_the_invite_and_start_following(scene: Scene) -> None:
    a, b = scene.a, scene.b
    url = a.locator(".invite-url").first.input_value()
    assert re.fullmatch(rf"{re.escape(scene.server.url)}/i/[A-Za-z0-9_-]+", url)
    b.goto(url)
    expect(b.locator(".invited-by")).to_contain_text("山田 花子さんから招待が届きました")
    b.fill("input[name=handle]", scene.taro_handle)
    b.fill("input[name=display_name]", "川口 太郎")
    b.fill("input[name=password]", "correct horse battery staple")
    b.fill("input[name=birth_date]", "2015-05-05")
    b.check("input[name=adult]")
    b.check("input[name=accept_terms]")
    b.click("form.signup button[type=submit]")
    expect(b.locator(".form-error")).to_contain_text("18 歳以上")  # the server's age check, in words
    b.fill("input[name=birth_date]", "1994-07-19")
    shot(b, "03-invite-landing")
    b.click("form.signup button[type=submit]")
    # The profile picture step comes first (as on mixi2), and may be skipped.
    expect(b.locator(".welcome h1")).to_contain_text("川口 太郎")
    b.get_by_role("link", name="あとで設定する").click()
    # Then into the timeline, following the inviter: her earlier post is there.
    expect(post_card(b, "今日から Tsudoi をはじめました")).to_have_count(1)
    assert b.evaluate("location.pathname") == "/"  # the invite code does not linger in the URL
    # Hanako's page hears of her new follower at once: her invite shows who used it.
    expect(a.locator(".toast")).to_contain_text("川口 太郎さんにフォローされました")
    used = a.locator(".invite.spent a", has_text="川口 太郎")
    used.click()
    expect(a.locator(".profile-names h1")).to_contain_text("川口 太郎")
    expect(a.locator(".profile-names")).to_contain_text("フォローされています")
    a.get_by_role("button", name="フォローする").click()
    expect(a.get_by_role("button", name="フォロー解除")).to_be_visible()
    shot(a, "04-profile")
    # Taro is told through the notification badge and the inbox.
    expect(b.locator("#notif-badge")).to_have_text("1")
    b.click("#nav a[data-route=notifications]")
    expect(b.locator(".notification").first).to_contain_text("山田 花子さんがあなたをフォローしました")
    shot(b, "05-notifications")
    expect(b.locator("#notif-badge")).to_be_hidden()
    b.click("#nav a[data-route=following]")


def test_a_post_with_an_emotext_arrives_live(scene: Scene) -> None:
    a, b = scene.a, scene.b
    a.click("#nav a[data-route=following]")
    composer = a.locator("form.composer")
    composer.locator("textarea").fill("地震だ、みんな無事？👨‍👩‍👧")
    # The counter counts user-perceived characters like the server: the family emoji is one.
    expect(composer.locator(".counter")).to_have_text("11 / 149")
    composer.locator(".emo-toggle").click()
    composer.locator("[data-emotext=shake]").click()
    expect(composer.locator(".preview .post-text")).to_have_attribute("data-emotext", "shake")
    shot(a, "06-composer-emotext")
    composer.locator("button[type=submit]").click()
    card = post_card(b, "地震だ、みんな無事？")
    expect(card).to_have_count(1)  # live, without a reload
    expect(card.locator(".post-text")).to_have_attribute("data-emotext", "shake")
    expect(b.locator("#announcer")).to_contain_text("地震だ、みんな無事？")  # the ARIA live region
    shot(b, "07-timeline-live")


def test_an_over_long_post_is_refused_by_the_counter(scene: Scene) -> None:
    composer = scene.a.locator("form.composer")
    composer.locator("textarea").fill("あ" * 150)
    expect(composer.locator(".counter")).to_have_text("150 / 149")
    expect(composer.locator("button[type=submit]")).to_be_disabled()
    composer.locator("textarea").fill("")


def test_new_posts_wait_behind_a_pill_while_reading(scene: Scene) -> None:
    b = scene.b
    with Api(scene.server, scene.hanako.token) as hanako:
        for i in range(8):
            hanako.call("post.create", text=f"昔の話 その{i + 1}。" + "長い文章です。" * 12)
        expect(post_card(b, "昔の話 その8")).to_have_count(1)
        b.evaluate("window.scrollTo(0, 700)")
        b.wait_for_function("window.scrollY >= 650")
        before = b.evaluate("window.scrollY")
        anchor = post_card(b, "昔の話 その3").bounding_box()
        hanako.call("post.create", text="読んでいる途中に届いた投稿")
        pill = b.locator(".pill")
        expect(pill).to_have_text("新しい投稿 1 件")
        # The reading position did not move.
        assert b.evaluate("window.scrollY") == before
        assert post_card(b, "昔の話 その3").bounding_box() == anchor
        expect(post_card(b, "読んでいる途中に届いた投稿")).to_have_count(0)
        shot(b, "08-new-posts-pill")
        pill.click()
        expect(post_card(b, "読んでいる途中に届いた投稿")).to_have_count(1)
        expect(pill).to_be_hidden()
        assert b.evaluate("window.scrollY") == 0


def test_a_reaction_changes_the_count_for_the_author(scene: Scene) -> None:
    a, b = scene.a, scene.b
    card = post_card(b, "地震だ、みんな無事？")
    card.get_by_role("button", name="リアクションを追加").click()
    card.locator(".picker button[data-emoji='🙏']").click()
    mine = card.locator(".chip[data-emoji='🙏']")
    expect(mine).to_have_attribute("aria-pressed", "true")
    chip = post_card(a, "地震だ、みんな無事？").locator(".chip[data-emoji='🙏']")
    expect(chip.locator(".count")).to_have_text("1")  # live, on the author's page
    chip.click()  # Hanako adds hers by tapping the chip
    expect(chip.locator(".count")).to_have_text("2")
    expect(post_card(b, "地震だ、みんな無事？").locator(".chip[data-emoji='🙏'] .count")).to_have_text("2")
    shot(a, "09-reactions")


def test_direct_messages_with_typing_and_read_markers(scene: Scene) -> None:
    a, b = scene.a, scene.b
    b.goto(f"{scene.server.url}/#/u/{scene.hanako.handle}")
    b.get_by_role("button", name="メッセージ").click()
    expect(b.locator(".conv-title")).to_contain_text("山田 花子")
    a.click("#nav a[data-route=dm]")
    a.locator(".conversation a", has_text="川口 太郎").click()
    expect(a.locator(".messages .system")).to_contain_text("会話を始めました")
    b.locator(".dm-composer textarea").press_sequentially("土曜のBBQ、炭は", delay=30)
    expect(a.locator(".typing")).to_have_text("川口 太郎さんが入力中…")
    shot(a, "10-dm-typing")
    b.locator(".dm-composer textarea").press_sequentially("私が持っていきます！")
    b.locator(".dm-composer textarea").press("Enter")
    expect(a.locator(".message.theirs .bubble")).to_have_text("土曜のBBQ、炭は私が持っていきます！")
    expect(a.locator(".typing")).to_have_text("")  # a message from the typist clears it
    # Hanako has the conversation open, so it is read: Taro sees the read marker.
    expect(b.locator(".message.mine .read-mark")).to_contain_text("既読")
    a.locator(".dm-composer textarea").fill("ありがとう、肉は任せて")
    a.locator(".dm-composer button[type=submit]").click()
    expect(b.locator(".message.theirs .bubble")).to_have_text("ありがとう、肉は任せて")
    shot(b, "11-dm-conversation")


def test_a_safety_status_appears_on_the_friends_board(scene: Scene) -> None:
    a, b = scene.a, scene.b
    a.click("#nav a[data-route=safety]")
    entry = a.locator(".board-entry", has_text="川口 太郎")
    expect(entry).to_contain_text("まだ安否の連絡がありません")
    b.click("#nav a[data-route=safety]")
    b.locator(".safety-details summary").click()
    b.fill("textarea[name=note]", "駅ビルのエレベーターに閉じ込められています")
    b.fill("input[name=area]", "仙台駅東口")
    b.locator(".status-button[data-state=need_help]").click()  # one tap
    expect(b.locator(".my-status")).to_contain_text("助けが必要")
    expect(entry).to_have_class(re.compile(r"state-need_help"))
    expect(entry).to_contain_text("駅ビルのエレベーターに閉じ込められています")
    expect(entry).to_contain_text("仙台駅東口")
    expect(entry.locator(".presence-line")).to_contain_text(re.compile(r"オンライン|最終アクセス"))
    expect(a.locator(".board-entry").first).to_contain_text("川口 太郎")  # need-help first
    shot(a, "12-safety-board")


def test_the_incident_banner_comes_and_goes(scene: Scene) -> None:
    a, b = scene.a, scene.b
    with Api(scene.server, operator(scene.server).token) as root:
        root.call("incident.start", title="宮城県沖地震", area="宮城県")
        for page in (a, b):
            expect(page.locator("#incident")).to_be_visible()
            expect(page.locator("#incident")).to_contain_text("宮城県沖地震")
            expect(page.locator("#incident")).to_contain_text("宮城県")
        shot(b, "13-incident-banner")
        b.reload()  # a page opened during the incident finds it in ready
        expect(b.locator("#incident")).to_contain_text("宮城県沖地震")
        b.click("#nav a[data-route=following]")
        b.locator(".tabs a", has_text="見つける").click()
        expect(b.locator(".notice")).to_contain_text("災害対応中")  # Discover is shed
        root.call("incident.end")
        for page in (a, b):
            expect(page.locator("#incident")).to_be_hidden()


def test_switching_to_english(scene: Scene) -> None:
    b = scene.b
    b.click("#nav a[data-route=following]")
    b.click("#lang-switch")
    expect(b.locator(".tabs a").first).to_have_text("Following")
    expect(b.locator("#nav a[data-route=safety]")).to_contain_text("Safety")
    expect(b.locator("html")).to_have_attribute("lang", "en")
    expect(post_card(b, "地震だ、みんな無事？").locator("time")).to_have_text(re.compile(r"just now|min ago"))
    shot(b, "14-english")
    b.click("#lang-switch")
    expect(b.locator(".tabs a").first).to_have_text("フォロー中")


def test_user_text_is_text_and_inline_script_is_refused(scene: Scene) -> None:
    b = scene.b
    attack = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    with Api(scene.server, scene.hanako.token) as hanako:
        hanako.call("post.create", text=attack)
    card = post_card(b, "<img src=x")
    expect(card).to_have_count(1)
    expect(card.locator(".post-text")).to_have_text(attack)
    assert card.locator("img, script").count() == 0
    assert b.evaluate("window.__xss") is None
    # The CSP refuses script that is not a same-origin file, even if some bug injected it.
    ran = b.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation", () => resolve("blocked"), { once: true });
            const s = document.createElement("script");
            s.textContent = "window.__inline = 1";
            document.body.append(s);
            setTimeout(() => resolve(window.__inline === 1 ? "ran" : "blocked"), 500);
        })"""
    )
    assert ran == "blocked"
    # No page ever put a session token (or the cookie's value) in a URL it loaded.
    tokens = [scene.hanako.token]
    for view in (scene.hanako_view, scene.taro_view):
        tokens += [c["value"] for c in view.context.cookies() if c["name"] == "tsudoi_session"]
    for view in (scene.hanako_view, scene.taro_view):
        assert view.urls
        for url in view.urls:
            assert "tsd_" not in url and not any(token in url for token in tokens), url
        assert view.errors == []


def test_emotext_moves_unless_reduced_motion_is_asked(scene: Scene) -> None:
    page = scene.b
    letter = post_card(page, "地震だ、みんな無事？").locator(".post-text .l").first
    assert letter.evaluate("el => getComputedStyle(el).animationName") == "none"  # reduced motion
    page.emulate_media(reduced_motion="no-preference")
    assert letter.evaluate("el => getComputedStyle(el).animationName") == "shake"
    page.emulate_media(reduced_motion="reduce")


def test_log_out(scene: Scene) -> None:
    a = scene.a
    a.click("#nav a[data-route=settings]")
    # The account card's button (the sessions list has one per session too, since 1.11.0).
    account = a.locator("section", has=a.get_by_role("heading", name="アカウント", exact=True))
    account.get_by_role("button", name="ログアウト", exact=True).click()
    expect(a.locator("#login-title")).to_be_visible()
    expect(a.locator("#nav")).to_be_hidden()
    assert not [c for c in scene.hanako_view.context.cookies() if c["name"] == "tsudoi_session"]
    a.reload()  # no session any more: the page asks to log in again
    expect(a.locator("#login-title")).to_be_visible()
