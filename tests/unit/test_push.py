"""Web Push's pure parts (server/push/): endpoint checks, Retry-After, encryption and VAPID,
each against what a browser and a push service would do (tests/support/push.py)."""

from __future__ import annotations

import email.utils

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.errors import ProtocolError
from server.push import Vapid, check_endpoint, check_keys, encrypt, endpoint_origin
from server.push.sender import retry_after_ms
from tests.support.push import Browser, vapid_claims

NOW_MS = 1_800_000_000_000


@pytest.mark.parametrize(
    ("endpoint", "loopback", "allowed"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", False, True),
        ("https://web.push.apple.com/QGx", False, True),
        ("http://fcm.googleapis.com/fcm/send/abc", False, False),  # plain http
        ("https://127.0.0.1/x", False, False),  # loopback, not allowed here
        ("https://localhost/x", False, False),
        ("http://127.0.0.1:9000/x", True, True),  # the tests' setting
        ("http://10.0.0.1/x", True, False),  # http beyond loopback, even then
        ("https://192.168.1.10/x", True, False),  # a private address
        ("https://user:pw@push.example/x", False, False),
        ("ftp://push.example/x", False, False),
        ("https://push.example:99999/x", False, False),  # a port out of range
    ],
)
def test_endpoints_are_checked_by_their_text(endpoint: str, loopback: bool, allowed: bool) -> None:
    if allowed:
        check_endpoint(endpoint, allow_loopback=loopback)
    else:
        with pytest.raises(ProtocolError) as refused:
            check_endpoint(endpoint, allow_loopback=loopback)
        assert refused.value.code == "push_endpoint_not_allowed"


def test_keys_must_be_a_p256_point_and_a_16_byte_secret() -> None:
    keys = Browser("https://push.example/x").subscription()["keys"]
    check_keys(keys["p256dh"], keys["auth"])
    for p256dh, auth in ((keys["p256dh"][:-4], keys["auth"]), (keys["p256dh"], keys["auth"] + "AA")):
        with pytest.raises(ProtocolError):
            check_keys(p256dh, auth)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_ms("120", NOW_MS) == 120_000
    date = email.utils.formatdate((NOW_MS + 30_000) / 1000, usegmt=True)
    assert retry_after_ms(date, NOW_MS) == 30_000
    assert retry_after_ms(None, NOW_MS) is None
    assert retry_after_ms("soon", NOW_MS) is None


def test_a_payload_is_read_only_with_the_subscriptions_keys() -> None:
    browser, stranger = Browser("https://push.example/a"), Browser("https://push.example/b")
    keys = browser.subscription()["keys"]
    body = encrypt(b'{"v":1}', keys["p256dh"], keys["auth"])
    assert browser.decrypt(body) == {"v": 1}
    with pytest.raises(Exception):  # noqa: B017 (http_ece raises its own, or InvalidTag)
        stranger.decrypt(body)
    assert encrypt(b'{"v":1}', keys["p256dh"], keys["auth"]) != body  # a fresh key and salt each time


def test_vapid_signs_for_the_push_services_origin() -> None:
    vapid = Vapid(ec.generate_private_key(ec.SECP256R1()), "mailto:ops@tsudoi.example")
    headers = vapid.headers("https://fcm.googleapis.com/fcm/send/abc?x=1", now_s=1_800_000_000)
    claims, key = vapid_claims(headers["Authorization"])
    assert key == vapid.public_key
    assert claims == {
        "aud": "https://fcm.googleapis.com",
        "exp": 1_800_000_000 + 12 * 3600,
        "sub": "mailto:ops@tsudoi.example",
    }
    assert endpoint_origin("http://127.0.0.1:9000/push/x") == "http://127.0.0.1:9000"
