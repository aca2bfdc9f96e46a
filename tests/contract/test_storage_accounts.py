"""The Storage contract of the accounts area (:class:`server.store.base.AccountStorage`): invites
and sign-ups (atomic, under concurrency and across processes), users and their settings (DM policy,
verified badge, presence visibility, last seen), bot accounts, and sessions found by their token
hash.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio

import pytest

from server.store.base import (
    HandleChangedRecently,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    IssuedInvite,
    NewUser,
    NotFound,
    Storage,
    UserRecord,
    token_hash,
)
from tests.contract.storage_helpers import (
    DAY,
    MINUTE,
    NOW,
    NX_ARRAY,
    NX_BINARY,
    NX_BOOL_SET,
    UNKNOWN_ID,
    WEEK,
    bootstrap_invite,
    make_user,
    make_users,
    new_user,
    stored,
)


async def test_bootstrap_invite_and_first_user(storage: Storage) -> None:
    assert await storage.count_users() == 0
    invite = await bootstrap_invite(storage, grants_operator=True)
    assert invite.inviter_id is None
    assert (invite.created_ms, invite.expires_ms) == (NOW, NOW + WEEK)
    assert (invite.used_by, invite.used_ms) == (None, None)
    assert invite.grants_operator is True
    assert await storage.get_invite(invite.code) == invite.stored()

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


async def test_an_invite_is_known_by_the_hash_of_its_code(storage: Storage) -> None:
    """Storage keeps the code's hash and first characters; only create_invite's answer has the
    code, and only the whole code finds the invite."""
    invite = await bootstrap_invite(storage)
    assert isinstance(invite, IssuedInvite) and len(invite.code) == 22
    assert invite.code_hash == token_hash(invite.code)
    assert invite.code_prefix == invite.code[:4]
    found = await storage.get_invite(invite.code)
    assert found == invite.stored() and not isinstance(found, IssuedInvite)
    assert not hasattr(found, "code")
    for near_miss in (
        invite.code_prefix,
        invite.code[:-1],
        invite.code.upper(),
        token_hash(invite.code).hex(),
    ):
        assert await storage.get_invite(near_miss) is None
    with pytest.raises(InviteNotFound):
        await storage.create_user(new_user("guesser"), invite_code=invite.code_prefix, now_ms=NOW)
    user = await storage.create_user(new_user("holder"), invite_code=invite.code, now_ms=NOW)
    root = await make_user(storage, "root")
    mine = await storage.create_invite(inviter_id=root.id, now_ms=NOW, ttl_ms=WEEK, max_unused=5)
    [listed] = await storage.list_invites(root.id, limit=10)
    assert listed == mine.stored() and not isinstance(listed, IssuedInvite)
    assert user.invited_by is None


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
    assert [invite.code_hash for invite in listed] == [invite.code_hash for invite in reversed(made)]
    assert listed[-1] == made[0].stored()
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
    # More than one chunk of either adapter's IN list (500 and 1,000), made 100 at a time.
    users: list[UserRecord] = []
    for start in range(0, 1200, 100):
        made = (make_user(storage, f"user{n:04d}", now_ms=NOW + n) for n in range(start, start + 100))
        users += await asyncio.gather(*made)
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


@NX_BINARY
async def test_session_is_found_by_its_token_hash(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    session = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    assert session.user_id == alice.id
    assert (session.created_ms, session.expires_ms, session.revoked_ms) == (NOW, NOW + DAY, None)
    assert await storage.get_session(b"\x01" * 32) == session
    assert await storage.get_session(b"\x02" * 32) is None


@NX_BINARY
async def test_session_and_its_user_are_read_together(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    session = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    await storage.set_password_hash(alice.id, "$argon2id$new")  # the user as stored now
    found = await storage.get_session_user(b"\x01" * 32)
    assert found is not None
    assert found == (session, await storage.get_user(alice.id))
    assert found[1] is not None and found[1].password_hash == "$argon2id$new"
    assert await storage.get_session_user(b"\x02" * 32) is None
    await storage.revoke_session(b"\x01" * 32, NOW + 10)
    revoked = await storage.get_session_user(b"\x01" * 32)  # still found, as get_session finds it
    assert revoked is not None and revoked[0].revoked_ms == NOW + 10


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


async def test_list_sessions_shows_live_ones_newest_first_with_their_device(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    made = [
        await storage.create_session(
            user_id=alice.id, token_hash=bytes([n]) * 32, now_ms=NOW + n, ttl_ms=DAY, device=f"Device {n}"
        )
        for n in range(1, 5)
    ]
    short = await storage.create_session(user_id=alice.id, token_hash=b"\x09" * 32, now_ms=NOW + 9, ttl_ms=50)
    await storage.create_session(user_id=bob.id, token_hash=b"\xbb" * 32, now_ms=NOW, ttl_ms=DAY)
    assert await storage.revoke_user_session(alice.id, made[1].id, NOW + 20) is not None

    listed = await storage.list_sessions(alice.id, NOW + 30, limit=10)
    assert [s.id for s in listed] == [short.id, made[3].id, made[2].id, made[0].id]
    assert listed[1].device == "Device 4" and listed[1].last_used_ms is None
    # Once the short one has expired it is left out; the limit keeps the newest.
    later = await storage.list_sessions(alice.id, NOW + 100, limit=2)
    assert [s.id for s in later] == [made[3].id, made[2].id]
    assert await storage.list_sessions("01NOSUCHUSER000000000000000", NOW, limit=10) == []


async def test_revoke_user_session_revokes_only_ones_own_live_session(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    bob = await make_user(storage, "bob")
    mine = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    bobs = await storage.create_session(user_id=bob.id, token_hash=b"\xbb" * 32, now_ms=NOW, ttl_ms=DAY)
    old = await storage.create_session(user_id=alice.id, token_hash=b"\x02" * 32, now_ms=NOW, ttl_ms=10)

    assert await storage.revoke_user_session(alice.id, bobs.id, NOW + 20) is None  # not hers
    assert await storage.list_sessions(bob.id, NOW + 20, limit=10) == [bobs]
    assert await storage.revoke_user_session(alice.id, old.id, NOW + 20) is None  # expired
    revoked = await storage.revoke_user_session(alice.id, mine.id, NOW + 20)
    assert revoked is not None and (revoked.id, revoked.revoked_ms) == (mine.id, NOW + 20)
    assert await storage.revoke_user_session(alice.id, mine.id, NOW + 30) is None  # once
    assert await storage.list_sessions(alice.id, NOW + 30, limit=10) == []


async def test_touch_sessions_only_moves_last_use_forward_in_one_batch(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    one = await storage.create_session(user_id=alice.id, token_hash=b"\x01" * 32, now_ms=NOW, ttl_ms=DAY)
    two = await storage.create_session(user_id=alice.id, token_hash=b"\x02" * 32, now_ms=NOW, ttl_ms=DAY)
    await storage.touch_sessions({one.id: NOW + 100})
    # Unknown sessions are skipped, the others written; an earlier time changes nothing.
    await storage.touch_sessions({one.id: NOW + 50, two.id: NOW + 70, "01NOSUCHSESSION00000000000": NOW})
    await storage.touch_sessions({})
    stored = {s.id: s.last_used_ms for s in await storage.list_sessions(alice.id, NOW + 200, limit=10)}
    assert stored == {one.id: NOW + 100, two.id: NOW + 70}


async def test_delete_user_leaves_a_tombstone_keeping_the_handle(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.update_profile(alice.id, display_name="Alice A", bio="hi", interests=["防災"])
    await storage.set_verified(alice.id, True)
    assert await storage.delete_user(alice.id) is True
    gone = await storage.get_user(alice.id)
    assert gone is not None and gone.deleted
    assert (gone.display_name, gone.bio, gone.interests, gone.password_hash) == ("", "", (), "!")
    assert (gone.dm_policy, gone.presence_visibility, gone.verified) == ("nobody", "nobody", False)
    assert gone.handle == alice.handle
    by_handle = await storage.get_user_by_handle(alice.handle.upper())
    assert by_handle is not None and by_handle.id == alice.id  # the handle stays taken
    assert not (await storage.get_user((await make_user(storage, "bob")).id) or gone).deleted
    assert await storage.delete_user("01NOSUCHUSER00000000000000") is False


async def test_list_invites_returns_at_most_limit_newest(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    made = [
        await storage.create_invite(inviter_id=alice.id, now_ms=NOW + n, ttl_ms=WEEK, max_unused=None)
        for n in range(5)
    ]
    listed = await storage.list_invites(alice.id, limit=2)
    assert listed == [made[4].stored(), made[3].stored()]


async def test_dm_policy_starts_as_everyone_and_is_stored(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert alice.dm_policy == "everyone"
    assert (await storage.get_user(alice.id)) == alice
    await storage.set_dm_policy(alice.id, "following")
    stored = await storage.get_user(alice.id)
    assert stored is not None and stored.dm_policy == "following"
    by_handle = await storage.get_user_by_handle("ALICE")
    assert by_handle is not None and by_handle.dm_policy == "following"
    await storage.set_dm_policy(alice.id, "nobody")
    found = await storage.get_users([alice.id, bob.id])
    assert (found[alice.id].dm_policy, found[bob.id].dm_policy) == ("nobody", "everyone")


@NX_BOOL_SET
async def test_set_verified_sets_and_clears_the_badge(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert alice.verified is False
    assert await storage.set_verified(alice.id, True) is True
    stored = await storage.get_user(alice.id)
    assert stored is not None and stored.verified is True
    assert stored.handle == "alice" and stored.password_hash == alice.password_hash
    untouched = await storage.get_user(bob.id)
    assert untouched is not None and untouched.verified is False
    assert await storage.set_verified(alice.id, False) is True
    cleared = await storage.get_user(alice.id)
    assert cleared is not None and cleared.verified is False
    assert await storage.set_verified(alice.id, False) is True  # False only for no such user
    assert await storage.set_verified(UNKNOWN_ID, True) is False


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


async def test_a_bot_is_created_as_a_bot_and_a_person_is_not(storage: Storage) -> None:
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=WEEK, max_unused=None)
    bot = await storage.create_user(
        NewUser("helper_bot", "Helper", "!", "", bot=True), invite_code=invite.code, now_ms=NOW
    )
    person = await make_user(storage, "hanako")
    assert bot.bot and not person.bot
    assert (await storage.get_user(bot.id)) == bot
    assert (await storage.get_user_by_handle("HELPER_BOT")) == bot
    assert not (await storage.get_users([person.id]))[person.id].bot


# --- handle changes ----------------------------------------------------------------------------


async def test_change_handle_keeps_the_old_one_as_the_accounts_own(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    changed = await storage.change_handle(alice.id, "Alice_Sendai", now_ms=NOW, changed_before_ms=NOW - DAY)
    assert (changed.id, changed.handle, changed.handle_changed_ms) == (alice.id, "Alice_Sendai", NOW)
    assert await storage.get_user(alice.id) == changed
    # Found by the new handle in any case, and still by the old one: old mentions lead to her.
    assert await storage.get_user_by_handle("alice_sendai") == changed
    assert await storage.get_user_by_handle("ALICE") == changed
    # Nobody else may take the old handle, at sign-up or by a change.
    with pytest.raises(HandleTaken):
        await storage.create_user(
            new_user("Alice"), invite_code=(await bootstrap_invite(storage)).code, now_ms=NOW
        )
    bob = await make_user(storage, "bob")
    with pytest.raises(HandleTaken):
        await storage.change_handle(bob.id, "aLiCe", now_ms=NOW, changed_before_ms=NOW)
    with pytest.raises(HandleTaken):
        await storage.change_handle(bob.id, "ALICE_SENDAI", now_ms=NOW, changed_before_ms=NOW)
    assert (await storage.get_user(bob.id) or bob).handle == "bob"
    # She may take it back; then the second one is hers for good too.
    back = await storage.change_handle(alice.id, "alice", now_ms=NOW + WEEK, changed_before_ms=NOW + 1)
    assert back.handle == "alice"
    assert await storage.get_user_by_handle("alice_sendai") == back
    with pytest.raises(HandleTaken):
        await storage.change_handle(bob.id, "alice_sendai", now_ms=NOW, changed_before_ms=NOW + WEEK)


async def test_change_handle_refuses_within_the_cooldown_and_writes_nothing(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.change_handle(alice.id, "alice2", now_ms=NOW, changed_before_ms=NOW)
    with pytest.raises(HandleChangedRecently) as refused:
        await storage.change_handle(alice.id, "alice3", now_ms=NOW + DAY, changed_before_ms=NOW - 1)
    assert refused.value.changed_ms == NOW
    assert await storage.get_user_by_handle("alice3") is None
    assert (await storage.get_user(alice.id) or alice).handle == "alice2"
    # A change of case only keeps no former handle, and counts as a change.
    cased = await storage.change_handle(alice.id, "Alice2", now_ms=NOW + DAY, changed_before_ms=NOW)
    assert (cased.handle, cased.handle_changed_ms) == ("Alice2", NOW + DAY)


async def test_change_handle_of_a_deleted_or_unknown_user_is_not_found(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.delete_user(alice.id)
    for user_id in (alice.id, UNKNOWN_ID):
        with pytest.raises(NotFound):
            await storage.change_handle(user_id, "someone", now_ms=NOW, changed_before_ms=NOW)
    assert await storage.get_user_by_handle("someone") is None


async def test_one_handle_goes_to_one_account_under_concurrent_changes(storage: Storage) -> None:
    users = await make_users(storage, "u1", "u2", "u3", "u4")
    results = await asyncio.gather(
        *(
            storage.change_handle(u.id, handle, now_ms=NOW, changed_before_ms=NOW)
            for u, handle in zip(users, ["same", "SAME", "Same", "sAme"], strict=True)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UserRecord) for r in results) == 1
    assert sum(isinstance(r, HandleTaken) for r in results) == 3
    winner = next(r for r in results if isinstance(r, UserRecord))
    for user in users:
        now = await storage.get_user(user.id)
        assert now is not None
        assert (now.handle.lower() == "same") == (user.id == winner.id)
        # The losers keep their handle, and a lookup by it still finds them.
        if user.id != winner.id:
            assert now.handle == user.handle and await storage.get_user_by_handle(user.handle) == now


# --- deletions that survive a crash --------------------------------------------------------------


async def test_a_deletion_is_unfinished_until_finished_and_claimed_by_one_at_a_time(storage: Storage) -> None:
    alice, bob = await make_users(storage, "alice", "bob")
    assert await storage.claim_deletion(now_ms=NOW, lease_ms=MINUTE) is None  # nobody is leaving
    await storage.delete_user(alice.id)
    assert await storage.claim_deletion(now_ms=NOW, lease_ms=MINUTE, user_id=bob.id) is None
    assert await storage.claim_deletion(now_ms=NOW, lease_ms=MINUTE, user_id=alice.id) == alice.id
    # Claimed: nobody else gets it until the lease lapses.
    assert await storage.claim_deletion(now_ms=NOW + 1, lease_ms=MINUTE) is None
    assert await storage.claim_deletion(now_ms=NOW + MINUTE, lease_ms=MINUTE) == alice.id
    # Deleting a tombstone again does not undo a claim nor a finish.
    await storage.delete_user(alice.id)
    assert await storage.claim_deletion(now_ms=NOW + MINUTE + 1, lease_ms=MINUTE) is None
    await storage.finish_deletion(alice.id)
    await storage.delete_user(alice.id)
    assert await storage.claim_deletion(now_ms=NOW + DAY, lease_ms=MINUTE) is None
    assert (await storage.get_user(alice.id) or alice).deleted


async def test_a_claimed_deletion_is_renewed_by_its_holder(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.renew_deletion(alice.id, now_ms=NOW, lease_ms=DAY)  # none unfinished: nothing
    await storage.delete_user(alice.id)
    assert await storage.claim_deletion(now_ms=NOW, lease_ms=MINUTE) == alice.id
    await storage.renew_deletion(alice.id, now_ms=NOW + MINUTE - 1, lease_ms=MINUTE)
    assert await storage.claim_deletion(now_ms=NOW + MINUTE, lease_ms=MINUTE) is None  # still held
    assert await storage.claim_deletion(now_ms=NOW + 2 * MINUTE, lease_ms=MINUTE) == alice.id
    await storage.finish_deletion(alice.id)
    await storage.renew_deletion(alice.id, now_ms=NOW, lease_ms=MINUTE)  # finished: stays finished
    assert await storage.claim_deletion(now_ms=NOW + DAY, lease_ms=MINUTE) is None


async def test_concurrent_claims_of_one_deletion_give_it_to_one(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    await storage.delete_user(alice.id)
    claims = await asyncio.gather(*(storage.claim_deletion(now_ms=NOW, lease_ms=MINUTE) for _ in range(5)))
    assert sorted(claims, key=lambda c: c or "") == [None, None, None, None, alice.id]
