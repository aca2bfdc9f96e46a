"""The disaster pages of 2011 in Chromium, in Japanese (Hanako) and English (Ken), friends: while
an incident lasts the banner leads to the "during a disaster" page, the built-in one first and
then the one the operator writes from the shell (its raw HTML shown as text, nothing run); and a
status's coarse area, a prefecture from the list and a place typed, reaches a friend's board.

The tests build on each other, in order, on one server and one pair of pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess, tsudoi

from .conftest import Watched
from .support import Api, Person, log_in, new_person, operator, shot


@dataclass
class Scene:
    server: ServerProcess
    hanako: Person
    ken: Person
    hanako_view: Watched
    ken_view: Watched

    @property
    def ja(self) -> Page:
        return self.hanako_view.page

    @property
    def en(self) -> Page:
        return self.ken_view.page


@pytest.fixture(scope="module")
def scene(server: ServerProcess, open_page) -> Scene:  # type: ignore[no-untyped-def]
    hanako, ken = new_person(server, "hanako", "山田 花子"), new_person(server, "ken", "Ken Baker")
    for me, friend in ((hanako, ken), (ken, hanako)):
        with Api(server, me.token) as api:
            api.call("follow", user_id=friend.id)
    scene = Scene(server, hanako, ken, open_page("ja-JP"), open_page("en-US"))
    log_in(scene.ja, server, hanako)
    log_in(scene.en, server, ken)
    return scene


def test_the_banner_leads_to_the_built_in_page_during_an_incident(scene: Scene) -> None:
    ja, en = scene.ja, scene.en
    expect(ja.locator("#incident")).to_be_hidden()
    with Api(scene.server, operator(scene.server).token) as root:
        root.call("incident.start", title="宮城県沖地震", area="宮城県")
    for page, label in ((ja, "災害時の案内"), (en, "What to do now")):
        guide = page.locator("#incident a[href='#/disaster']")
        expect(guide).to_have_text(label)
        guide.click()
        expect(page.locator("#view .disaster-incident")).to_contain_text("宮城県沖地震")
        body = page.locator("#view .disaster-body")
        expect(body).to_contain_text("災害用伝言ダイヤル 171")
        expect(body).to_contain_text("Disaster Emergency Message Dial 171")
        web171 = body.locator("a[href='https://www.web171.jp/']").first
        expect(web171).to_have_attribute("target", "_blank")
        expect(web171).to_have_attribute("rel", "noopener noreferrer")
        expect(body.locator("a[href='tel:171']").first).to_be_visible()
    expect(ja.locator("#view .disaster-about")).to_contain_text("Tsudoi に組み込まれた")
    expect(en.locator("#view .disaster-about")).to_contain_text("built into Tsudoi")
    shot(ja, "70-disaster-page-built-in-ja")
    # The page's own link to the safety page stays within the app.
    en.locator("#view .disaster-body a[href='#/safety']").first.click()
    expect(en.locator("#view h1")).to_have_text("Safety")
    expect(en.locator(".disaster-link.during-incident a")).to_be_visible()


def test_the_page_the_operator_writes_is_shown_and_its_html_stays_text(scene: Scene, tmp_path: Path) -> None:
    ja, en = scene.ja, scene.en
    source = tmp_path / "page.md"
    source.write_text(
        "# 宮城県の皆さんへ / To everyone in Miyagi\n\n"
        "<script>window.pwned = 1</script>\n\n"
        '<img src=x onerror="window.pwned = 2">\n\n'
        "- [避難所の一覧 / Shelters](https://city.example/shelters)\n"
        "- [危ない](javascript:window.pwned=3)\n",
        encoding="utf-8",
    )
    result = tsudoi("admin", "disaster-page", "set", str(source), "--data", str(scene.server.data_dir))
    assert result.returncode == 0, result.stderr
    en.click(".disaster-link a")
    body = en.locator("#view .disaster-body")
    expect(body.locator("h1")).to_have_text("宮城県の皆さんへ / To everyone in Miyagi")
    expect(body).to_contain_text("<script>window.pwned = 1</script>")  # shown as text
    expect(body.locator("a.external")).to_have_attribute("href", "https://city.example/shelters")
    expect(body).to_contain_text("[危ない](javascript:window.pwned=3)")
    assert body.locator("script, img, [onerror]").count() == 0
    assert body.locator("a").count() == 1
    expect(en.locator("#view .disaster-about")).to_contain_text("Written by this server's operator")
    ja.reload()
    expect(ja.locator("#incident")).to_be_visible()
    ja.click("#incident a[href='#/disaster']")
    expect(ja.locator("#view .disaster-body h1")).to_contain_text("宮城県の皆さんへ")
    expect(ja.locator("#view .disaster-about")).to_contain_text("運営者による案内")
    shot(en, "71-disaster-page-operator-en")
    for page in (ja, en):
        assert page.evaluate("window.pwned") is None
    assert not scene.hanako_view.errors and not scene.ken_view.errors


def test_a_status_area_from_the_list_reaches_a_friends_board(scene: Scene) -> None:
    ja, en = scene.ja, scene.en
    ja.click("#nav a[data-route=safety]")
    ja.locator(".safety-details summary").click()
    ja.select_option("select[name=prefecture]", label="宮城県")
    ja.fill("input[name=area]", "仙台市青葉区")
    ja.locator(".status-button[data-state=safe]").click()
    expect(ja.locator(".my-status")).to_contain_text("宮城県 仙台市青葉区")
    en.click("#nav a[data-route=safety]")
    hanako_entry = en.locator(".board-entry", has_text="山田 花子")
    expect(hanako_entry.locator(".area")).to_have_text("📍 宮城県 仙台市青葉区")
    expect(hanako_entry).to_contain_text("I'm safe")

    en.locator(".safety-details summary").click()
    prefectures = en.locator("select[name=prefecture] option")
    expect(prefectures).to_have_count(48)  # "Not chosen" and the 47
    en.select_option("select[name=prefecture]", label="Miyagi")
    en.locator(".status-button[data-state=evacuating]").click()  # the prefecture alone
    ken_entry = ja.locator(".board-entry", has_text="Ken Baker")
    expect(ken_entry.locator(".area")).to_have_text("📍 Miyagi")
    en.fill("input[name=area]", "Aoba-ku, Sendai")
    en.locator(".status-button[data-state=safe]").click()
    expect(ken_entry.locator(".area")).to_have_text("📍 Aoba-ku, Sendai, Miyagi")
    expect(ken_entry).to_have_class(re.compile(r"state-safe"))
    shot(ja, "72-safety-board-areas")
    with Api(scene.server, operator(scene.server).token) as root:
        root.call("incident.end")
    expect(ja.locator("#incident")).to_be_hidden()
    expect(ja.locator(".disaster-link.during-incident")).to_have_count(0)
    assert not scene.hanako_view.errors and not scene.ken_view.errors


def test_the_page_is_under_the_log_in_form_for_someone_who_cannot_sign_in(scene: Scene, open_page) -> None:  # type: ignore[no-untyped-def]
    stranger = open_page("en-US")
    page = stranger.page
    page.goto(f"{scene.server.url}/")
    expect(page.locator("#login-title")).to_be_visible()
    page.locator(".disaster-details summary").click()
    body = page.locator(".disaster-details .disaster-body")
    expect(body.locator("h1")).to_have_text("宮城県の皆さんへ / To everyone in Miyagi")
    expect(body.locator("a.external")).to_have_attribute("href", "https://city.example/shelters")
    assert not [c for c in stranger.context.cookies() if c["name"] == "tsudoi_session"]  # no session
    assert page.evaluate("window.pwned") is None and not stranger.errors
    shot(page, "73-disaster-page-logged-out")
