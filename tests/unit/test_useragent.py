"""The sessions list's device descriptions (server/domain/useragent.py)."""

from __future__ import annotations

import pytest

from server.domain.useragent import DEVICE_MAX, describe

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
CHROME_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/131.0 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("agent", "described"),
    [
        (CHROME_ANDROID, "Chrome on Android"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (SAFARI_MAC, "Safari on macOS"),
        (CHROME_IPAD, "Chrome on iPad"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", ""),
        (None, ""),
    ],
)
def test_describe_names_browser_and_system_only(agent: str | None, described: str) -> None:
    assert describe(agent) == described


def test_describe_is_bounded_and_printable() -> None:
    described = describe("x" * 5000 + "\x00\n")
    assert len(described) <= DEVICE_MAX and described.isprintable()
