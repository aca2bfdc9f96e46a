"""The page's text files gzipped for browsers that take them (server/gzipped.py), against a real
server: the bytes decompress to the file itself, the compressed copy has its own ETag and
revalidates to 304, every answer varies by Accept-Encoding, and what is not text, or a client
that does not take gzip, gets the file as it is."""

from __future__ import annotations

import gzip

import httpx
import pytest

from server import webapp
from server.gzipped import accepts_gzip
from tests.support.server import ServerProcess

APP_JS = webapp.WEB_ROOT / "js" / "app.js"


@pytest.mark.parametrize(
    ("header", "admitted"),
    [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*, gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
        ("deflate, *;q=0", False),
    ],
)
def test_accept_encoding_is_read_with_its_qualities(header: str, admitted: bool) -> None:
    assert accepts_gzip(header) is admitted


def raw_get(server: ServerProcess, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """A GET and its body as it came on the wire (httpx would decode gzip itself)."""
    with (
        httpx.Client(base_url=server.url, timeout=10) as http,
        http.stream("GET", path, headers=headers) as r,
    ):
        return r, b"".join(r.iter_raw())


def test_a_script_is_gzipped_once_asked_and_revalidates_by_its_own_etag(server: ServerProcess) -> None:
    plain, plain_body = raw_get(server, "/static/js/app.js", **{"accept-encoding": "identity"})
    packed, packed_body = raw_get(server, "/static/js/app.js", **{"accept-encoding": "gzip, deflate, br"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain_body == APP_JS.read_bytes()
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed_body) == APP_JS.read_bytes()
    assert len(packed_body) < len(plain_body) / 2
    assert int(packed.headers["content-length"]) == len(packed_body)
    assert packed.headers["content-type"].startswith("text/javascript")
    assert plain.headers["vary"] == packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["etag"] != plain.headers["etag"]

    again, again_body = raw_get(
        server, "/static/js/app.js", **{"accept-encoding": "gzip", "if-none-match": packed.headers["etag"]}
    )
    assert (again.status_code, again_body) == (304, b"")
    # The plain copy's ETag does not validate the compressed one.
    other, _ = raw_get(
        server, "/static/js/app.js", **{"accept-encoding": "gzip", "if-none-match": plain.headers["etag"]}
    )
    assert other.status_code == 200 and other.headers["content-encoding"] == "gzip"


def test_head_of_a_gzipped_file_has_its_length_and_no_body(server: ServerProcess) -> None:
    packed, _ = raw_get(server, "/static/css/app.css", **{"accept-encoding": "gzip"})
    with httpx.Client(base_url=server.url, timeout=10) as http:
        head = http.head("/static/css/app.css", headers={"accept-encoding": "gzip"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == packed.headers["content-length"]
    assert head.headers["etag"] == packed.headers["etag"]


def test_pictures_are_served_as_they_are(server: ServerProcess) -> None:
    icon = next((webapp.WEB_ROOT / "icons").glob("*.png"))
    got, got_body = raw_get(server, f"/static/icons/{icon.name}", **{"accept-encoding": "gzip"})
    assert got.status_code == 200 and "content-encoding" not in got.headers
    assert got_body == icon.read_bytes()


def test_the_python_of_the_package_stays_hidden(server: ServerProcess) -> None:
    got, _ = raw_get(server, "/static/__init__.py", **{"accept-encoding": "gzip"})
    assert got.status_code == 404
