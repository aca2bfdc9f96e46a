"""The SPA on a phone (390×844, touch, coarse pointer), in Japanese and English: the DM composer
sits at the bottom of the screen above the bottom bar, the unread badges leave their icons
visible, a floating button opens the post composer from any screen, the message box does not
promise "Enter sends" to a touch keyboard (whose Enter makes a new line), and the birth-date
field of the sign-up form follows the page's language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, FloatRect, Page, ViewportSize, expect

from tests.support.server import ServerProcess

from .support import Api, log_in, new_person, shot

PHONE: ViewportSize = {"width": 390, "height": 844}
FAB_NAME = {"ja-JP": "投稿を作成", "en-US": "Write a post"}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Any]:
    """phone(locale) -> (Page, its script errors) in a touch context of a phone's size."""
    contexts = []

    def open_(locale: str) -> tuple[Page, list[str]]:
        context = browser.new_context(
            locale=locale, viewport=PHONE, has_touch=True, is_mobile=True, reduced_motion="reduce"
        )
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page, errors

    yield open_
    for context in contexts:
        context.close()


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not laid out"
    return found


def overlap(a: FloatRect, b: FloatRect) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("locale", ["ja-JP", "en-US"])
def test_phone_layout_and_touch_keyboard(server: ServerProcess, phone: Any, locale: str) -> None:
    me = new_person(server, "phone", "電話 さん")
    friend = new_person(server, "friend", "友 さん")
    with Api(server, friend.token) as api:
        api.call("follow", user_id=me.id)
        conversation = api.call("dm.open", user_ids=[me.id])["conversation"]
        api.call("dm.send", conversation_id=conversation["id"], text="大丈夫ですか？")

    page, errors = phone(locale)
    log_in(page, server, me)
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")

    # The unread badges sit beside their icons, not on them.
    for route, badge in (("notifications", "#notif-badge"), ("dm", "#dm-badge")):
        expect(page.locator(badge)).to_be_visible()
        icon = box(page, f"#nav a[data-route={route}] > span[aria-hidden]")
        assert not overlap(icon, box(page, badge)), (route, icon, box(page, badge))
        assert box(page, badge)["x"] + box(page, badge)["width"] <= PHONE["width"]

    # The floating button opens the composer: on Home at once, elsewhere by going Home.
    fab = page.get_by_role("button", name=FAB_NAME[locale], exact=True)
    expect(fab).to_be_visible()
    fab.click()
    textarea = page.locator("#view form.composer textarea").first
    expect(textarea).to_be_focused()
    expect(textarea).to_be_in_viewport()
    page.click("#nav a[data-route=notifications]")
    expect(page.locator("#view form.composer")).to_have_count(0)
    fab.click()
    expect(textarea).to_be_focused()
    assert page.evaluate("location.hash") in ("#/", "")
    shot(page, f"70-phone-fab-{locale}")

    # The conversation: its composer at the bottom, right above the bottom bar; no FAB over it.
    page.goto(f"{server.url}/#/dm/{conversation['id']}")
    expect(page.locator(".messages li").first).to_be_visible()
    expect(fab).to_be_hidden()
    composer = box(page, ".dm-composer")
    nav = box(page, "#nav")
    assert abs(composer["y"] + composer["height"] - nav["y"]) <= 2, (composer, nav)
    assert nav["y"] + nav["height"] <= PHONE["height"] + 1, nav
    message = page.locator(".dm-composer textarea")
    assert "Enter" not in (message.get_attribute("placeholder") or "")
    # A touch keyboard's Enter makes a new line; the Send button sends.
    message.fill("一行目")
    message.press("Enter")
    message.type("二行目")
    expect(message).to_have_value("一行目\n二行目")
    page.locator(".dm-composer button[type=submit]").click()
    expect(page.locator(".messages li.mine")).to_contain_text("二行目")
    shot(page, f"71-phone-dm-{locale}")
    assert errors == []


def test_keyboard_and_mouse_keep_enter_to_send_and_no_floating_button(
    server: ServerProcess, open_page: Any
) -> None:
    me = new_person(server, "desk", "机 さん")
    friend = new_person(server, "deskfr", "友 さん")
    with Api(server, friend.token) as api:
        conversation = api.call("dm.open", user_ids=[me.id])["conversation"]
    watched = open_page("en-US")
    page = watched.page
    log_in(page, server, me)
    expect(page.get_by_role("button", name=FAB_NAME["en-US"], exact=True)).to_be_hidden()
    page.goto(f"{server.url}/#/dm/{conversation['id']}")
    message = page.locator(".dm-composer textarea")
    assert "Enter" in (message.get_attribute("placeholder") or "")
    message.fill("hello")
    message.press("Enter")
    expect(page.locator(".messages li.mine")).to_contain_text("hello")
    expect(message).to_have_value("")
    assert watched.errors == []


def test_birth_date_follows_the_page_language(server: ServerProcess, phone: Any) -> None:
    with Api(server, new_person(server, "inviter").token) as api:
        code = api.call("invite.create")["invite"]["code"]
    page, errors = phone("ja-JP")
    page.goto(f"{server.url}/i/{code}")
    birth = page.locator("input[name=birth_date]")
    expect(birth).to_have_attribute("lang", "ja")
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.click("#lang-switch")
    expect(birth).to_have_attribute("lang", "en")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("#lang-switch")
    expect(page.locator("input[name=birth_date]")).to_have_attribute("lang", "ja")
    assert errors == []
