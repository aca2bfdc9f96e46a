"""A group conversation of three in Chromium: Hanako starts it from the new-message form, her
message reaches Taro (who has it open) and Jiro (who has not) live, Jiro's unread count shows in
his conversation list and badge, survives a reload, clears when he opens the group, and stays
cleared after another reload."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .support import log_in, new_person, shot

TITLE = "土曜のBBQ"
UNREAD = re.compile(r"\bunread\b")


def group_entry(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".conversation", has_text=TITLE)


def send(page: Page, text: str) -> None:
    box = page.locator(".dm-composer textarea")
    box.fill(text)
    box.press("Enter")


def test_a_group_of_three_with_unread_counts_that_survive_a_reload(server: ServerProcess, open_page) -> None:  # type: ignore[no-untyped-def]
    hanako = new_person(server, "hanako", "山田 花子")
    taro = new_person(server, "taro", "川口 太郎")
    jiro = new_person(server, "jiro", "佐藤 次郎")
    views = [open_page("ja-JP") for _ in range(3)]
    a, b, c = (view.page for view in views)
    for page, person in ((a, hanako), (b, taro), (c, jiro)):
        log_in(page, server, person)

    # Hanako starts the group from the form: two handles and a title.
    a.click("#nav a[data-route=dm]")
    a.fill("form.new-dm input[name=handles]", f"@{taro.handle}, {jiro.handle}")
    a.fill("form.new-dm input[name=title]", TITLE)
    a.click("form.new-dm button[type=submit]")
    expect(a.locator(".conv-title")).to_contain_text(TITLE)
    expect(a.locator(".conv-title .tag")).to_have_text("3人")
    expect(a.locator(".messages .system")).to_contain_text("山田 花子さんが会話を始めました")

    # Taro finds it in his list (live) and opens it; Jiro stays on his timeline.
    b.click("#nav a[data-route=dm]")
    group_entry(b).locator("a").click()
    expect(b.locator(".messages .system")).to_contain_text("会話を始めました")
    send(a, "炭は私が持っていきます")
    expect(b.locator(".message.theirs .bubble")).to_have_text("炭は私が持っていきます")
    expect(b.locator(".message.theirs .from")).to_contain_text("山田 花子")
    expect(c.locator("#dm-badge")).to_have_text("1")
    expect(a.locator(".message.mine .read-mark")).to_have_text(" · 既読 1")  # Taro read it

    # Jiro's list shows the group with its unread count, and counts Taro's reply live.
    c.click("#nav a[data-route=dm]")
    expect(group_entry(c).locator(".count")).to_have_text("1")
    expect(group_entry(c).locator(".conv-last")).to_have_text("山田 花子: 炭は私が持っていきます")
    send(b, "肉は任せて")
    expect(a.locator(".message.theirs .bubble")).to_have_text("肉は任せて")
    expect(group_entry(c).locator(".count")).to_have_text("2")
    expect(group_entry(c).locator(".conv-last")).to_have_text("川口 太郎: 肉は任せて")
    expect(group_entry(c)).to_have_class(UNREAD)
    shot(c, "46-group-dm-unread")

    # The count is the server's: a reload shows it again.
    c.reload()
    expect(c.locator("#conn")).to_have_attribute("data-state", "online")
    expect(group_entry(c).locator(".count")).to_have_text("2")
    expect(c.locator("#dm-badge")).to_have_text("2")

    # Opening the group reads it: the count and the badge clear, and Hanako sees both readers.
    group_entry(c).locator("a").click()
    expect(c.locator(".message.theirs .bubble")).to_have_text(["炭は私が持っていきます", "肉は任せて"])
    expect(c.locator("#dm-badge")).to_be_hidden()
    expect(a.locator(".message.mine .read-mark")).to_have_text(" · 既読 2")
    shot(c, "47-group-dm-conversation")
    c.click("#nav a[data-route=dm]")
    expect(group_entry(c)).not_to_have_class(UNREAD)
    expect(group_entry(c).locator(".count")).to_have_count(0)

    # And the read state is kept by the server too: still read after a reload.
    c.reload()
    expect(c.locator("#conn")).to_have_attribute("data-state", "online")
    expect(group_entry(c).locator(".conv-last")).to_have_text("川口 太郎: 肉は任せて")
    expect(group_entry(c)).not_to_have_class(UNREAD)
    expect(group_entry(c).locator(".count")).to_have_count(0)
    expect(c.locator("#dm-badge")).to_be_hidden()
    for view in views:
        assert view.errors == []
