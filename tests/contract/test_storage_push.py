"""The Storage contract of Web Push (:class:`server.store.base.PushStorage`): subscriptions bound
to live sessions, one account per endpoint, a bound per person, preferences, the queue in
priority order, and the cluster's one push lease.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py).
"""

from __future__ import annotations

import os

from server.store.base import NewPush, PushPreferences, SessionRecord, Storage, UserRecord
from tests.contract.storage_helpers import DAY, NOW, NX_BINARY, make_user

P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


async def session(storage: Storage, user: UserRecord, *, ttl_ms: int = DAY) -> SessionRecord:
    return await storage.create_session(user_id=user.id, token_hash=os.urandom(32), now_ms=NOW, ttl_ms=ttl_ms)


async def subscribe(
    storage: Storage,
    user: UserRecord,
    live: SessionRecord,
    endpoint: str,
    *,
    auth: str = AUTH,
    limit: int = 10,
) -> str | None:
    saved = await storage.save_push_subscription(
        user_id=user.id,
        session_id=live.id,
        endpoint=endpoint,
        p256dh=P256DH,
        auth=auth,
        expiration_ms=None,
        now_ms=NOW,
        limit=limit,
    )
    return saved.id if saved else None


def push(subscription_id: str, kind: str = "dm", priority: int = 2, payload: bytes = b"{}") -> NewPush:
    return NewPush(
        subscription_id=subscription_id,
        kind=kind,
        priority=priority,
        urgency="normal",
        payload=payload,
        deadline_ms=NOW + DAY,
    )


async def test_a_subscription_is_idempotent_per_endpoint_and_counts_while_its_session_lives(
    storage: Storage,
) -> None:
    alice = await make_user(storage, "alice")
    phone = await session(storage, alice)
    first = await subscribe(storage, alice, phone, "https://push.example/a")
    assert first is not None
    again = await subscribe(storage, alice, phone, "https://push.example/a", auth="AAAAAAAAAAAAAAAAAAAAAA")
    assert again == first  # the same endpoint: the same id, the new keys
    [sub] = await storage.push_subscriptions([alice.id], now_ms=NOW)
    assert (sub.id, sub.auth, sub.session_id, sub.created_ms) == (
        first,
        "AAAAAAAAAAAAAAAAAAAAAA",
        phone.id,
        NOW,
    )
    assert await storage.push_subscriptions(None, now_ms=NOW) == [sub]
    # Once the session has expired it no longer counts.
    assert await storage.push_subscriptions([alice.id], now_ms=NOW + DAY) == []


async def test_an_endpoint_belongs_to_one_account_and_a_person_has_a_bounded_number(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    a, b = await session(storage, alice), await session(storage, bob)
    first = await subscribe(storage, alice, a, "https://push.example/shared")
    moved = await subscribe(storage, bob, b, "https://push.example/shared")
    assert moved is not None and moved != first
    assert await storage.push_subscriptions([alice.id], now_ms=NOW) == []
    assert [s.user_id for s in await storage.push_subscriptions([bob.id], now_ms=NOW)] == [bob.id]
    assert await subscribe(storage, alice, a, "https://push.example/1", limit=2) is not None
    assert await subscribe(storage, alice, a, "https://push.example/2", limit=2) is not None
    assert await subscribe(storage, alice, a, "https://push.example/3", limit=2) is None
    assert await subscribe(storage, alice, a, "https://push.example/2", limit=2) is not None  # not a new one
    assert len(await storage.push_subscriptions([alice.id], now_ms=NOW)) == 2


async def test_unsubscribing_takes_only_ones_own(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    sub = await subscribe(storage, alice, await session(storage, alice), "https://push.example/a")
    assert sub is not None
    assert not await storage.delete_push_subscription(sub, user_id=bob.id)
    assert await storage.delete_push_subscription(sub, user_id=alice.id)
    assert not await storage.delete_push_subscription(sub)
    assert await storage.push_subscriptions([alice.id], now_ms=NOW) == []


async def test_revoking_a_session_or_deleting_the_account_removes_its_subscriptions(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    phone, laptop = await session(storage, alice), await session(storage, alice)
    await subscribe(storage, alice, phone, "https://push.example/phone")
    await subscribe(storage, alice, laptop, "https://push.example/laptop")
    await storage.revoke_user_session(alice.id, phone.id, NOW + 1)
    assert [s.endpoint for s in await storage.push_subscriptions([alice.id], now_ms=NOW + 1)] == [
        "https://push.example/laptop"
    ]
    # Gone, not only hidden: the same endpoint may be subscribed again without counting twice.
    assert await subscribe(storage, alice, laptop, "https://push.example/phone", limit=2) is not None
    await storage.delete_user(alice.id)
    assert await storage.push_subscriptions(None, now_ms=NOW + 1) == []


@NX_BINARY
async def test_signing_out_removes_the_sessions_subscriptions(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    token = os.urandom(32)
    phone = await storage.create_session(user_id=alice.id, token_hash=token, now_ms=NOW, ttl_ms=DAY)
    sub = await subscribe(storage, alice, phone, "https://push.example/phone")
    await storage.revoke_session(token, NOW + 1)
    assert not await storage.delete_push_subscription(sub or "")  # deleted already


async def test_preferences_default_to_everything_on_and_change_by_kind(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    assert await storage.push_preferences([alice.id, bob.id]) == {
        alice.id: PushPreferences(),
        bob.id: PushPreferences(),
    }
    now = await storage.set_push_preferences(alice.id, on={"dm": False, "mention": False}, previews=None)
    assert now == PushPreferences(off=frozenset({"dm", "mention"}), previews=False)
    now = await storage.set_push_preferences(alice.id, on={"dm": True}, previews=True)
    assert now == PushPreferences(off=frozenset({"mention"}), previews=True)
    assert (await storage.push_preferences([alice.id]))[alice.id] == now
    assert (await storage.push_preferences([bob.id]))[bob.id] == PushPreferences()


async def test_the_queue_gives_due_pushes_most_urgent_first_and_keeps_them_until_finished(
    storage: Storage,
) -> None:
    alice = await make_user(storage, "alice")
    sub = await subscribe(storage, alice, await session(storage, alice), "https://push.example/a")
    assert sub is not None
    await storage.enqueue_pushes([push(sub, "dm", 2, b'{"n":1}')], now_ms=NOW)
    await storage.enqueue_pushes(
        [push(sub, "safety", 0, b'{"n":2}'), push(sub, "announcement", 1)], now_ms=NOW + 1
    )
    assert [j.kind for j in await storage.due_pushes(now_ms=NOW, limit=10)] == ["dm"]  # each due when queued
    jobs = await storage.due_pushes(now_ms=NOW + 1, limit=10)
    assert [j.kind for j in jobs] == ["safety", "announcement", "dm"]
    assert (
        jobs[0].payload == b'{"n":2}' and jobs[0].subscription is not None and jobs[0].subscription.id == sub
    )
    assert (jobs[2].attempts, jobs[2].due_ms, jobs[2].deadline_ms) == (0, NOW, NOW + DAY)
    assert await storage.count_pushes() == 3
    # A retry waits until it is due again.
    await storage.retry_push(jobs[0].id, due_ms=NOW + 5000, attempts=1)
    assert [j.kind for j in await storage.due_pushes(now_ms=NOW + 4999, limit=10)] == ["announcement", "dm"]
    [later] = [j for j in await storage.due_pushes(now_ms=NOW + 5000, limit=1)]
    assert (later.kind, later.attempts) == ("safety", 1)
    await storage.finish_push(later.id)
    assert await storage.count_pushes() == 2
    # A push whose subscription is gone is read without one, for the sender to drop.
    await storage.delete_push_subscription(sub)
    assert [j.subscription for j in await storage.due_pushes(now_ms=NOW + 5000, limit=10)] == [None, None]


async def test_one_node_holds_the_push_lease_until_it_runs_out(storage: Storage) -> None:
    assert await storage.claim_push_lease("node-a", now_ms=NOW, lease_ms=1000)
    assert not await storage.claim_push_lease("node-b", now_ms=NOW + 999, lease_ms=1000)
    assert await storage.claim_push_lease("node-a", now_ms=NOW + 500, lease_ms=1000)  # renewed
    assert not await storage.claim_push_lease("node-b", now_ms=NOW + 1499, lease_ms=1000)
    assert await storage.claim_push_lease("node-b", now_ms=NOW + 1500, lease_ms=1000)
    assert not await storage.claim_push_lease("node-a", now_ms=NOW + 1600, lease_ms=1000)
