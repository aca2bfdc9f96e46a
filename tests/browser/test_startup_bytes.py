"""What a phone downloads to reach a usable safety board during an incident (issue 19), cold (a
browser that has never loaded the app, already signed in) and warm (the service worker installed
and its cache full). Every byte is counted on the wire by a TCP relay between Chromium and the
server, so the worker's own fetches count too, and so do HTTP headers and WebSocket frames.

    .venv/bin/pytest tests/browser/test_startup_bytes.py -s -n 0 -p no:randomly

prints the figures (BENCHMARKS.md, "Start-up bytes during an incident"). The test checks only
what must hold whatever the machine: a warm start fetches no file of the shell from the network.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.server import ServerProcess

from .support import Api, new_person, operator

FRIENDS = 20
BOARD_READY = ".board-entry"


class Relay:
    """A TCP relay on a free port to the server, counting the bytes each way and keeping the
    request lines the browser sent (to tell which paths went to the network)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = 0
        self.up = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self.lock:
            self.down = self.up = 0
            self.requests = []

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                    with self.lock:
                        if source is client:
                            self.up += len(data)
                            self.requests += re.findall(rb"^(?:GET|POST|HEAD) (\S+) HTTP/1\.1\r$", data, re.M)
                        else:
                            self.down += len(data)
        except OSError:
            return
        finally:
            selector.close()
            client.close()
            upstream.close()

    def close(self) -> None:
        self.running = False
        self.listener.close()


def open_board(page: Page, url: str) -> None:
    page.goto(f"{url}/#/safety")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator(BOARD_READY)).to_have_count(FRIENDS)


def test_start_up_bytes_to_a_usable_safety_board(server: ServerProcess, browser: Any) -> None:
    me = new_person(server, "kazu", "仙台 かず")
    with Api(server, me.token) as mine:
        for i in range(FRIENDS):
            friend = new_person(server, f"fr{i}", f"友だち {i + 1:02d}", invited_by=me)  # follows me
            mine.call("follow", user_id=friend.id)
            with Api(server, friend.token) as api:
                api.call(
                    "safety.set", state="safe" if i % 4 else "need_help", note="家族も無事です", area="仙台市"
                )
                api.call("post.create", text=f"停電中です {i}")
    with Api(server, operator(server).token) as root:
        root.call("incident.start", title="宮城県沖地震", area="宮城県")
    relay = Relay(int(server.url.rsplit(":", 1)[1]))
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    context.add_cookies(
        [
            {
                "name": "tsudoi_session",
                "value": me.token,
                "url": relay.url,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    figures: dict[str, dict[str, Any]] = {}
    try:
        # Cold: nothing cached; the board is usable, then the worker finishes precaching.
        page = context.new_page()
        relay.reset()
        open_board(page, relay.url)
        cold_board = relay.down
        while not page.evaluate(
            "navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)"
        ):
            page.wait_for_timeout(100)
        page.wait_for_timeout(1000)  # the last precache answers are on the wire
        figures["cold"] = {"board": cold_board, "with_worker": relay.down, "requests": len(relay.requests)}
        page.close()

        # Warm: a new page of the same browser (as reopening the app from the home screen).
        page = context.new_page()
        relay.reset()
        open_board(page, relay.url)
        warm_requests = [r.decode() for r in relay.requests]
        figures["warm"] = {"board": relay.down, "requests": warm_requests, "up": relay.up}
        page.wait_for_timeout(2000)  # what follows a usable board: the worker's update check
        figures["warm"]["after_2s"] = relay.down
        figures["warm"]["requests_after_2s"] = [r.decode() for r in relay.requests]
        page.close()
    finally:
        context.close()
        relay.close()
    print(f"\nstart-up bytes during an incident, {FRIENDS} friends on the board: {figures}")
    assert not [path for path in warm_requests if path.startswith("/static/")], warm_requests
    assert figures["warm"]["board"] < figures["cold"]["board"]
