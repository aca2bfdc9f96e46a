"""The Storage contract of the safety area (:class:`server.store.base.SafetyStorage`): safety
statuses with their history by audience, and incidents, one active at a time (under concurrency and
across processes).

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio

from server.store.base import (
    IncidentRecord,
    PageRecord,
    SafetyRecord,
    Storage,
)
from tests.contract.storage_helpers import (
    ALL_AUDIENCES,
    NOW,
    UNKNOWN_ID,
    make_user,
    make_users,
    start,
    status,
)


async def test_safety_status_round_trip(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    made = await status(
        storage, alice, NOW, state="need_help", audience="followers", note="trapped", area="Block 4"
    )
    assert (made.user_id, made.state, made.note, made.area, made.audience, made.created_ms) == (
        alice.id,
        "need_help",
        "trapped",
        "Block 4",
        "followers",
        NOW,
    )
    assert made.id
    assert await storage.latest_safety([alice.id]) == {alice.id: made}
    assert await storage.safety_history(alice.id, audiences=ALL_AUDIENCES, before=None, limit=10) == [made]
    plain = await status(storage, alice, NOW + 1, state="evacuating", audience="everyone")
    assert (plain.note, plain.area) == ("", None)
    assert plain.id > made.id
    assert await storage.latest_safety([alice.id]) == {alice.id: plain}


async def test_latest_safety_is_each_users_newest_of_any_audience(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    assert await storage.latest_safety([alice.id, bob.id]) == {}
    await status(storage, alice, NOW, state="need_help", audience="everyone")
    await status(storage, bob, NOW + 1, state="need_help", audience="friends")
    await status(storage, alice, NOW + 2, state="evacuating", audience="followers")
    alices = await status(storage, alice, NOW + 3, state="safe", audience="friends")
    # Made in the same millisecond: the later made is the newer (ties by id).
    await status(storage, bob, NOW + 4, state="evacuating", audience="everyone")
    bobs = await status(storage, bob, NOW + 4, state="safe", audience="followers")
    assert await storage.latest_safety([alice.id, bob.id, carol.id, UNKNOWN_ID, alice.id]) == {
        alice.id: alices,
        bob.id: bobs,
    }
    assert await storage.latest_safety([bob.id]) == {bob.id: bobs}
    assert await storage.latest_safety([carol.id]) == {}
    assert await storage.latest_safety([]) == {}


async def test_safety_history_by_audience_newest_first_in_pages(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    audiences = ["friends", "everyone", "followers", "friends", "everyone", "followers", "everyone"]
    made = [await status(storage, alice, NOW + n, audience=a) for n, a in enumerate(audiences)]
    await status(storage, bob, NOW + 100, audience="everyone")
    newest_first = list(reversed(made))

    def of(*wanted: str) -> list[SafetyRecord]:
        return [s for s in newest_first if s.audience in wanted]

    async def history(*wanted: str, before: str | None = None, limit: int = 100) -> list[SafetyRecord]:
        return await storage.safety_history(alice.id, audiences=wanted, before=before, limit=limit)

    assert await history(*ALL_AUDIENCES) == newest_first
    assert await history("followers", "everyone") == of("followers", "everyone")
    assert await history("everyone") == of("everyone")
    assert await history("friends") == of("friends")
    # Paging: ids < before, at most limit.
    visible = of("followers", "everyone")
    first = await history("followers", "everyone", limit=2)
    assert first == visible[:2]
    second = await history("followers", "everyone", before=first[-1].id, limit=2)
    assert second == visible[2:4]
    rest = await history("followers", "everyone", before=second[-1].id, limit=10)
    assert rest == visible[4:]
    assert await history("followers", "everyone", before=rest[-1].id, limit=10) == []
    # ``before`` need not be one of the shown statuses.
    assert await history("everyone", before=made[3].id) == [made[1]]
    assert await storage.safety_history(bob.id, audiences=("friends",), before=None, limit=10) == []
    assert await storage.safety_history(UNKNOWN_ID, audiences=ALL_AUDIENCES, before=None, limit=10) == []


async def test_one_incident_at_a_time_and_its_lifecycle(storage: Storage) -> None:
    operator = await make_user(storage, "operator")
    assert await storage.active_incident() is None
    assert await storage.end_incident(NOW) is None
    quake = await storage.start_incident(title="Quake", area="Kanto", started_by=operator.id, now_ms=NOW)
    assert quake is not None
    assert (quake.title, quake.area, quake.started_by, quake.started_ms, quake.ended_ms) == (
        "Quake",
        "Kanto",
        operator.id,
        NOW,
        None,
    )
    assert await storage.active_incident() == quake
    assert await storage.get_incident(quake.id) == quake
    # While one is active, another does not start, and nothing changes.
    assert await storage.start_incident(title="Flood", area=None, started_by=None, now_ms=NOW + 1) is None
    assert await storage.active_incident() == quake
    ended = await storage.end_incident(NOW + 2)
    assert ended is not None
    assert ended == IncidentRecord(quake.id, "Quake", "Kanto", operator.id, NOW, NOW + 2)
    assert await storage.active_incident() is None
    assert await storage.end_incident(NOW + 3) is None
    assert await storage.get_incident(quake.id) == ended
    # A new one may start once the last has ended; the old one stays ended.
    flood = await storage.start_incident(title="Flood", area=None, started_by=None, now_ms=NOW + 4)
    assert flood is not None and flood.id != quake.id
    assert (flood.title, flood.area, flood.started_by, flood.ended_ms) == ("Flood", None, None, None)
    assert await storage.active_incident() == flood
    assert await storage.get_incident(quake.id) == ended
    assert await storage.get_incident(flood.id) == flood
    assert await storage.get_incident(UNKNOWN_ID) is None


async def test_concurrent_starts_start_one_incident(storage: Storage) -> None:
    results = await asyncio.gather(start(storage, "first", NOW), start(storage, "second", NOW))
    started = [r for r in results if r is not None]
    assert len(started) == 1
    assert await storage.active_incident() == started[0]
    more = await asyncio.gather(*(start(storage, f"again {n}", NOW + 1) for n in range(6)))
    assert more == [None] * 6
    assert await storage.active_incident() == started[0]


async def test_starts_from_two_processes_start_one_incident(
    storage: Storage, second_storage: Storage
) -> None:
    stores = (storage, second_storage)
    results = await asyncio.gather(*(start(stores[n % 2], f"incident {n}", NOW + n) for n in range(8)))
    started = [r for r in results if r is not None]
    assert len(started) == 1
    assert await storage.active_incident() == started[0]
    assert await second_storage.active_incident() == started[0]
    # Ended by one process, it is over for the other, which may start the next.
    ends = await asyncio.gather(storage.end_incident(NOW + 10), second_storage.end_incident(NOW + 10))
    assert [e for e in ends if e is not None] == [
        IncidentRecord(started[0].id, started[0].title, None, None, started[0].started_ms, NOW + 10)
    ]
    assert await storage.active_incident() is None
    assert await second_storage.active_incident() is None
    after = await asyncio.gather(start(second_storage, "next", NOW + 11), start(storage, "next", NOW + 11))
    assert len([r for r in after if r is not None]) == 1


async def test_an_operator_page_is_written_replaced_and_cleared(
    storage: Storage, second_storage: Storage
) -> None:
    """The "during a disaster" page (PROTOCOL.md 11.15): one per name, the last write wins, and
    another process reads what one wrote; clearing leaves none (the built-in page is shown)."""
    assert await storage.get_page("disaster") is None
    assert await storage.delete_page("disaster") is False
    text = "# 災害のときは\n\n- [web171](https://www.web171.jp/)\n"
    written = await storage.set_page("disaster", text, NOW)
    assert written == PageRecord("disaster", text, NOW)
    assert await second_storage.get_page("disaster") == written
    replaced = await second_storage.set_page("disaster", "更新しました", NOW + 5)
    assert await storage.get_page("disaster") == replaced == PageRecord("disaster", "更新しました", NOW + 5)
    assert await storage.get_page("terms") is None  # pages are by name
    assert await storage.delete_page("disaster") is True
    assert await second_storage.get_page("disaster") is None
    assert await storage.delete_page("disaster") is False
