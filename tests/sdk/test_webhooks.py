"""Webhooks from the SDK's side: register with the HTTP helpers, verify and decode deliveries."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from protocol import messages as m
from protocol.sdk import (
    codes,
    decode_delivery,
    delete_webhook,
    get_webhook,
    login,
    set_webhook,
    verify_webhook,
    webhook_public_key,
)
from protocol.webhooks import WebhookVerificationError, encode_public_key, generate_private_key, sign
from tests.support.client import Client, Users
from tests.support.server import ServerProcess
from tests.support.webhooks import receiving

#: Loopback destinations, quick polls, and a short lease (a new webhook is claimed every third of it).
WEBHOOK_ENV = {
    "TSUDOI_WEBHOOK_ALLOWED": "127.0.0.0/8",
    "TSUDOI_WEBHOOK_POLL_MS": "50",
    "TSUDOI_WEBHOOK_LEASE_MS": "900",
}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("hooked"), WEBHOOK_ENV).start()
    yield process
    process.stop()


async def test_a_bot_registers_a_webhook_and_verifies_typed_deliveries(hooked: ServerProcess) -> None:
    users = Users(hooked)
    try:
        bot, person = await users.bot(), await users.new("writer")
        key = await webhook_public_key(hooked.url)
        assert key.algorithm == "ed25519"
        async with receiving(key.public_key) as receiver:
            info = await set_webhook(hooked.url, bot.token, receiver.url)
            assert info.url == receiver.url and info.public_key == key.public_key
            client = await Client.login(hooked, person.token)
            conversation = (await client.call("dm.open", user_ids=[bot.id]))["conversation"]["id"]
            await client.call("dm.send", conversation_id=conversation, text="webhook で届く？")
            deliveries = await receiver.wait_for(2)  # the server's "created" line, then the text
            events = [decode_delivery(d) for d in deliveries]
            assert all(isinstance(e, m.DmMessageEvent) for e in events)
            texts = [
                e.message.text for e in events if isinstance(e, m.DmMessageEvent) and e.message.kind == "text"
            ]
            assert texts == ["webhook で届く？"]
            assert (await get_webhook(hooked.url, bot.token)).failures == 0
            assert (await delete_webhook(hooked.url, bot.token)).url is None
        assert (await get_webhook(hooked.url, bot.token)).url is None
        with pytest.raises(codes.NotABotError):
            await set_webhook(hooked.url, person.token, "http://127.0.0.1:9/hook")
        with pytest.raises(codes.NotAuthenticatedError):
            await get_webhook(hooked.url, "tsd_nobody")
    finally:
        await users.close()


def test_the_verifier_refuses_anything_not_signed_now_by_the_server() -> None:
    key = generate_private_key()
    public = encode_public_key(key.public_key())
    body = b'{"id":"direct:01M7Z3MWDW88G9C4QTT0N7GYSQ","stream":"direct","event":{"type":"x.y","data":{}}}'
    headers = sign(key, body, now=1_800_000_000)
    delivery = verify_webhook(public, headers, body, now=1_800_000_010)
    assert delivery.id.startswith("direct:") and decode_delivery(delivery) is None  # unknown type
    with pytest.raises(WebhookVerificationError):
        verify_webhook(public, headers, body.replace(b"x.y", b"x.z"), now=1_800_000_010)
    with pytest.raises(WebhookVerificationError):  # replayed an hour later
        verify_webhook(public, headers, body, now=1_800_003_600)


async def test_http_errors_raise_the_same_exception_classes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/login":
            body = {
                "error": {
                    "code": "rate_limited",
                    "message": "slow down",
                    "path": None,
                    "retry_after_ms": 1500,
                }
            }
            return httpx.Response(429, json=body)
        if request.headers.get("authorization") == "Bearer tsd_bot":
            body = {"error": {"code": "webhook_not_allowed", "message": "not https", "path": "$.url"}}
            return httpx.Response(422, json=body)
        return httpx.Response(502, text="bad gateway")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(codes.RateLimitedError) as limited:
            await login("https://tsudoi.example", "someone", "password-long", http=http)
        assert limited.value.retry_after_ms == 1500
        with pytest.raises(codes.WebhookNotAllowedError) as refused:
            await set_webhook("wss://tsudoi.example/ws", "tsd_bot", "http://example.com/hook", http=http)
        assert refused.value.path == "$.url"
        with pytest.raises(Exception, match="HTTP 502"):
            await webhook_public_key("https://tsudoi.example", http=http)
