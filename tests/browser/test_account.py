"""Account settings in Chromium: Mina, logged in on two browsers (one in English, one in
Japanese), sees both in her sessions list, logs the other one out from there (it drops to the
log-in at once), and changes her password, which logs every other device out while the page
she changed it on stays signed in.

The tests of this module build on each other, in order, on one server and one set of pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .conftest import Watched
from .support import Api, Person, log_in, new_person, shot


@dataclass
class Scene:
    server: ServerProcess
    mina: Person
    english: Watched
    japanese: Watched

    @property
    def en(self) -> Page:
        return self.english.page

    @property
    def ja(self) -> Page:
        return self.japanese.page


@pytest.fixture(scope="module")
def scene(server: ServerProcess, open_page) -> Scene:  # type: ignore[no-untyped-def]
    mina = new_person(server, "mina", "Mina Sato")  # signed up over plain HTTP: a third session
    scene = Scene(server, mina, open_page("en-US"), open_page("ja-JP"))
    log_in(scene.en, server, mina)
    log_in(scene.ja, server, mina)
    return scene


def go(page: Page, route: str) -> None:
    page.click(f"#nav a[data-route={route}]")


def test_sessions_are_listed_and_another_is_logged_out(scene: Scene) -> None:
    en, ja = scene.en, scene.ja
    go(en, "settings")
    card = en.locator("section", has=en.get_by_role("heading", name="Where you are logged in"))
    rows = card.locator("li.session")
    # Newest first: the Japanese browser, this one, then the sign-up's plain HTTP client.
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator(".session-device")).to_have_text("Chrome on Linux")
    expect(rows.nth(1).locator(".session-device")).to_have_text("Chrome on Linux (this device)")
    expect(rows.nth(2).locator(".session-device")).to_have_text(f"python-httpx/{httpx.__version__}")
    expect(rows.nth(1)).to_contain_text("last used")
    expect(rows.nth(1).get_by_role("button", name="Log out")).to_be_visible()
    shot(en, "60-settings-sessions")

    rows.nth(0).get_by_role("button", name="Log out this device").click()
    expect(en.locator(".toast")).to_contain_text("That device was logged out.")
    expect(rows).to_have_count(2)
    # The Japanese page's connection closed at once: it is back at the log-in, told why.
    expect(ja.locator("input[name=handle]")).to_be_visible()
    expect(ja.locator("#view")).to_contain_text("ログアウトされました。")
    assert scene.english.errors == [] and scene.japanese.errors == []


def test_changing_the_password_keeps_this_page_and_logs_out_the_others(scene: Scene) -> None:
    en, ja = scene.en, scene.ja
    log_in(ja, scene.server, scene.mina)
    go(ja, "settings")
    form = ja.locator("form.password-form")
    form.get_by_label("現在のパスワード").fill("not my password at all")
    form.get_by_label("新しいパスワード").fill("a fresh password for mina")
    form.get_by_role("button", name="パスワードを変更").click()
    expect(form.locator(".form-error")).to_have_text("現在のパスワードが違います。")
    expect(ja.locator("#conn")).to_have_attribute("data-state", "online")  # nothing was revoked

    # Too short: the field's own check holds the form back (the server would refuse it too).
    form.get_by_label("新しいパスワード").fill("short")
    form.get_by_role("button", name="パスワードを変更").click()
    assert form.get_by_label("新しいパスワード").evaluate("el => el.validity.tooShort") is True

    form.get_by_label("現在のパスワード").fill(scene.mina.password)
    form.get_by_label("新しいパスワード").fill("a fresh password for mina")
    form.get_by_role("button", name="パスワードを変更").click()
    expect(ja.locator(".toast", has_text="パスワードを変更しました")).to_be_visible()
    # This page reconnected with its new session and stayed on Settings; it is the only one.
    expect(ja.locator("#conn")).to_have_attribute("data-state", "online")
    card = ja.locator("section", has=ja.get_by_role("heading", name="ログイン中の端末"))
    expect(card.locator("li.session")).to_have_count(1)
    expect(card.locator("li.session")).to_contain_text("この端末")
    shot(ja, "61-settings-password-changed")
    # The English page was logged out, and the old password no longer works.
    expect(en.locator("input[name=handle]")).to_be_visible()
    old = httpx.post(
        f"{scene.server.url}/api/login",
        json={"handle": scene.mina.handle, "password": scene.mina.password},
        timeout=15,
    )
    assert old.status_code == 401
    new = httpx.post(
        f"{scene.server.url}/api/login",
        json={"handle": scene.mina.handle, "password": "a fresh password for mina"},
        timeout=15,
    )
    assert new.status_code == 200
    assert scene.english.errors == [] and scene.japanese.errors == []


def test_downloading_ones_data(scene: Scene) -> None:
    ja = scene.ja
    with ja.expect_download() as downloading:
        ja.get_by_role("link", name="自分のデータをダウンロード（JSON）").click()
    download = downloading.value
    assert download.suggested_filename.startswith(f"tsudoi-{scene.mina.handle}-")
    archive = json.loads(Path(download.path()).read_text())
    assert archive["format"] == "tsudoi.export.v1" and archive["profile"]["id"] == scene.mina.id
    assert scene.japanese.errors == []


def test_changing_the_handle_in_japanese_then_refused_in_english_until_the_month_is_over(
    scene: Scene,
) -> None:
    ja, en = scene.ja, scene.en
    password = "a fresh password for mina"  # since the test above
    new_handle = f"{scene.mina.handle}_sendai"
    go(ja, "settings")
    card = ja.locator("section", has=ja.get_by_role("heading", name="ユーザー名", exact=True))
    expect(card).to_contain_text("30日に1回")
    form = card.locator("form.handle-form")
    form.get_by_label("新しいユーザー名").fill(new_handle)
    form.get_by_label("現在のパスワード").fill("not my password at all")
    form.get_by_role("button", name="ユーザー名を変更").click()
    expect(form.locator(".form-error")).to_have_text("現在のパスワードが違います。")
    form.get_by_label("現在のパスワード").fill(password)
    form.get_by_role("button", name="ユーザー名を変更").click()
    expect(ja.locator(".toast", has_text=f"@{new_handle} に変更しました")).to_be_visible()
    expect(ja.locator(".signed-in-as")).to_have_text(f"@{new_handle} としてログイン中")
    shot(ja, "63-settings-handle-changed")

    # The English page logs in with the new handle; a second change within the month is refused,
    # in words, with the date it becomes possible.
    log_in(en, scene.server, Person(scene.mina.id, new_handle, scene.mina.display_name, password, ""))
    go(en, "settings")
    card = en.locator("section", has=en.get_by_role("heading", name="Handle", exact=True))
    expect(card).to_contain_text("once every 30 days")
    form = card.locator("form.handle-form")
    expect(form.get_by_label("New handle")).to_have_value(new_handle)
    form.get_by_label("New handle").fill(f"{scene.mina.handle}_again")
    form.get_by_label("Current password").fill(password)
    form.get_by_role("button", name="Change handle").click()
    expect(form.locator(".form-error")).to_contain_text(
        "You changed your handle recently. You can change it again from"
    )
    # The old handle still finds her.
    en.goto(f"{scene.server.url}/#/u/{scene.mina.handle}")
    expect(en.locator("#view")).to_contain_text(f"@{new_handle}")
    assert scene.english.errors == [] and scene.japanese.errors == []


def test_deleting_the_account(scene: Scene, open_page) -> None:  # type: ignore[no-untyped-def]
    ja = scene.ja
    password = "a fresh password for mina"  # since the password change above
    ren = new_person(scene.server, "ren", "Ren Ito")
    token = httpx.post(
        f"{scene.server.url}/api/login", json={"handle": scene.mina.handle, "password": password}, timeout=15
    ).json()["token"]
    with Api(scene.server, token) as api:
        conversation = api.call("dm.open", user_ids=[ren.id])["conversation"]
        api.call("dm.send", conversation_id=conversation["id"], text="Take care, Ren")
    go(ja, "settings")
    ja.locator("details.delete-account summary").click()
    form = ja.locator("form.delete-form")
    form.get_by_label("現在のパスワード").fill("not my password at all")
    form.get_by_label("元に戻せないことを理解しました").check()
    form.get_by_role("button", name="アカウントを削除").click()
    expect(form.locator(".form-error")).to_have_text("現在のパスワードが違います。")
    expect(ja.locator("#conn")).to_have_attribute("data-state", "online")

    form.get_by_label("現在のパスワード").fill(password)
    form.get_by_role("button", name="アカウントを削除").click()
    expect(ja.locator(".toast", has_text="アカウントを削除しました。")).to_be_visible()
    expect(ja.locator("input[name=handle]")).to_be_visible()
    # Ren keeps the message, from a deleted account.
    rens = open_page("en-US")
    log_in(rens.page, scene.server, ren)
    go(rens.page, "dm")
    entry = rens.page.locator(".conversation").first
    expect(entry).to_contain_text("Deleted account")
    entry.locator("a").first.click()
    expect(rens.page.locator(".messages")).to_contain_text("Take care, Ren")
    expect(rens.page.locator(".messages .deleted-account").first).to_have_text("Deleted account")
    shot(rens.page, "62-dm-from-a-deleted-account")
    assert scene.japanese.errors == [] and rens.errors == []
