"""The page the server serves: a Content-Security-Policy without inline script, no referrers."""

from __future__ import annotations

import re

import httpx

from tests.support.server import ServerProcess


async def test_pages_carry_a_strict_content_security_policy(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/", "/i/some-invite-code"):
            response = await http.get(path)
            assert response.status_code == 200
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert response.headers["referrer-policy"] == "no-referrer"  # invite codes stay private
            assert "<script" in response.text
            # No inline script: every script element loads a same-origin file.
            for tag in re.findall(r"<script[^>]*>", response.text):
                assert 'src="/static/' in tag
        script = await http.get("/static/minimal.js")
        assert script.status_code == 200
        assert "innerHTML" not in script.text  # user text is set as textContent only


async def test_health_reports_storage_and_bus(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = (await http.get("/healthz")).json()
    assert body["storage"]["ok"] is True and body["bus"]["ok"] is True
    assert body["version"]
