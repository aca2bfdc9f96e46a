"""Fixtures of the browser tests: one Chromium per test module (Debian's, never a downloaded
one), and pages whose every request URL is recorded, to prove no session token is ever in one.

Playwright's sync API runs its own event loop in this thread while it is started, so asyncio
code cannot run beside it: the browser lives for one module only (the asyncio tests of other
modules on the same worker run after it is gone), and the suite's autouse asyncio fixture that
checks test clients' frames is replaced here by a no-op (these tests use no such clients).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.server import ServerProcess

from .support import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(autouse=True)
def _check_frames() -> None:
    """Overrides tests/conftest.py's asyncio fixture, which cannot run under Playwright's loop."""


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per test module, on the embedded default: the module's people share it."""
    process = ServerProcess(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """A browser context and its page, with every URL it loaded and every script error."""

    def __init__(self, browser: Browser, locale: str) -> None:
        self.context: BrowserContext = browser.new_context(
            locale=locale, viewport={"width": 1100, "height": 820}, reduced_motion="reduce"
        )
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.page: Page = self.context.new_page()
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.page.on("websocket", lambda ws: self.urls.append(ws.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def open_page(browser: Browser) -> Iterator[Any]:
    """open_page(locale) -> Watched; the contexts close with the module."""
    made: list[Watched] = []

    def open_(locale: str = "ja-JP") -> Watched:
        made.append(Watched(browser, locale))
        return made[-1]

    yield open_
    for watched in made:
        watched.close()
