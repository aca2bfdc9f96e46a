"""The page the server serves: a Content-Security-Policy without inline script, no referrers, and
SPA code that never turns text into markup. (The SPA itself is tested in Chromium: tests/browser.)"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.server import ServerProcess

WEB = Path(__file__).resolve().parent.parent / "web"
#: DOM sinks that parse markup or run code: user text must never reach one, so none is used.
FORBIDDEN = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*[\"']on"
)


async def test_pages_carry_a_strict_content_security_policy(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/", "/i/some-invite-code"):
            response = await http.get(path)
            assert response.status_code == 200
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "style-src 'self'" in csp
            assert response.headers["referrer-policy"] == "no-referrer"  # invite codes stay private
            assert "<script" in response.text
            # No inline script: every script element loads a same-origin file.
            for tag in re.findall(r"<script[^>]*>", response.text):
                assert 'src="/static/' in tag
            assert not re.search(r"<script[^>]*>[^<]+</script>", response.text)
            # No inline event handlers or style attributes (the CSP would refuse them).
            assert not re.search(r"\son[a-z]+=", response.text)
            assert " style=" not in response.text
        for name in sorted(p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()):
            served = await http.get(f"/static/{name}")
            # web/ is a package so that a wheel carries it; its Python is not part of the page.
            python = name.endswith((".py", ".pyc"))
            assert served.status_code == (404 if python else 200), name


def test_spa_code_never_builds_markup_from_strings() -> None:
    scripts = sorted(WEB.rglob("*.js"))
    assert len(scripts) > 5
    for script in scripts:
        text = script.read_text()
        assert not FORBIDDEN.search(text), f"{script.name}: {FORBIDDEN.search(text)}"
        assert len(text.splitlines()) < 500, f"{script.name} is over 500 lines"


def test_every_ui_string_exists_in_japanese_and_english() -> None:
    # A language's strings: locales/<lang>.js and its parts, locales/<lang>.<part>.js.
    keys = {
        lang: {
            key
            for path in (WEB / "js" / "locales").glob(f"{lang}.*js")
            for key in re.findall(r'^\s+"([\w.]+)":', path.read_text(), re.M)
        }
        for lang in ("ja", "en")
    }
    assert keys["ja"] == keys["en"], keys["ja"] ^ keys["en"]
    used: set[str] = set()
    for script in WEB.rglob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text()))
    used |= set(re.findall(r'data-i18n(?:-label)?="([\w.]+)"', (WEB / "index.html").read_text()))
    assert used <= keys["en"], used - keys["en"]


async def test_health_reports_storage_and_bus(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = (await http.get("/healthz")).json()
    assert body["storage"]["ok"] is True and body["bus"]["ok"] is True
    assert body["version"]
