"""The SPA with the keyboard alone: the skip link, the main navigation, the Following and
Discover tabs and the composer are reached with Tab, used with Enter, and show where the focus
is."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .support import log_in, new_person, shot

#: The focused element, and whether the focus shows: an outline or the composer's ring.
FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = el.closest("form.composer");
    const box = el.getBoundingClientRect();
    return {
        tag: el.tagName.toLowerCase(),
        id: el.id,
        name: el.name || null,
        route: el.dataset.route || null,
        text: (el.textContent || "").trim(),
        visible: el.matches(":focus-visible")
            && ((style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
                || (!!ring && getComputedStyle(ring).boxShadow !== "none")),
        onScreen: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0
            && box.right <= innerWidth && box.bottom <= innerHeight,
    };
}"""


def focused(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(FOCUSED)
    return result


def tab_to(page: Page, matches: Any, most: int = 20) -> dict[str, Any]:
    """Press Tab until the focused element matches; each stop on the way must show its focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["visible"] and now["onScreen"], now
        if matches(now):
            return now
    raise AssertionError(f"not reached with {most} presses of Tab; last: {focused(page)}")


def test_tabs_and_composer_with_the_keyboard_alone(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    person = new_person(server, "keys", "鍵盤 ゆう")
    view = open_page("ja-JP")
    page = view.page
    log_in(page, server, person)
    page.reload()  # a fresh page: the focus starts at the top of the document
    expect(page.locator("form.composer")).to_be_visible()

    # The first Tab reaches the skip link, shown on screen; Enter moves into the main content
    # and stays on the Following tab.
    skip = tab_to(page, lambda el: True, most=1)
    assert skip["text"] == "本文へスキップ", skip
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "view"
    expect(page.locator("form.composer")).to_be_visible()
    assert page.evaluate("location.hash") == ""
    # From there Tab goes on to the tabs, then the composer: a post written and sent by keys.
    tab_to(page, lambda el: el["text"] == "フォロー中", most=1)
    tab_to(page, lambda el: el["text"] == "見つける", most=1)
    tab_to(page, lambda el: el["tag"] == "textarea", most=1)
    page.keyboard.type("キーボードだけで書きました")
    shot(page, "48-keyboard-composer")
    tab_to(page, lambda el: el["tag"] == "button" and el["text"] == "投稿する")
    page.keyboard.press("Enter")
    expect(page.locator("#view article.post .post-text")).to_have_text(["キーボードだけで書きました"])
    # The focus is back in the emptied composer, ready for the next post (Ctrl+Enter sends).
    again = focused(page)
    assert again["tag"] == "textarea" and again["visible"], again
    page.keyboard.type("続けてもう一つ")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#view article.post .post-text")).to_have_text(
        ["続けてもう一つ", "キーボードだけで書きました"]
    )

    # Back up to the Discover tab and open it with Enter.
    for _ in range(20):
        page.keyboard.press("Shift+Tab")
        if focused(page)["text"] == "見つける":
            break
    discover = focused(page)
    assert discover["text"] == "見つける" and discover["visible"], discover
    page.keyboard.press("Enter")
    expect(page.locator(".tabs a", has_text="見つける")).to_have_attribute("aria-current", "page")
    assert page.evaluate("location.hash") == "#/discover"

    # The main navigation: from the top bar's last control, Tab to Messages; Enter opens it.
    page.locator("#lang-switch").focus()
    messages = tab_to(page, lambda el: el["route"] == "dm")
    assert messages["visible"], messages
    shot(page, "49-keyboard-nav-focus")
    page.keyboard.press("Enter")
    expect(page.locator("#nav a[data-route=dm]")).to_have_attribute("aria-current", "page")
    expect(page.locator(".view-title")).to_contain_text("メッセージ")
    assert focused(page)["id"] == "view"  # the focus follows into the new screen
    tab_to(page, lambda el: el["name"] == "handles", most=3)  # the new-message form's first field
    assert view.errors == []
