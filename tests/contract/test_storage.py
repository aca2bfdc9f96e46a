"""The Storage contract (server/store/base.py), run against every adapter.

Written once, parametrised over adapters by the ``storage`` fixture: nothing here may depend on
which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from server.metrics import Metrics
from server.store.base import (
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    NewUser,
    PostRecord,
    Storage,
    UserRecord,
)
from server.store.sqlite import SqliteStorage
from server.store.timed import timed_storage
from tests.support.mongo import MongoBackend, expect_stand_in_divergence, storage_class

NOW = 1_800_000_000_000
DAY = 24 * 3600_000
WEEK = 7 * DAY
SMALLEST_ID = "0" * 26

# Where the nx-27017 stand-in diverges from MongoDB (each reproduced with plain pymongo in
# tests/support/mongo.py). Marked tests are expected to fail on nx-27017 only, see tests/support/mongo.py.
NX_ID_INDEX = pytest.mark.nx27017_diverges(
    "with a compound index that includes _id (posts by (author_id, _id)) every insert into the "
    "collection fails with 'JSON path error near _id'"
)
NX_SET_ON_INSERT = pytest.mark.nx27017_diverges(
    "find_one_and_update with upsert=True inserts without the fields of $setOnInsert"
)
NX_BINARY = pytest.mark.nx27017_diverges("an equality filter on a binary (bytes) field finds nothing")
NX_ARRAY = pytest.mark.nx27017_diverges(
    "$push stores a subdocument as a JSON string, and {'array.N': {$exists: False}} matches "
    "whatever the array's length (the conditional push of the invite quota)"
)


#: How the ``storage`` fixture opens one more adapter on the same database (another process).
REOPEN = pytest.StashKey[Callable[[], Awaitable[Storage]]]()


@pytest.fixture(params=["sqlite", "mongo", "sqlite-timed"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    reopen: Callable[[], Awaitable[Storage]]
    backend: MongoBackend | None = None
    database = ""
    if request.param == "sqlite":
        path = tmp_path / "db.sqlite3"

        def reopen() -> Awaitable[Storage]:
            return SqliteStorage.open(path)

    elif request.param == "sqlite-timed":  # the metrics proxy the server puts around its adapter
        path = tmp_path / "db.sqlite3"

        async def reopen() -> Storage:
            return timed_storage(await SqliteStorage.open(path), Metrics().storage_latency)

    elif request.param == "mongo":
        backend = request.getfixturevalue("mongo_backend")
        expect_stand_in_divergence(request, backend)
        url, database = backend.url, backend.new_database()  # a fresh database per test
        adapter = storage_class(backend)  # without the ordering indexes on the stand-in

        def reopen() -> Awaitable[Storage]:
            return adapter.open(url, database=database)

    else:  # pragma: no cover - every param is opened above
        raise AssertionError(f"no adapter {request.param!r}")
    request.node.stash[REOPEN] = reopen
    store = await reopen()
    try:
        yield store
    finally:
        await store.close()
        if backend is not None:
            await backend.drop_database(database)


@pytest.fixture
async def second_storage(storage: Storage, request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """Another adapter on the storage fixture's database, as another server process has."""
    other = await request.node.stash[REOPEN]()
    try:
        yield other
    finally:
        await other.close()


def new_user(handle: str, display_name: str | None = None) -> NewUser:
    return NewUser(
        handle=handle,
        display_name=display_name or handle.title(),
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        birth_date="1990-01-01",
    )


async def bootstrap_invite(storage: Storage, now_ms: int = NOW, **kwargs: bool) -> InviteRecord:
    return await storage.create_invite(inviter_id=None, now_ms=now_ms, ttl_ms=WEEK, max_unused=None, **kwargs)


async def make_user(
    storage: Storage, handle: str, *, inviter: UserRecord | None = None, now_ms: int = NOW
) -> UserRecord:
    """A user through a fresh invite: a bootstrap one (no follow) unless ``inviter`` is given."""
    invite = await storage.create_invite(
        inviter_id=inviter.id if inviter else None, now_ms=now_ms, ttl_ms=WEEK, max_unused=None
    )
    return await storage.create_user(new_user(handle), invite_code=invite.code, now_ms=now_ms)


async def post(storage: Storage, author: UserRecord, text: str, now_ms: int = NOW) -> PostRecord:
    return await storage.create_post(
        author_id=author.id, text=text, emotext=None, reply_to=None, now_ms=now_ms
    )


# --- users and invites ---------------------------------------------------------------------


async def test_ping_answers(storage: Storage) -> None:
    await storage.ping()


async def test_bootstrap_invite_and_first_user(storage: Storage) -> None:
    assert await storage.count_users() == 0
    invite = await bootstrap_invite(storage, grants_operator=True)
    assert invite.inviter_id is None
    assert (invite.created_ms, invite.expires_ms) == (NOW, NOW + WEEK)
    assert (invite.used_by, invite.used_ms) == (None, None)
    assert invite.grants_operator is True
    assert await storage.get_invite(invite.code) == invite

    root = await storage.create_user(new_user("root", "管理人"), invite_code=invite.code, now_ms=NOW + 5)
    assert root.handle == "root"
    assert root.display_name == "管理人"
    assert root.birth_date == "1990-01-01"
    assert root.created_ms == NOW + 5
    assert root.invited_by is None
    assert root.operator is True
    assert (root.verified, root.bot) == (False, False)
    assert len(root.id) == 26
    assert await storage.count_users() == 1
    assert await storage.get_user(root.id) == root
    assert await storage.followee_ids(root.id) == []

    used = await storage.get_invite(invite.code)
    assert used is not None
    assert (used.used_by, used.used_ms) == (root.id, NOW + 5)


async def test_newcomer_follows_the_inviter(storage: Storage) -> None:
    root = await make_user(storage, "root")
    invite = await storage.create_invite(inviter_id=root.id, now_ms=NOW + 1, ttl_ms=WEEK, max_unused=5)
    assert invite.inviter_id == root.id
    assert invite.grants_operator is False

    newcomer = await storage.create_user(new_user("newcomer"), invite_code=invite.code, now_ms=NOW + 2)
    assert newcomer.invited_by == root.id
    assert newcomer.operator is False
    assert await storage.followee_ids(newcomer.id) == [root.id]
    assert await storage.follow_state(newcomer.id, root.id) == (True, False)
    assert await storage.follow_counts(root.id) == (1, 0)
    assert await storage.follow_counts(newcomer.id) == (0, 1)
    used = await storage.get_invite(invite.code)
    assert used is not None
    assert (used.used_by, used.used_ms) == (newcomer.id, NOW + 2)


async def test_operator_flag_comes_only_from_the_invite(storage: Storage) -> None:
    plain = await make_user(storage, "plain")
    assert plain.operator is False
    invite = await bootstrap_invite(storage, grants_operator=True)
    op = await storage.create_user(new_user("op"), invite_code=invite.code, now_ms=NOW)
    assert op.operator is True
    stored = await storage.get_user(op.id)
    assert stored is not None and stored.operator is True


async def test_lookup_by_handle_ignores_case(storage: Storage) -> None:
    alice = await make_user(storage, "Alice")
    assert await storage.get_user_by_handle("alice") == alice
    assert await storage.get_user_by_handle("ALICE") == alice
    assert alice.handle == "Alice"  # stored as typed
    assert await storage.get_user_by_handle("bob") is None
    assert await storage.get_user("01JD0M7Q5W3K4T9V2X8Y6Z1ABC") is None


async def test_create_user_with_unknown_invite_is_refused(storage: Storage) -> None:
    await make_user(storage, "root")
    with pytest.raises(InviteNotFound):
        await storage.create_user(new_user("ghost"), invite_code="no-such-code", now_ms=NOW)
    assert await storage.count_users() == 1
    assert await storage.get_user_by_handle("ghost") is None


async def test_create_user_with_used_invite_is_refused_and_writes_nothing(storage: Storage) -> None:
    invite = await bootstrap_invite(storage)
    first = await storage.create_user(new_user("first"), invite_code=invite.code, now_ms=NOW)
    with pytest.raises(InviteUsed):
        await storage.create_user(new_user("second"), invite_code=invite.code, now_ms=NOW + 1)
    assert await storage.count_users() == 1
    assert await storage.get_user_by_handle("second") is None
    still = await storage.get_invite(invite.code)
    assert still is not None
    assert (still.used_by, still.used_ms) == (first.id, NOW)


async def test_create_user_with_expired_invite_is_refused_and_writes_nothing(storage: Storage) -> None:
    root = await make_user(storage, "root")
    invite = await storage.create_invite(inviter_id=root.id, now_ms=NOW, ttl_ms=DAY, max_unused=5)
    with pytest.raises(InviteExpired):
        await storage.create_user(new_user("late"), invite_code=invite.code, now_ms=NOW + DAY + 1)
    assert await storage.count_users() == 1
    assert await storage.get_user_by_handle("late") is None
    assert await storage.follow_counts(root.id) == (0, 0)
    unused = await storage.get_invite(invite.code)
    assert unused is not None
    assert (unused.used_by, unused.used_ms) == (None, None)


async def test_invite_works_until_it_expires(storage: Storage) -> None:
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=DAY, max_unused=None)
    user = await storage.create_user(new_user("justintime"), invite_code=invite.code, now_ms=NOW + DAY - 1)
    assert user.created_ms == NOW + DAY - 1


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice", "aLiCe"])
async def test_handle_taken_regardless_of_case_and_nothing_written(storage: Storage, taken: str) -> None:
    root = await make_user(storage, "Alice")
    invite = await storage.create_invite(inviter_id=root.id, now_ms=NOW, ttl_ms=WEEK, max_unused=5)
    with pytest.raises(HandleTaken):
        await storage.create_user(new_user(taken), invite_code=invite.code, now_ms=NOW + 1)
    assert await storage.count_users() == 1
    unused = await storage.get_invite(invite.code)
    assert unused is not None
    assert (unused.used_by, unused.used_ms) == (None, None)
    assert await storage.follow_counts(root.id) == (0, 0)
    # The invite is still good for a free handle.
    bob = await storage.create_user(new_user("bob"), invite_code=invite.code, now_ms=NOW + 2)
    assert bob.invited_by == root.id


@NX_ARRAY
async def test_sixth_unused_invite_is_refused(storage: Storage) -> None:
    root = await make_user(storage, "root")
    made = [
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=5)
        for n in range(5)
    ]
    assert len({invite.code for invite in made}) == 5
    with pytest.raises(InviteLimitReached):
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + 10, ttl_ms=WEEK, max_unused=5)
    assert len(await storage.list_invites(root.id, limit=100)) == 5


async def test_invite_limit_is_per_inviter(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    for n in range(5):
        await storage.create_invite(inviter_id=alice.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=5)
    bobs = await storage.create_invite(inviter_id=bob.id, now_ms=NOW + 10, ttl_ms=WEEK, max_unused=5)
    assert bobs.inviter_id == bob.id


async def test_expired_invites_do_not_count_towards_the_limit(storage: Storage) -> None:
    root = await make_user(storage, "root")
    for n in range(5):
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=DAY, max_unused=5)
    later = NOW + 2 * DAY
    fresh = await storage.create_invite(inviter_id=root.id, now_ms=later, ttl_ms=WEEK, max_unused=5)
    assert fresh.created_ms == later


@NX_ARRAY
async def test_used_invites_do_not_count_towards_the_limit(storage: Storage) -> None:
    root = await make_user(storage, "root")
    invites = [
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=5)
        for n in range(5)
    ]
    await storage.create_user(new_user("friend"), invite_code=invites[0].code, now_ms=NOW + 10)
    await storage.create_invite(inviter_id=root.id, now_ms=NOW + 11, ttl_ms=WEEK, max_unused=5)
    with pytest.raises(InviteLimitReached):
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + 12, ttl_ms=WEEK, max_unused=5)


@NX_ARRAY
async def test_invite_limit_holds_under_concurrent_requests(storage: Storage) -> None:
    root = await make_user(storage, "root")
    results = await asyncio.gather(
        *(
            storage.create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=5)
            for n in range(12)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, InviteRecord)]
    refused = [r for r in results if isinstance(r, InviteLimitReached)]
    assert (len(made), len(refused)) == (5, 7)
    assert len(await storage.list_invites(root.id, limit=100)) == 5


async def test_one_invite_makes_one_user_under_concurrent_sign_ups(storage: Storage) -> None:
    invite = await bootstrap_invite(storage)
    results = await asyncio.gather(
        *(storage.create_user(new_user(f"racer{n}"), invite_code=invite.code, now_ms=NOW) for n in range(8)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, UserRecord)]
    assert len(made) == 1
    assert all(isinstance(r, InviteUsed) for r in results if not isinstance(r, UserRecord))
    assert await storage.count_users() == 1
    used = await storage.get_invite(invite.code)
    assert used is not None and used.used_by == made[0].id


async def test_one_handle_makes_one_user_under_concurrent_sign_ups(storage: Storage) -> None:
    invites = [await bootstrap_invite(storage) for _ in range(6)]
    results = await asyncio.gather(
        *(
            storage.create_user(new_user(handle), invite_code=invite.code, now_ms=NOW)
            for handle, invite in zip(["same", "SAME", "Same", "sAme", "samE", "same"], invites, strict=True)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UserRecord) for r in results) == 1
    assert sum(isinstance(r, HandleTaken) for r in results) == 5
    assert await storage.count_users() == 1


@NX_ARRAY
async def test_invite_limit_holds_across_processes(storage: Storage, second_storage: Storage) -> None:
    root = await make_user(storage, "root")
    stores = (storage, second_storage)
    results = await asyncio.gather(
        *(
            stores[n % 2].create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=5)
            for n in range(12)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, InviteRecord)]
    refused = [r for r in results if isinstance(r, InviteLimitReached)]
    assert (len(made), len(refused)) == (5, 7)
    assert len(await second_storage.list_invites(root.id, limit=100)) == 5


async def test_one_invite_makes_one_user_across_processes(storage: Storage, second_storage: Storage) -> None:
    invite = await bootstrap_invite(storage)
    stores = (storage, second_storage)
    results = await asyncio.gather(
        *(
            stores[n % 2].create_user(new_user(f"racer{n}"), invite_code=invite.code, now_ms=NOW)
            for n in range(8)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, UserRecord)]
    assert len(made) == 1
    assert all(isinstance(r, InviteUsed) for r in results if not isinstance(r, UserRecord))
    assert await second_storage.count_users() == 1
    assert await storage.get_user_by_handle(made[0].handle) == made[0]


async def test_no_limit_without_max_unused(storage: Storage) -> None:
    root = await make_user(storage, "root")
    for n in range(8):
        await storage.create_invite(inviter_id=root.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=None)
    assert len(await storage.list_invites(root.id, limit=100)) == 8


async def test_list_invites_newest_first_and_only_the_inviters(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    made = [
        await storage.create_invite(inviter_id=alice.id, now_ms=NOW + n * 1000, ttl_ms=WEEK, max_unused=5)
        for n in range(4)
    ]
    await storage.create_invite(inviter_id=bob.id, now_ms=NOW + 500, ttl_ms=WEEK, max_unused=5)
    listed = await storage.list_invites(alice.id, limit=100)
    assert [invite.code for invite in listed] == [invite.code for invite in reversed(made)]
    assert listed[-1] == made[0]
    assert await storage.list_invites("01JD0M7Q5W3K4T9V2X8Y6Z1ABC", limit=100) == []


async def test_list_invites_shows_who_used_them(storage: Storage) -> None:
    root = await make_user(storage, "root")
    invite = await storage.create_invite(inviter_id=root.id, now_ms=NOW, ttl_ms=WEEK, max_unused=5)
    friend = await storage.create_user(new_user("friend"), invite_code=invite.code, now_ms=NOW + 7)
    [listed] = await storage.list_invites(root.id, limit=100)
    assert (listed.used_by, listed.used_ms) == (friend.id, NOW + 7)


async def test_get_invite_unknown_is_none(storage: Storage) -> None:
    assert await storage.get_invite("nope") is None


async def test_get_users_returns_every_one_asked_for(storage: Storage) -> None:
    users = [await make_user(storage, f"user{n:04d}", now_ms=NOW + n) for n in range(1200)]
    ids = [user.id for user in users]
    found = await storage.get_users(ids)
    assert found == {user.id: user for user in users}
    assert await storage.count_users() == 1200


async def test_get_users_skips_unknown_ids_and_duplicates(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    found = await storage.get_users([alice.id, alice.id, "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"])
    assert found == {alice.id: alice}
    assert await storage.get_users([]) == {}


async def test_set_password_hash(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.set_password_hash(alice.id, "$argon2id$new")
    stored = await storage.get_user(alice.id)
    assert stored is not None
    assert stored.password_hash == "$argon2id$new"
    assert stored.handle == alice.handle


# --- sessions ------------------------------------------------------------------------------


@NX_BINARY
async def test_session_is_found_by_its_token_hash(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    session = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    assert session.user_id == alice.id
    assert (session.created_ms, session.expires_ms, session.revoked_ms) == (NOW, NOW + DAY, None)
    assert await storage.get_session(b"\x01" * 32) == session
    assert await storage.get_session(b"\x02" * 32) is None


@NX_BINARY
async def test_revoke_session_returns_it_once(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    session = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    revoked = await storage.revoke_session(b"\x01" * 32, NOW + 10)
    assert revoked is not None
    assert (revoked.id, revoked.user_id) == (session.id, alice.id)
    assert await storage.revoke_session(b"\x01" * 32, NOW + 20) is None
    stored = await storage.get_session(b"\x01" * 32)  # revoked sessions are still found
    assert stored is not None
    assert stored.revoked_ms == NOW + 10
    assert await storage.revoke_session(b"\x09" * 32, NOW) is None


@NX_BINARY
async def test_revoke_user_sessions_returns_only_live_ones(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    sessions = [
        await storage.create_session(user_id=alice.id, token_hash=bytes([n]) * 32, now_ms=NOW + n, ttl_ms=DAY)
        for n in range(1, 4)
    ]
    bobs = await storage.create_session(user_id=bob.id, token_hash=b"\xbb" * 32, now_ms=NOW, ttl_ms=DAY)
    assert await storage.revoke_session(bytes([1]) * 32, NOW + 5) is not None

    revoked = await storage.revoke_user_sessions(alice.id, NOW + 10)
    assert sorted(revoked) == sorted([sessions[1].id, sessions[2].id])
    assert await storage.revoke_user_sessions(alice.id, NOW + 20) == []
    first = await storage.get_session(bytes([1]) * 32)
    assert first is not None and first.revoked_ms == NOW + 5
    for n in (2, 3):
        stored = await storage.get_session(bytes([n]) * 32)
        assert stored is not None and stored.revoked_ms == NOW + 10
    assert await storage.get_session(b"\xbb" * 32) == bobs


# --- follows -------------------------------------------------------------------------------


async def test_follow_and_unfollow_report_whether_anything_changed(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    assert await storage.follow(alice.id, bob.id, NOW) is True
    assert await storage.follow(alice.id, bob.id, NOW + 1) is False
    assert await storage.followee_ids(alice.id) == [bob.id]
    assert await storage.unfollow(alice.id, bob.id) is True
    assert await storage.unfollow(alice.id, bob.id) is False
    assert await storage.followee_ids(alice.id) == []
    assert await storage.follow(alice.id, bob.id, NOW + 2) is True


async def test_follow_state_from_both_sides(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    assert await storage.follow_state(alice.id, bob.id) == (False, False)
    await storage.follow(alice.id, bob.id, NOW)
    assert await storage.follow_state(alice.id, bob.id) == (True, False)
    assert await storage.follow_state(bob.id, alice.id) == (False, True)
    await storage.follow(bob.id, alice.id, NOW)
    assert await storage.follow_state(alice.id, bob.id) == (True, True)


async def test_follow_counts_and_followee_ids(storage: Storage) -> None:
    alice, bob, carol, dave = [await make_user(storage, name) for name in ("alice", "bob", "carol", "dave")]
    for follower in (bob, carol, dave):
        await storage.follow(follower.id, alice.id, NOW)
    await storage.follow(alice.id, bob.id, NOW)
    assert await storage.follow_counts(alice.id) == (3, 1)
    assert await storage.follow_counts(bob.id) == (1, 1)
    assert await storage.follow_counts(carol.id) == (0, 1)
    await storage.follow(bob.id, carol.id, NOW)
    assert sorted(await storage.followee_ids(bob.id)) == sorted([alice.id, carol.id])
    await storage.unfollow(dave.id, alice.id)
    assert await storage.follow_counts(alice.id) == (2, 1)


# --- posts ---------------------------------------------------------------------------------


async def test_create_and_get_post(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first = await post(storage, alice, "はじめまして")
    reply = await storage.create_post(
        author_id=alice.id, text="👨‍👩‍👧 hi", emotext="super_shake", reply_to=first.id, now_ms=NOW + 1
    )
    assert (reply.author_id, reply.text, reply.emotext, reply.reply_to) == (
        alice.id,
        "👨‍👩‍👧 hi",
        "super_shake",
        first.id,
    )
    assert reply.created_ms == NOW + 1
    assert reply.deleted_pos is None
    assert len(reply.id) == 26
    assert await storage.get_post(reply.id) == reply
    assert await storage.get_post(first.id) == first
    assert await storage.get_post("01JD0M7Q5W3K4T9V2X8Y6Z1ABC") is None


async def test_post_ids_strictly_increase_in_creation_order(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    ids = []
    for n in range(50):
        # The same millisecond, and a clock that steps back, must not break the order.
        now_ms = NOW + 100 - (n % 7)
        ids.append((await post(storage, alice if n % 2 else bob, f"post {n}", now_ms)).id)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_delete_post_marks_it_at_a_fresh_position_once(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    doomed = await post(storage, alice, "消します")
    later = await post(storage, alice, "later", NOW + 1)
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None
    assert deleted.id == doomed.id
    assert deleted.text == doomed.text
    assert deleted.deleted_pos is not None
    assert deleted.deleted_pos > doomed.id
    assert deleted.deleted_pos > later.id  # a fresh position: after everything written before
    assert await storage.get_post(doomed.id) == deleted
    assert await storage.delete_post(doomed.id) is None
    assert await storage.delete_post("01JD0M7Q5W3K4T9V2X8Y6Z1ABC") is None
    after = await post(storage, alice, "after", NOW + 2)
    assert after.id > deleted.deleted_pos


async def test_following_timeline_newest_first_with_own_and_followees_posts(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    stranger = await make_user(storage, "stranger")
    await storage.follow(me.id, friend.id, NOW)
    mine = await post(storage, me, "mine", NOW + 1)
    theirs = await post(storage, friend, "theirs", NOW + 2)
    await post(storage, stranger, "not for me", NOW + 3)
    gone = await post(storage, friend, "gone", NOW + 4)
    await storage.delete_post(gone.id)
    latest = await post(storage, friend, "latest", NOW + 5)

    timeline = await storage.following_timeline(me.id, before=None, limit=20)
    assert [p.id for p in timeline] == [latest.id, theirs.id, mine.id]
    assert timeline[1] == theirs
    # The friend does not follow me: my posts are not on their timeline.
    assert [p.id for p in await storage.following_timeline(friend.id, before=None, limit=20)] == [
        latest.id,
        theirs.id,
    ]


async def test_following_timeline_pages_with_before(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, me if n % 2 else friend, f"p{n}", NOW + n) for n in range(7)]
    newest_first = [p.id for p in reversed(posts)]

    pages: list[list[str]] = []
    before = None
    while True:
        page = await storage.following_timeline(me.id, before=before, limit=3)
        if not page:
            break
        pages.append([p.id for p in page])
        before = page[-1].id
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]
    assert await storage.following_timeline(me.id, before=posts[0].id, limit=3) == []


async def test_following_timeline_forgets_unfollowed_authors(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    await post(storage, friend, "hello", NOW + 1)
    await storage.unfollow(me.id, friend.id)
    assert await storage.following_timeline(me.id, before=None, limit=20) == []


async def test_following_timeline_includes_the_inviter_followed_on_joining(storage: Storage) -> None:
    inviter = await make_user(storage, "inviter")
    hello = await post(storage, inviter, "ようこそ", NOW + 1)
    newcomer = await make_user(storage, "newcomer", inviter=inviter, now_ms=NOW + 2)
    assert await storage.following_timeline(newcomer.id, before=None, limit=20) == [hello]


# --- the following stream -------------------------------------------------------------------


async def test_stream_after_a_cursor_is_oldest_first(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    seen = await post(storage, friend, "seen", NOW + 1)
    missed = [await post(storage, me if n == 1 else friend, f"missed {n}", NOW + 2 + n) for n in range(3)]

    items = await storage.following_stream_after(me.id, after=seen.id, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(p.id, False) for p in missed]
    assert [item.post for item in items] == missed


async def test_stream_from_the_beginning_includes_everything(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, friend, f"p{n}", NOW + n) for n in range(3)]
    items = await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100)
    assert [item.post.id for item in items] == [p.id for p in posts]


async def test_stream_shows_the_deletion_of_a_post_seen_before_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    doomed = await post(storage, friend, "doomed", NOW + 1)
    cursor = (await post(storage, friend, "cursor", NOW + 2)).id
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None and deleted.deleted_pos is not None
    after = await post(storage, friend, "after", NOW + 3)

    items = await storage.following_stream_after(me.id, after=cursor, limit=100)
    assert [(item.pos, item.post.id, item.deleted) for item in items] == [
        (deleted.deleted_pos, doomed.id, True),
        (after.id, after.id, False),
    ]
    assert items[0].post.deleted_pos == deleted.deleted_pos


async def test_stream_shows_the_deletion_of_the_cursor_post_itself(storage: Storage) -> None:
    me = await make_user(storage, "me")
    doomed = await post(storage, me, "doomed", NOW + 1)
    deleted = await storage.delete_post(doomed.id)
    assert deleted is not None
    items = await storage.following_stream_after(me.id, after=doomed.id, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(deleted.deleted_pos, True)]


async def test_stream_leaves_out_a_post_created_and_deleted_after_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    cursor = (await post(storage, friend, "cursor", NOW + 1)).id
    fleeting = await post(storage, friend, "fleeting", NOW + 2)
    kept = await post(storage, friend, "kept", NOW + 3)
    await storage.delete_post(fleeting.id)

    items = await storage.following_stream_after(me.id, after=cursor, limit=100)
    assert [(item.pos, item.deleted) for item in items] == [(kept.id, False)]
    assert fleeting.id not in {item.post.id for item in items}


async def test_stream_leaves_out_deletions_before_the_cursor(storage: Storage) -> None:
    me = await make_user(storage, "me")
    old = await post(storage, me, "old", NOW + 1)
    deleted = await storage.delete_post(old.id)
    assert deleted is not None and deleted.deleted_pos is not None
    items = await storage.following_stream_after(me.id, after=deleted.deleted_pos, limit=100)
    assert items == []
    new = await post(storage, me, "new", NOW + 2)
    assert [
        item.pos for item in await storage.following_stream_after(me.id, after=deleted.deleted_pos, limit=100)
    ] == [new.id]


async def test_stream_respects_limit_and_resumes_exactly(storage: Storage) -> None:
    me = await make_user(storage, "me")
    posts = [await post(storage, me, f"p{n}", NOW + n) for n in range(7)]
    cursor = SMALLEST_ID
    got: list[str] = []
    for _ in range(10):
        items = await storage.following_stream_after(me.id, after=cursor, limit=3)
        assert len(items) <= 3
        if not items:
            break
        got.extend(item.pos for item in items)
        cursor = items[-1].pos
    assert got == [p.id for p in posts]
    assert len(await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=3)) == 3


async def test_stream_excludes_unfollowed_authors_and_strangers(storage: Storage) -> None:
    me = await make_user(storage, "me")
    former = await make_user(storage, "former")
    stranger = await make_user(storage, "stranger")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, former.id, NOW)
    await storage.follow(me.id, friend.id, NOW)
    await post(storage, former, "before unfollow", NOW + 1)
    await post(storage, stranger, "never followed", NOW + 2)
    kept = await post(storage, friend, "friend", NOW + 3)
    await storage.unfollow(me.id, former.id)
    await post(storage, former, "after unfollow", NOW + 4)

    items = await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100)
    assert [item.post.id for item in items] == [kept.id]


async def test_stream_matches_the_timeline(storage: Storage) -> None:
    """Replaying the stream from the start rebuilds the timeline: same posts, reverse order."""
    me = await make_user(storage, "me")
    friend = await make_user(storage, "friend")
    await storage.follow(me.id, friend.id, NOW)
    posts = [await post(storage, me if n % 3 == 0 else friend, f"p{n}", NOW + n) for n in range(9)]
    for doomed in (posts[2], posts[5]):
        await storage.delete_post(doomed.id)
    standing: dict[str, PostRecord] = {}
    for item in await storage.following_stream_after(me.id, after=SMALLEST_ID, limit=100):
        if item.deleted:
            standing.pop(item.post.id, None)
        else:
            standing[item.post.id] = item.post
    timeline = await storage.following_timeline(me.id, before=None, limit=100)
    assert [p.id for p in timeline] == sorted(standing, reverse=True)


async def test_posts_by_author_after_is_one_authors_standing_posts_oldest_first(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    before = await post(storage, alice, "before", NOW)
    kept = [await post(storage, alice, f"kept {n}", NOW + 1 + n) for n in range(3)]
    await post(storage, bob, "someone else's", NOW + 10)
    gone = await post(storage, alice, "deleted", NOW + 11)
    await storage.delete_post(gone.id)
    found = await storage.posts_by_author_after(alice.id, after=before.id, limit=10)
    assert [p.id for p in found] == [p.id for p in kept]
    assert [p.id for p in await storage.posts_by_author_after(alice.id, after=before.id, limit=2)] == [
        p.id for p in kept[:2]
    ]


async def test_list_invites_returns_at_most_limit_newest(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    made = [
        await storage.create_invite(inviter_id=alice.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=None)
        for n in range(5)
    ]
    listed = await storage.list_invites(alice.id, limit=2)
    assert [i.code for i in listed] == [made[4].code, made[3].code]
