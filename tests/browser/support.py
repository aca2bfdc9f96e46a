"""Helpers for the browser tests: a blocking protocol client for the "other side" of a scene
(operators, bots, people not on screen), accounts made through the real HTTP API, and the
Playwright launch settings for Debian's Chromium."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.support.server import ROOT, ServerProcess

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_ids = itertools.count(1)
_handles = itertools.count(1)


@dataclass
class Person:
    id: str
    handle: str
    display_name: str
    password: str
    token: str


class Api:
    """One authenticated WebSocket, used synchronously: call() skips events until its answer."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(server.ws_url, subprotocols=["tsudoi.v1"], max_size=None)  # type: ignore[list-item]
        )
        self.hello = json.loads(self.ws.recv(timeout=10))
        self.ws.send(json.dumps({"op": "auth", "token": token}))
        self.ready = json.loads(self.ws.recv(timeout=10))
        if self.ready.get("op") != "ready":
            raise AssertionError(f"expected ready, got {self.ready}")

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        request_id = f"b{next(_ids)}"
        self.ws.send(json.dumps({"op": op, "id": request_id, **args}))
        while True:
            frame = json.loads(self.ws.recv(timeout=10))
            if frame.get("id") == request_id:
                if frame["op"] == "error":
                    raise AssertionError(f"{op}: {frame['code']} {frame['message']}")
                data: dict[str, Any] = frame["data"]
                return data

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def signup(server: ServerProcess, invite: str, handle: str, display_name: str | None = None) -> Person:
    password = f"{handle}-password-long"
    body = {
        "invite_code": invite,
        "handle": handle,
        "display_name": display_name or handle.capitalize(),
        "password": password,
        "birth_date": "1990-04-01",
        "accept_terms": True,
    }
    response = httpx.post(f"{server.url}/api/signup", json=body, timeout=15)
    if response.status_code != 201:
        raise AssertionError(response.text)
    user = response.json()["user"]
    return Person(user["id"], user["handle"], user["display_name"], password, response.json()["token"])


def operator(server: ServerProcess) -> Person:
    """The server's first account (an operator), made once through the bootstrap invite."""
    if server.root is None:
        server.root = signup(server, server.bootstrap_invite(), "root", "運営")
    root: Person = server.root
    return root


def new_person(
    server: ServerProcess, prefix: str, display_name: str | None = None, invited_by: Person | None = None
) -> Person:
    inviter = invited_by or operator(server)
    with Api(server, inviter.token) as api:
        code = api.call("invite.create")["invite"]["code"]
    return signup(server, code, f"{prefix[:10]}{next(_handles)}", display_name)


def log_in(page: Page, server: ServerProcess, person: Person) -> None:
    """Log in through the SPA's form and wait for the WebSocket to be up."""
    page.goto(f"{server.url}/")
    page.fill("input[name=handle]", person.handle)
    page.fill("input[name=password]", person.password)
    page.click("form button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the page as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


#: The SPA's languages as the browser tests run them: the browser's locale, and the SPA's
#: string table it picks from it (web/js/i18n.js).
LOCALES = {"ja-JP": "ja", "en-US": "en"}
_STRING = re.compile(r'^\s+"([\w.]+)":\s*(".*"),\s*$', re.M)


@functools.cache
def _strings(lang: str) -> dict[str, str]:
    # locales/<lang>.js and its parts, locales/<lang>.<part>.js, as web/js/locales.js joins them.
    paths = (ROOT / "web" / "js" / "locales").glob(f"{lang}.*js")
    text = "\n".join(path.read_text(encoding="utf-8") for path in paths)
    return {key: json.loads(value) for key, value in _STRING.findall(text)}


def ui(locale: str) -> Callable[..., str]:
    """``t(key, **values)`` for the page language of ``locale`` ("ja-JP", "en-US"): the SPA's own
    string, placeholders filled as i18n.t fills them. A test run in both languages finds its
    buttons and checks its words with it; a missing key fails at once (KeyError), so a test
    never passes by looking for nothing."""
    strings = _strings(LOCALES[locale])

    def t(key: str, **values: object) -> str:
        text = strings[key]
        for name, value in values.items():
            text = text.replace(f"{{{name}}}", str(value))
        return text

    return t
