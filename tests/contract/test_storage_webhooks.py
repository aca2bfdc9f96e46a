"""The Storage contract of the webhooks area (:class:`server.store.base.WebhookStorage`): a bot's
webhook and its delivery cursors, leases that one node holds at a time, and the server's keys.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio

from server.store.base import Storage
from tests.contract.storage_helpers import LATER, LATEST, NOW, NX_SET_ON_INSERT, START, make_user


@NX_SET_ON_INSERT
async def test_a_webhook_is_registered_read_repointed_and_deleted(storage: Storage) -> None:
    bot = await make_user(storage, "bot")
    assert await storage.get_webhook(bot.id) is None
    hook = await storage.set_webhook(bot.id, "https://a.example/hook", start=START, now_ms=NOW)
    assert hook.url == "https://a.example/hook" and hook.created_ms == NOW
    assert hook.cursors == {"following": START, "direct": START, "notifications": START}
    assert (hook.failures, hook.last_error, hook.lease_owner) == (0, None, None)
    assert await storage.get_webhook(bot.id) == hook
    # Re-pointing keeps the cursors (whatever was accepted is still delivered) and creation time.
    [_] = await storage.claim_webhooks("node-a", now_ms=NOW, lease_ms=1000)
    assert await storage.save_webhook_progress(
        bot.id, "node-a", cursors={"direct": LATER}, failures=3, last_error="HTTP 500"
    )
    moved = await storage.set_webhook(bot.id, "https://b.example/hook", start=LATEST, now_ms=NOW + 5)
    assert moved.url == "https://b.example/hook" and moved.created_ms == NOW
    assert moved.cursors == {"following": START, "direct": LATER, "notifications": START}
    assert (moved.failures, moved.last_error) == (0, None)  # a new URL starts with a clean slate
    assert await storage.delete_webhook(bot.id)
    assert not await storage.delete_webhook(bot.id)
    assert await storage.get_webhook(bot.id) is None
    fresh = await storage.set_webhook(bot.id, "https://a.example/hook", start=LATEST, now_ms=NOW + 9)
    assert fresh.cursors == dict.fromkeys(("following", "direct", "notifications"), LATEST)


@NX_SET_ON_INSERT
async def test_a_lease_is_held_by_one_owner_until_it_expires(storage: Storage) -> None:
    one, two = await make_user(storage, "one"), await make_user(storage, "two")
    for bot in (one, two):
        await storage.set_webhook(bot.id, "https://a.example/hook", start=START, now_ms=NOW)
    held = await storage.claim_webhooks("node-a", now_ms=NOW, lease_ms=1000)
    assert [h.user_id for h in held] == sorted([one.id, two.id])
    assert all(h.lease_owner == "node-a" and h.lease_until_ms == NOW + 1000 for h in held)
    assert await storage.claim_webhooks("node-b", now_ms=NOW + 999, lease_ms=1000) == []
    # The holder renews; the other takes over only once the lease has run out.
    assert len(await storage.claim_webhooks("node-a", now_ms=NOW + 500, lease_ms=1000)) == 2
    assert await storage.claim_webhooks("node-b", now_ms=NOW + 1499, lease_ms=1000) == []
    taken = await storage.claim_webhooks("node-b", now_ms=NOW + 1500, lease_ms=1000)
    assert {h.lease_owner for h in taken} == {"node-b"} and len(taken) == 2
    # The old holder's progress no longer counts.
    assert not await storage.save_webhook_progress(
        one.id, "node-a", cursors={"following": LATER}, failures=0, last_error=None
    )
    assert (await storage.get_webhook(one.id)).cursors["following"] == START  # type: ignore[union-attr]


@NX_SET_ON_INSERT
async def test_concurrent_claims_never_share_a_webhook(storage: Storage) -> None:
    bots = [await make_user(storage, f"bot{n}") for n in range(6)]
    for bot in bots:
        await storage.set_webhook(bot.id, "https://a.example/hook", start=START, now_ms=NOW)
    claims = await asyncio.gather(
        *(storage.claim_webhooks(f"node-{n}", now_ms=NOW, lease_ms=60_000) for n in range(4))
    )
    claimed = [hook.user_id for held in claims for hook in held]
    assert sorted(claimed) == sorted(bot.id for bot in bots)  # each exactly once


@NX_SET_ON_INSERT
async def test_progress_only_moves_cursors_forward(storage: Storage) -> None:
    bot = await make_user(storage, "bot")
    await storage.set_webhook(bot.id, "https://a.example/hook", start=START, now_ms=NOW)
    await storage.claim_webhooks("node-a", now_ms=NOW, lease_ms=1000)
    assert await storage.save_webhook_progress(
        bot.id, "node-a", cursors={"following": LATEST, "notifications": LATER}, failures=0, last_error=None
    )
    assert await storage.save_webhook_progress(
        bot.id, "node-a", cursors={"following": LATER}, failures=2, last_error="timed out"
    )
    hook = await storage.get_webhook(bot.id)
    assert hook is not None
    assert hook.cursors == {"following": LATEST, "direct": START, "notifications": LATER}
    assert (hook.failures, hook.last_error) == (2, "timed out")


async def test_a_server_key_is_the_first_writers(storage: Storage) -> None:
    first = await storage.server_key("webhook-signing", b"\x01" * 32)
    assert first == b"\x01" * 32
    assert await storage.server_key("webhook-signing", b"\x02" * 32) == first
    assert await storage.server_key("other", b"\x03") == b"\x03"
    racing = await asyncio.gather(*(storage.server_key("raced", bytes([n]) * 4) for n in range(5)))
    assert len(set(racing)) == 1
