"""A short, human description of a device from its User-Agent, for the signed-in sessions list.

Contract: :func:`describe` never raises and answers at most :data:`DEVICE_MAX` characters of
printable text: "Firefox on Windows", "Safari on iPhone", "Tsudoi SDK", or, for a client it
does not recognise, the User-Agent's first product token ("curl/8.5.0"), or "" for none.

Only the browser's and the system's names are kept, never versions of browsers or the rest of
the string: the list is there so a person recognises their own devices, and the full string is
a fingerprint worth not storing. The order of checks matters, since browsers name each other
("Edg/" strings also say "Chrome" and "Safari", Chrome's say "Safari").
"""

from __future__ import annotations

DEVICE_MAX = 60

#: (marker in the User-Agent, browser name), the first found wins.
_BROWSERS: tuple[tuple[str, str], ...] = (
    ("Edg/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("HeadlessChrome/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)

#: (marker, system name), the first found wins: iPhone and iPad say "like Mac OS X", Android
#: says "Linux".
_SYSTEMS: tuple[tuple[str, str], ...] = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe(user_agent: str | None) -> str:
    """ "<browser> on <system>", or what can be told; see the module's contract."""
    if not user_agent:
        return ""
    ua = "".join(ch for ch in user_agent[:512] if ch.isprintable())
    if ua.startswith("tsudoi-sdk") or ua.startswith("Tsudoi"):
        return "Tsudoi SDK"
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system or ""
    first = ua.split(" ", 1)[0]
    return first[:DEVICE_MAX]
