"""The Storage contract for issue 6 (server/store/base.py): presence visibility and last seen,
friends and followers, safety statuses with their history, incidents (one active at a time).

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py), like
test_storage.py; nothing here may depend on which database is behind the port. All times are
explicit ``now_ms`` values, increasing through each test unless a test says otherwise.
"""

from __future__ import annotations

import asyncio

from server.store.base import IncidentRecord, SafetyRecord, Storage, UserRecord
from tests.contract.test_storage import NOW, make_user
from tests.contract.test_storage_social import UNKNOWN_ID, make_users

MINUTE = 60_000
ALL_AUDIENCES = ("friends", "followers", "everyone")


async def stored(storage: Storage, user: UserRecord) -> UserRecord:
    found = await storage.get_user(user.id)
    assert found is not None
    return found


async def befriend(storage: Storage, a: UserRecord, b: UserRecord) -> None:
    assert await storage.follow(a.id, b.id, NOW)
    assert await storage.follow(b.id, a.id, NOW)


async def status(
    storage: Storage,
    user: UserRecord,
    now_ms: int,
    *,
    state: str = "safe",
    audience: str = "friends",
    note: str = "",
    area: str | None = None,
) -> SafetyRecord:
    return await storage.add_safety_status(
        user_id=user.id, state=state, note=note, area=area, audience=audience, now_ms=now_ms
    )


async def start(storage: Storage, title: str = "Quake", now_ms: int = NOW) -> IncidentRecord | None:
    return await storage.start_incident(title=title, area=None, started_by=None, now_ms=now_ms)


# --- presence visibility and last seen --------------------------------------------------------


async def test_presence_visibility_starts_as_friends_and_is_stored(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert (alice.presence_visibility, alice.last_seen_ms) == ("friends", None)
    assert await stored(storage, alice) == alice
    await storage.set_presence_visibility(alice.id, "nobody")
    assert (await stored(storage, alice)).presence_visibility == "nobody"
    by_handle = await storage.get_user_by_handle("ALICE")
    assert by_handle is not None and by_handle.presence_visibility == "nobody"
    found = await storage.get_users([alice.id, bob.id])
    assert (found[alice.id].presence_visibility, found[bob.id].presence_visibility) == ("nobody", "friends")
    # Nothing else of the user changed.
    assert (await stored(storage, alice)).dm_policy == "everyone"
    await storage.set_presence_visibility(alice.id, "friends")
    assert await stored(storage, alice) == alice


async def test_presence_visibility_is_seen_by_another_process(
    storage: Storage, second_storage: Storage
) -> None:
    alice = await make_user(storage, "alice")
    await storage.set_presence_visibility(alice.id, "nobody")
    await storage.record_last_seen({alice.id: NOW + MINUTE})
    found = await second_storage.get_user(alice.id)
    assert found is not None and (found.presence_visibility, found.last_seen_ms) == ("nobody", NOW + MINUTE)


async def test_record_last_seen_sets_several_users_and_only_raises(storage: Storage) -> None:
    alice, bob, carol = await make_users(storage, "alice", "bob", "carol")
    await storage.record_last_seen({alice.id: NOW + 5 * MINUTE, bob.id: NOW + 2 * MINUTE})
    found = await storage.get_users([alice.id, bob.id, carol.id])
    assert [found[u.id].last_seen_ms for u in (alice, bob, carol)] == [
        NOW + 5 * MINUTE,
        NOW + 2 * MINUTE,
        None,
    ]
    # Behind writes may arrive late: an earlier time never lowers it, an equal one changes nothing,
    # a later one raises it; in the same call. Unknown users are ignored.
    await storage.record_last_seen(
        {alice.id: NOW + 3 * MINUTE, bob.id: NOW + 9 * MINUTE, carol.id: NOW + 2 * MINUTE, UNKNOWN_ID: NOW}
    )
    found = await storage.get_users([alice.id, bob.id, carol.id])
    assert [found[u.id].last_seen_ms for u in (alice, bob, carol)] == [
        NOW + 5 * MINUTE,
        NOW + 9 * MINUTE,
        NOW + 2 * MINUTE,
    ]
    await storage.record_last_seen({alice.id: NOW + 5 * MINUTE})
    await storage.record_last_seen({})
    assert (await stored(storage, alice)).last_seen_ms == NOW + 5 * MINUTE
    assert await storage.get_user(UNKNOWN_ID) is None
    # Nothing else of the user changed.
    assert (await stored(storage, bob)).presence_visibility == "friends"
    assert (await stored(storage, bob)).handle == "bob"


# --- friends and followers --------------------------------------------------------------------


async def test_friend_ids_are_mutual_follows_only(storage: Storage) -> None:
    alice, bob, carol, dave, erin = await make_users(storage, "alice", "bob", "carol", "dave", "erin")
    assert await storage.friend_ids(alice.id) == []
    await befriend(storage, alice, bob)
    await befriend(storage, alice, erin)
    await storage.follow(alice.id, carol.id, NOW)  # alice follows carol, not back
    await storage.follow(dave.id, alice.id, NOW)  # dave follows alice, not back
    await storage.follow(bob.id, carol.id, NOW)
    assert sorted(await storage.friend_ids(alice.id)) == sorted([bob.id, erin.id])
    assert await storage.friend_ids(bob.id) == [alice.id]
    assert await storage.friend_ids(carol.id) == []
    assert await storage.friend_ids(dave.id) == []
    await storage.unfollow(bob.id, alice.id)
    assert await storage.friend_ids(alice.id) == [erin.id]
    assert await storage.friend_ids(bob.id) == []
    assert await storage.friend_ids(UNKNOWN_ID) == []


async def test_follower_ids_are_everyone_following_the_user(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    # A sign-up through alice's invite follows her.
    bob = await make_user(storage, "bob", inviter=alice)
    carol, dave = await make_users(storage, "carol", "dave")
    assert await storage.follower_ids(alice.id) == [bob.id]
    await storage.follow(carol.id, alice.id, NOW)
    await storage.follow(alice.id, carol.id, NOW)  # friends are followers too
    await storage.follow(alice.id, dave.id, NOW)  # whom alice follows is not a follower
    assert sorted(await storage.follower_ids(alice.id)) == sorted([bob.id, carol.id])
    assert await storage.follower_ids(dave.id) == [alice.id]
    assert await storage.follower_ids(bob.id) == []
    await storage.unfollow(bob.id, alice.id)
    assert await storage.follower_ids(alice.id) == [carol.id]
    assert await storage.follower_ids(UNKNOWN_ID) == []


# --- safety statuses --------------------------------------------------------------------------


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


# --- incidents --------------------------------------------------------------------------------


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
