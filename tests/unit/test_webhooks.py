"""Webhook signatures (protocol.webhooks), the destination allow-list and the delivery body,
without a network: literal addresses need no resolver."""

from __future__ import annotations

import pytest

from protocol.codec import decode_event_data, event_tail
from protocol.messages import Incident, IncidentStartedEvent
from protocol.webhooks import (
    WebhookVerificationError,
    encode_public_key,
    generate_private_key,
    sign,
    verify,
)
from server.config import ConfigError
from server.webhooks.destinations import Destinations, NotAllowed
from server.webhooks.dispatcher import delivery_body, retry_delay_ms

NOW = 1_795_000_000
BODY = b'{"id":"direct:01M7Z3MWDW88G9C4QTT0N7GYSQ","stream":"direct","event":{"type":"x"}}'


def test_a_signed_body_verifies_and_any_change_breaks_it() -> None:
    key = generate_private_key()
    public = encode_public_key(key.public_key())
    headers = sign(key, BODY, now=NOW)
    delivery = verify(public, headers, BODY, now=NOW + 10)
    assert delivery.id.startswith("direct:") and delivery.event == {"type": "x"}
    assert verify(public, {k.upper(): v for k, v in headers.items()}, BODY, now=NOW).id == delivery.id
    tampered = [
        (headers, BODY.replace(b"direct:", b"follow:")),  # the body
        ({**headers, "Tsudoi-Timestamp": str(NOW + 1)}, BODY),  # the timestamp is signed too
        ({**headers, "Tsudoi-Signature": "v1=" + "A" * 86}, BODY),
        ({**headers, "Tsudoi-Signature": "v2=" + headers["Tsudoi-Signature"][3:]}, BODY),
        ({"Tsudoi-Signature": headers["Tsudoi-Signature"]}, BODY),  # no timestamp
    ]
    for changed_headers, changed_body in tampered:
        with pytest.raises(WebhookVerificationError):
            verify(public, changed_headers, changed_body, now=NOW)
    other = encode_public_key(generate_private_key().public_key())
    with pytest.raises(WebhookVerificationError, match="no valid signature"):
        verify(other, headers, BODY, now=NOW)


def test_an_old_or_future_delivery_is_refused_as_a_replay() -> None:
    key = generate_private_key()
    public = encode_public_key(key.public_key())
    headers = sign(key, BODY, now=NOW)
    verify(public, headers, BODY, now=NOW + 300)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify(public, headers, BODY, now=now)


def test_one_valid_signature_among_several_is_enough_for_key_rotation() -> None:
    old, new = generate_private_key(), generate_private_key()
    both = f"{sign(old, BODY, now=NOW)['Tsudoi-Signature']},{sign(new, BODY, now=NOW)['Tsudoi-Signature']}"
    headers = {"Tsudoi-Timestamp": str(NOW), "Tsudoi-Signature": both}
    for key in (old, new):
        verify(encode_public_key(key.public_key()), headers, BODY, now=NOW)


def test_the_delivery_body_wraps_the_event_as_clients_receive_it() -> None:
    data = IncidentStartedEvent(
        incident=Incident(
            id="01M7Z5Q0MRT9NS5SEZX35HGNFY",
            title="地震",
            area=None,
            started_at="2026-11-21T13:46:12.504Z",
            ended_at=None,
        )
    )
    key = generate_private_key()
    body = delivery_body("notifications", "01M7Z3MWDW88G9C4QTT0N7GYSQ", event_tail(data))
    delivery = verify(encode_public_key(key.public_key()), sign(key, body, now=NOW), body, now=NOW)
    assert delivery.id == "notifications:01M7Z3MWDW88G9C4QTT0N7GYSQ"
    assert decode_event_data(delivery.event["type"], delivery.event["data"]) == data


def test_retries_back_off_from_a_second_to_the_maximum_with_jitter() -> None:
    for failures, expected in [(1, 1000), (2, 2000), (3, 4000), (12, 300_000), (500, 300_000)]:
        delay = retry_delay_ms(failures, 300_000)
        assert 0.8 * expected <= delay <= expected


@pytest.mark.parametrize(
    ("allowed", "url", "why"),
    [
        ((), "https://93.184.215.14/", "allows no webhook destinations"),
        (("*",), "https://10.1.2.3/hook", "not on this server's list"),
        (("*",), "https://[::1]/hook", "not on this server's list"),
        (("*",), "https://169.254.169.254/latest", "not on this server's list"),
        (("*",), "http://93.184.215.14/hook", "only for loopback"),
        (("*",), "https://user:pw@93.184.215.14/", "user name or password"),
        (("*",), "https://93.184.215.14/#frag", "fragment"),
        (("*",), "gopher://93.184.215.14/", "https://"),
        (("*",), "https:///nohost", "https://"),
        (("*",), "https://93.184.215.14:99999/", "not a URL"),
        (("10.0.0.0/8",), "https://10.1.2.3:8443/hook", None),
        (("10.0.0.0/8",), "https://10.1.2.3.nip.invalid/hook", "not on this server's list"),
        (("127.0.0.0/8",), "http://127.0.0.1:9000/hook", None),
        (("127.0.0.0/8",), "http://[::ffff:127.0.0.1]:9000/hook", None),
        (("*",), "https://93.184.215.14/hook", None),
        (("hooks.example.com",), "https://93.184.215.14/hook", "not on this server's list"),
    ],
)
async def test_destinations_follow_the_allow_list(
    allowed: tuple[str, ...], url: str, why: str | None
) -> None:
    destinations = Destinations(allowed)
    if why is None:
        await destinations.check(url)
    else:
        with pytest.raises(NotAllowed, match=why.replace("(", r"\(")):
            await destinations.check(url)


def test_a_malformed_range_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="TSUDOI_WEBHOOK_ALLOWED"):
        Destinations(("10.0.0.0/33",))
