"""Faces and pictures in the SPA, in Chromium against a real server: the profile picture step
after sign-up (a real picture framed on the canvas, uploaded, and the face shown), faces changed
live on another person's page, the profile editor, two pictures with alt text attached to a post
(one by the picker, one dropped) and shown in the timeline with their alt, a message of pictures
only (pasted), the viewer by keyboard, and thumbnails only during an incident.

The pictures are made here with Pillow. The tests build on each other, in order, on one server;
they run in Japanese, then again in English with people of their own (the ``scene`` is
parametrized by locale, and the page's words are the SPA's own strings, ``support.ui``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .conftest import Watched
from .support import LOCALES, Api, Person, new_person, operator, shot, ui

#: The conversation list's line for a message of one picture: English words it by a plural
#: function rather than a string with a number (web/js/locales/en.js "dm.pictures").
ONE_PICTURE = {"ja-JP": "📷 画像 1 枚", "en-US": "📷 A picture"}

#: How long an expectation waits for an upload's answer: the server's picture pool re-encodes
#: each one, which takes a fraction of a second on a quiet machine and several seconds on a CI
#: machine running other tests (the suite's 5 s default ran out there).
UPLOADED_MS = 30_000


def picture(path: Path, size: tuple[int, int], colour: tuple[int, int, int], fmt: str = "PNG") -> Path:
    """A real picture: a colour field with a lighter disc, so framing and scaling show."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=tuple(min(255, c + 90) for c in colour))
    image.save(path, fmt)
    return path


@dataclass
class Scene:
    server: ServerProcess
    tmp: Path
    newcomer_view: Watched
    friend: Person
    friend_view: Watched
    locale: str
    t: Callable[..., str]
    newcomer_handle: str
    newcomer: Person | None = None
    media_requests: list[str] = field(default_factory=list)

    @property
    def n(self) -> Page:
        return self.newcomer_view.page

    @property
    def f(self) -> Page:
        return self.friend_view.page

    def shot(self, page: Page, name: str) -> None:
        shot(page, f"{name}-{self.locale[:2]}")


@pytest.fixture(scope="module", params=list(LOCALES))
def scene(
    server: ServerProcess,
    open_page: Any,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Scene:
    locale: str = request.param
    friend = new_person(server, "friend", "佐藤 友子")
    return Scene(
        server,
        tmp_path_factory.mktemp("pictures"),
        open_page(locale),
        friend,
        open_page(locale),
        locale,
        ui(locale),
        newcomer_handle=f"mika_photo_{locale[:2]}",
    )


def post_card(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("#view article.post").filter(has=page.locator(".post-text", has_text=text))


def wait_loaded(img) -> None:  # type: ignore[no-untyped-def]
    """Wait until the picture has really arrived and decoded (not a broken image): setting its
    ``src`` starts the load, which may still be under way when the attribute is seen."""
    img.page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())


def test_the_profile_picture_step_after_sign_up(scene: Scene) -> None:
    n, t = scene.n, scene.t
    with Api(scene.server, operator(scene.server).token) as root:
        code = root.call("invite.create")["invite"]["code"]
    n.goto(f"{scene.server.url}/i/{code}")
    n.fill("input[name=handle]", scene.newcomer_handle)
    n.fill("input[name=display_name]", "森 美香")
    n.fill("input[name=password]", "correct horse battery staple")
    n.fill("input[name=birth_date]", "1991-03-11")
    n.check("input[name=adult]")
    n.check("input[name=accept_terms]")
    n.click("form.signup button[type=submit]")
    # Like mixi2: the account exists, and a profile picture is offered, skippable.
    expect(n.locator(".welcome h1")).to_have_text(t("welcome.title", name="森 美香"))
    expect(n.locator(".welcome-skip")).to_have_text(t("welcome.skip"))
    expect(n.locator(".edit-face .avatar")).to_have_text("森")  # the initial, until a picture
    n.locator(".avatar-picker input[type=file]").set_input_files(
        str(picture(scene.tmp / "me.png", (900, 600), (30, 90, 160)))
    )
    canvas = n.locator("canvas.crop-canvas")
    expect(canvas).to_be_focused()  # the framing takes the keyboard at once
    canvas.press("ArrowRight")
    canvas.press("+")
    scene.shot(n, "50-avatar-crop")
    n.get_by_role("button", name=t("avatar.use")).click()
    face = n.locator(".edit-face .avatar img")
    expect(face).to_have_attribute("src", re.compile(r"^/media/[0-9A-Z]{26}/"), timeout=UPLOADED_MS)
    n.wait_for_function(
        "() => { const i = document.querySelector('.edit-face .avatar img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    # The square that left the browser is what the server kept: a square.
    assert n.evaluate("document.querySelector('.edit-face .avatar img').naturalWidth") == n.evaluate(
        "document.querySelector('.edit-face .avatar img').naturalHeight"
    )
    expect(n.locator(".toast")).to_contain_text(t("avatar.saved"))
    scene.shot(n, "51-avatar-chosen")
    n.get_by_role("link", name=t("welcome.start")).click()
    n.fill("textarea[name=text]", "はじめまして、美香です")
    n.click("form.composer button[type=submit]")
    card = post_card(n, "はじめまして、美香です")
    expect(card.locator(".face-link .avatar img")).to_have_attribute("src", re.compile(r"/thumbnail$"))
    wait_loaded(card.locator(".face-link .avatar img"))


def test_a_changed_face_and_name_reach_a_follower_live(scene: Scene) -> None:
    f, t = scene.f, scene.t
    # The friend logs in and follows the newcomer, whose post then shows on her Following tab.
    f.goto(f"{scene.server.url}/")
    f.fill("input[name=handle]", scene.friend.handle)
    f.fill("input[name=password]", scene.friend.password)
    f.click("form button[type=submit]")
    expect(f.locator("#conn")).to_have_attribute("data-state", "online")
    f.goto(f"{scene.server.url}/#/u/{scene.newcomer_handle}")
    expect(f.locator(".profile-head .avatar.large img")).to_have_attribute(
        "src", re.compile(r"/media/[0-9A-Z]{26}/display$")
    )
    f.get_by_role("button", name=t("profile.follow"), exact=True).click()
    expect(f.get_by_role("button", name=t("profile.unfollow"))).to_be_visible()
    f.click("#nav a[data-route=following]")
    f.reload()
    card = post_card(f, "はじめまして、美香です")
    old = card.locator(".face-link .avatar img").get_attribute("src")
    # The newcomer edits her profile: a new name, a bio, interests; then a new picture.
    n = scene.n
    n.click("#nav a[data-route=me]")
    n.get_by_role("link", name=t("profile.edit")).click()
    n.fill("input[name=display_name]", "森 美香 📷")
    n.fill("textarea[name=bio]", "仙台で写真を撮っています。")
    n.fill("input[name=interests]", "写真, sendai #防災")
    n.get_by_role("button", name=t("profile.save")).click()
    expect(n.locator(".toast").last).to_contain_text(t("settings.saved"))
    expect(card.locator(".display-name")).to_have_text("森 美香 📷")  # live on the friend's page
    n.locator(".avatar-picker input[type=file]").set_input_files(
        str(picture(scene.tmp / "me2.jpg", (500, 700), (170, 60, 40), "JPEG"))
    )
    n.get_by_role("button", name=t("avatar.use")).click()
    expect(card.locator(".face-link .avatar img")).not_to_have_attribute(
        "src", old or "", timeout=UPLOADED_MS
    )
    expect(card.locator(".face-link .avatar img")).to_have_attribute(
        "src", re.compile(r"^/media/[0-9A-Z]{26}/thumbnail$")
    )
    scene.shot(f, "52-face-live")
    # Her profile page shows the bio and the interests.
    n.get_by_role("link", name=t("profile.view")).click()
    expect(n.locator(".profile-head .bio")).to_have_text("仙台で写真を撮っています。")
    expect(n.locator(".profile-head .interests .tag")).to_have_text(["#写真", "#sendai", "#防災"])
    scene.shot(n, "53-profile-bio")


def test_two_pictures_with_alt_text_in_a_post(scene: Scene) -> None:
    n, f, t = scene.n, scene.f, scene.t
    n.click("#nav a[data-route=following]")
    composer = n.locator("form.composer").first
    # One by the picker …
    composer.locator("input[type=file]").set_input_files(
        str(picture(scene.tmp / "river.png", (1200, 800), (40, 120, 70)))
    )
    # … and one dropped on the composer, as from the desktop.
    data = picture(scene.tmp / "tower.jpg", (600, 900), (120, 90, 30), "JPEG").read_bytes()
    composer.evaluate(
        """(form, bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "tower.jpg", { type: "image/jpeg" }));
            form.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
            form.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        list(data),
    )
    items = composer.locator(".attach-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-state", "done", timeout=UPLOADED_MS)
    expect(items.nth(1)).to_have_attribute("data-state", "done", timeout=UPLOADED_MS)
    expect(composer.locator(".alt-hint").first).to_be_visible()  # prompted, not forced
    composer.get_by_label(t("attach.altLabel", n=1)).fill("増水した広瀬川と河川敷")
    composer.get_by_label(t("attach.altLabel", n=2)).fill("夕日に照らされた電波塔")
    composer.locator("textarea[name=text]").fill("今日の仙台")
    scene.shot(n, "54-composer-pictures")
    composer.locator("button[type=submit]").click()
    expect(composer.locator(".attach-item")).to_have_count(0)
    for page in (n, f):  # mine, and live on the friend's Following tab
        card = post_card(page, "今日の仙台")
        imgs = card.locator(".media-grid img")
        expect(imgs).to_have_count(2)
        expect(imgs.nth(0)).to_have_attribute("alt", "増水した広瀬川と河川敷")
        expect(imgs.nth(0)).to_have_attribute("title", "増水した広瀬川と河川敷")  # shown on hover
        expect(imgs.nth(1)).to_have_attribute("alt", "夕日に照らされた電波塔")
        # The box had its shape and colour before the picture came: width and height from the
        # server, the placeholder painted behind it.
        assert imgs.nth(0).get_attribute("width") == "1200" and imgs.nth(0).get_attribute("height") == "800"
        painted = card.locator(".media-open").first.evaluate("el => getComputedStyle(el).backgroundColor")
        assert painted.startswith("rgb(") and painted != "rgba(0, 0, 0, 0)"
        page.wait_for_function(
            "el => [...el.querySelectorAll('.media-grid img')].every(i => i.complete && i.naturalWidth > 0)",
            arg=card.element_handle(),
        )
    scene.shot(f, "55-timeline-pictures")


def test_the_viewer_by_keyboard(scene: Scene) -> None:
    f = scene.f
    card = post_card(f, "今日の仙台")
    first = card.locator(".media-open").first
    first.focus()
    f.keyboard.press("Enter")
    viewer = f.locator("dialog.viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator(".viewer-count")).to_have_text("1 / 2")
    expect(viewer.locator(".viewer-alt")).to_have_text("増水した広瀬川と河川敷")
    expect(viewer.locator(".viewer-img")).to_have_attribute("src", re.compile(r"/display$"))
    f.keyboard.press("ArrowRight")
    expect(viewer.locator(".viewer-count")).to_have_text("2 / 2")
    expect(viewer.locator(".viewer-img")).to_have_attribute("alt", "夕日に照らされた電波塔")
    f.keyboard.press("ArrowRight")  # round again
    expect(viewer.locator(".viewer-count")).to_have_text("1 / 2")
    f.keyboard.press("ArrowLeft")
    expect(viewer.locator(".viewer-count")).to_have_text("2 / 2")
    scene.shot(f, "56-viewer")
    # Tab and Shift+Tab go round the dialog's controls and never leave it.
    for key in ["Tab"] * 5 + ["Shift+Tab"] * 5:
        f.keyboard.press(key)
        assert f.evaluate("!!document.activeElement.closest('dialog.viewer')")
    f.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    expect(first).to_be_focused()  # back where it was opened


def test_a_message_of_pictures_only(scene: Scene) -> None:
    n, f, t = scene.n, scene.f, scene.t
    f.goto(f"{scene.server.url}/#/u/{scene.newcomer_handle}")
    f.get_by_role("button", name=t("profile.message")).click()
    expect(f.locator(".dm-composer textarea[name=message]")).to_be_focused()
    data = picture(scene.tmp / "lunch.png", (640, 480), (200, 150, 60)).read_bytes()
    # Pasted into the message box, as a screenshot would be.
    f.locator(".dm-composer textarea[name=message]").evaluate(
        """(area, bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "lunch.png", { type: "image/png" }));
            area.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
        }""",
        list(data),
    )
    expect(f.locator(".dm-composer .attach-item")).to_have_attribute(
        "data-state", "done", timeout=UPLOADED_MS
    )
    f.locator(".dm-composer textarea[name=message]").press("Enter")  # no text: pictures only
    mine = f.locator(".message.mine").last
    expect(mine.locator(".media-grid img")).to_have_count(1)
    expect(mine.locator(".bubble")).to_have_count(0)
    n.click("#nav a[data-route=dm]")
    expect(n.locator(".conversation").first).to_contain_text(ONE_PICTURE[scene.locale])
    n.locator(".conversation a").first.click()
    theirs = n.locator(".message.theirs").last
    expect(theirs.locator(".media-grid img")).to_have_count(1)
    # A picture in a conversation is served to its members (the cookie authorises it).
    for message in (mine, theirs):
        message.page.wait_for_function(
            "el => { const i = el.querySelector('.media-grid img'); return i.complete && i.naturalWidth > 0; }",
            arg=message.element_handle(),
        )
    expect(theirs.locator(".avatar")).to_have_text("佐")  # the friend has no picture: her initial
    scene.shot(n, "57-dm-picture")


def test_thumbnails_only_during_an_incident(scene: Scene) -> None:
    f = scene.f
    f.click("#nav a[data-route=following]")
    card = post_card(f, "今日の仙台")
    expect(card.locator(".media-grid img")).to_have_count(2)
    with Api(scene.server, operator(scene.server).token) as root:
        root.call("incident.start", title="宮城県沖地震", area="宮城県")
        expect(f.locator("#incident")).to_be_visible()
        f.reload()  # a fresh page during the incident: nothing but thumbnails is fetched
        requested: list[str] = []
        f.on("request", lambda request: requested.append(request.url))
        card = post_card(f, "今日の仙台")
        imgs = card.locator(".media-grid img")
        expect(imgs).to_have_count(2)
        for i in range(2):
            expect(imgs.nth(i)).to_have_attribute("src", re.compile(r"/thumbnail$"))
            assert imgs.nth(i).get_attribute("srcset") is None
        f.wait_for_function(
            "el => [...el.querySelectorAll('.media-grid img')].every(i => i.complete && i.naturalWidth > 0)",
            arg=card.element_handle(),
        )
        assert not [u for u in requested if u.endswith("/display")], requested
        scene.shot(f, "58-incident-thumbnails")
        # The reader may still ask for one picture in full.
        card.get_by_role("button", name=scene.t("media.loadFull")).first.click()
        expect(imgs.nth(0)).to_have_attribute("src", re.compile(r"/display$"))
        expect(imgs.nth(1)).to_have_attribute("src", re.compile(r"/thumbnail$"))
        root.call("incident.end")
        expect(f.locator("#incident")).to_be_hidden()
    # Over: full pictures again, without a reload.
    expect(card.locator(".load-full")).to_have_count(0)
    expect(card.locator(".media-grid img").nth(1)).not_to_have_attribute("src", re.compile(r"/thumbnail$"))
