"""Accessibility of every main screen, checked by axe-core in Chromium, in Japanese and English.

axe-core (package-lock.json, installed by scripts/test with npm ci) is injected into the page
after each screen has drawn its content; a screen passes with no violation of impact "critical"
or "serious". The counts of every impact are written to test-artifacts/axe.json, so the lesser
("moderate", "minor") findings stay visible without failing the suite.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import ROOT, ServerProcess

from .support import Api, log_in, new_person

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")


def axe(page: Page, screen: str) -> list[dict[str, Any]]:
    """The violations axe-core finds on the page as it is now, each tagged with the screen."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Not page.add_script_tag: the SPA's CSP (script-src 'self') refuses an inline script,
        # and the test keeps that CSP on. Playwright's evaluate runs outside it.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {
            "screen": screen,
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [", ".join(map(str, n["target"])) for n in v["nodes"]],
        }
        for v in result["violations"]
    ]


def settle(page: Page) -> None:
    """Wait until the screen has drawn its data: no loading note left in the main view."""
    expect(page.locator("#view .loading")).to_have_count(0)


def go(page: Page, server: ServerProcess, route: str) -> None:
    page.goto(f"{server.url}/#{route}")
    settle(page)


@pytest.mark.parametrize("locale", ["ja-JP", "en-US"])
def test_main_screens_have_no_serious_axe_violations(
    server: ServerProcess, open_page: Any, locale: str
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --ignore-scripts` (scripts/test does)")
    me = new_person(server, "ally", "見る 人")
    friend = new_person(server, "tomo", "友 達")
    newcomer = new_person(server, "new", "新しい 人")
    with Api(server, friend.token) as api:
        post = api.call("post.create", text="#炊き出し 錦町公園で12時から https://example.org/info")["post"]
        community = api.call("community.create", name="避難所 運営")["community"]
        api.call("post.create", text="水の配布は14時", community_id=community["id"])
        api.call("follow", user_id=me.id)
        api.call("safety.set", state="safe", note="家族みんな無事です", audience="everyone")
        conversation = api.call("dm.open", user_ids=[me.id])["conversation"]
        api.call("dm.send", conversation_id=conversation["id"], text="大丈夫ですか？")
    with Api(server, me.token) as api:
        api.call("follow", user_id=friend.id)
        api.call("community.join", community_id=community["id"])
        api.call("post.create", text="無事です、ありがとう")
        api.call("dm.send", conversation_id=conversation["id"], text="はい、大丈夫です")
        api.call("post.react", post_id=post["id"], emoji=api.hello["limits"]["reaction_emoji"][0])

    found: list[dict[str, Any]] = []
    signed_out = open_page(locale).page
    signed_out.goto(f"{server.url}/")
    expect(signed_out.locator("input[name=handle]")).to_be_visible()
    found += axe(signed_out, "login")
    with Api(server, me.token) as api:
        code = api.call("invite.create")["invite"]["code"]
    signed_out.goto(f"{server.url}/i/{code}")
    expect(signed_out.locator("input[type=date]")).to_be_visible()
    found += axe(signed_out, "sign-up")

    # A newcomer's empty home.
    fresh = open_page(locale).page
    log_in(fresh, server, newcomer)
    settle(fresh)
    found += axe(fresh, "home (empty)")

    page = open_page(locale).page
    log_in(page, server, me)
    screens = [
        ("home", "/", "article.post"),
        ("discover", "/discover", "#view .feed"),
        ("communities", "/communities", "#view a[href^='#/c/']"),
        ("community", f"/c/{community['id']}", "article.post"),
        ("messages", "/dm", "#view a[href^='#/dm/']"),
        ("conversation", f"/dm/{conversation['id']}", "#view li"),
        ("notifications", "/notifications", "#view li, #view article"),
        ("safety", "/safety", "#view li, #view article"),
        ("disaster page", "/disaster", "#view .disaster-body a"),
        ("profile", f"/u/{friend.handle}", "article.post"),
        ("thread", f"/post/{post['id']}", "article.post"),
        ("tag", "/tag/%E7%82%8A%E3%81%8D%E5%87%BA%E3%81%97", "article.post"),
        ("search", "/search?q=%E5%A4%A7%E4%B8%88%E5%A4%AB", "#view h1"),
        ("settings", "/settings", "#view h1"),
    ]
    for name, route, ready in screens:
        go(page, server, route)
        expect(page.locator(ready).first).to_be_visible()
        found += axe(page, name)

    # At a phone's width: the bottom bar, its badges and the floating compose button.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, route, ready in (screens[0], screens[5]):
        go(page, server, route)
        expect(page.locator(ready).first).to_be_visible()
        found += axe(page, f"{name} (phone)")

    counts = Counter(v["impact"] for v in found)
    out = ROOT / "test-artifacts" / f"axe-{locale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"counts": counts, "violations": found}, ensure_ascii=False, indent=1))
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, f"{dict(counts)}:\n" + "\n".join(
        f"{v['screen']}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for v in blocking
    )
