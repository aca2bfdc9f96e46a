"""Deleting an account (``POST /api/account/delete``, PROTOCOL.md section 11.14).

Contract, in the order it runs (each step through the same service, so the same events, as
when the user or a moderator does it by hand):

1. The password is checked (:meth:`Accounts.confirm_deletion`); nothing happens without it.
2. The account is closed (:meth:`Accounts.close_account`): every session revoked and its live
   connections closed (4501) on every node, the profile picture removed, the user made a
   tombstone: no password matches, the name, bio and interests emptied, ``deleted`` set. From
   here on nobody can log in to it, so nothing new can be written by it meanwhile. The same
   write marks the deletion *unfinished* (storage's ``delete_user``).
3. Communities it owns pass to the longest-standing moderator, or else the longest-standing
   member; it then leaves every community. One it was alone in is left empty (no members, no
   posts): there is no deletion of communities yet, and operators see it.
4. Its posts (reposts and quotes included) are deleted one by one: followers' and members'
   clients receive ``post.deleted`` and the counts of what they replied to move, live.
5. Its follows both ways, blocks and mutes are removed: followers receive ``unfollow``.
6. The deletion is marked finished.

Kept, on purpose: its messages in conversations (the other members' history is theirs too),
shown as written by a deleted account (a User whose ``display_name`` is "", which no
living account has); and its handle (and former handles), taken for good, so
that nobody can pick it up and be taken for the person others knew by it, their mentions and
the messages they kept (during a disaster above all, a name is trusted).

Interrupted deletions. Steps 3-5 run under a claim (storage's ``claim_deletion``, a lease of
``deletion_lease_ms``, renewed after every page of work so a long deletion keeps it; a node
that dies holds it until it lapses) and each is idempotent: it reads what is left (the communities the
account is still in, its standing posts, its remaining edges) and acts on that, so running them
again after a crash, or twice, does what is missing and nothing more. A node that stops part way
(killed, storage down) leaves the mark; every node's sweep (:func:`run_sweeper`, at start and
every ``deletion_sweep_ms``) claims unfinished deletions whose lease has lapsed and finishes
them, and ``tsudoi admin finish-deletions`` does the same at once. The owner cannot ask again
(the password no longer matches), and need not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from protocol.errors import ProtocolError

from ..store.base import StorageError, UserRecord
from . import Domain

log = logging.getLogger(__name__)

PAGE = 100


async def delete_account(domain: Domain, token: str, password: str, address: str) -> None:
    """Delete the account of ``token`` if ``password`` is its own (see the module's contract).
    Should another node's sweep claim the deletion first (between the tombstone and this
    claim), that node finishes it."""
    user = await domain.accounts.confirm_deletion(token, password, address)
    await domain.accounts.close_account(user)
    log.info("account @%s (%s) deleted by its owner", user.handle, user.id)
    if await domain.accounts.claim_deletion(user.id):
        await _finish(domain, user.id)


async def finish_deletions(domain: Domain) -> int:
    """Claim and finish every unfinished deletion whose lease has lapsed, one after the other,
    until none is left to claim; how many were finished."""
    finished = 0
    while (user_id := await domain.accounts.claim_deletion()) is not None:
        await _finish(domain, user_id)
        finished += 1
    return finished


async def run_sweeper(domain: Domain, every_ms: int) -> None:
    """:func:`finish_deletions` now and every ``every_ms``, until cancelled. A failure (storage
    down) is logged and tried again at the next round: the marks stay until a round succeeds."""
    while True:
        try:
            finished = await finish_deletions(domain)
        except (StorageError, ProtocolError) as exc:
            log.warning("finishing interrupted account deletions failed, tried again later: %s", exc)
        else:
            if finished:
                log.info("finished %d interrupted account deletion(s)", finished)
        await asyncio.sleep(every_ms / 1000)


async def _finish(domain: Domain, user_id: str) -> None:
    """Steps 3-6 for a claimed deletion; each finds what is left and does only that."""
    user = await domain.accounts.record(user_id)
    if user is None:
        return
    await _leave_communities(domain, user)
    await domain.accounts.renew_deletion(user_id)
    await _delete_posts(domain, user)
    await domain.accounts.renew_deletion(user_id)
    await _cut_relations(domain, user)
    await domain.accounts.finish_deletion(user_id)
    log.info("account @%s (%s): deletion finished", user.handle, user.id)


async def _leave_communities(domain: Domain, user: UserRecord) -> None:
    cursor: str | None = None
    mine = []
    while True:
        page = await domain.communities.mine(user, cursor, PAGE)
        mine.extend(page.communities)
        cursor = page.next
        if cursor is None:
            break
    for community in mine:
        if community.my_role == "owner":
            heir = await _heir(domain, user, community.id)
            if heir is None:
                await domain.communities.abandon(user, community.id)
                continue
            await domain.communities.transfer(user, community.id, heir)
        await domain.communities.leave(user, community.id)


async def _heir(domain: Domain, user: UserRecord, community_id: str) -> str | None:
    """The longest-standing moderator, or else member, other than ``user``; None if alone."""
    first_member: str | None = None
    cursor: str | None = None
    while True:
        page = await domain.communities.members(user, community_id, cursor, PAGE)
        for member in page.members:
            if member.user.id == user.id:
                continue
            if member.role == "moderator":
                return member.user.id
            first_member = first_member or member.user.id
        cursor = page.next
        if cursor is None:
            return first_member


async def _delete_posts(domain: Domain, user: UserRecord) -> None:
    tried: set[str] = set()
    while True:
        page = await domain.social.user_timeline(user, user.id, None, PAGE)
        fresh = [post.id for post in page.posts if post.id not in tried]
        if not fresh:
            return
        for post_id in fresh:
            tried.add(post_id)
            with contextlib.suppress(ProtocolError):  # deleted meanwhile (by a moderator)
                await domain.social.delete_post(user, post_id)
        await domain.accounts.renew_deletion(user.id)


async def _cut_relations(domain: Domain, user: UserRecord) -> None:
    # Blocks and mutes first: the follower lists leave out the people one hides. Each edge may
    # have gone meanwhile (its other end acted, or a second run): that refusal is no failure.
    for blocked in (await domain.relations.blocked(user)).users:
        with contextlib.suppress(ProtocolError):
            await domain.relations.unblock(user, blocked.id)
    for muted in (await domain.relations.muted(user)).users:
        with contextlib.suppress(ProtocolError):
            await domain.relations.unmute(user, muted.id)
    following = await _all_ids(domain, user, followers=False)
    for followee_id in following:
        with contextlib.suppress(ProtocolError):
            await domain.social.unfollow(user, followee_id)
    for follower_id in await _all_ids(domain, user, followers=True):
        follower = await domain.accounts.record(follower_id)
        if follower is not None:
            with contextlib.suppress(ProtocolError):
                await domain.social.unfollow(follower, user.id)


async def _all_ids(domain: Domain, user: UserRecord, *, followers: bool) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        read = domain.relations.followers if followers else domain.relations.following
        page = await read(user, user.id, cursor, PAGE)
        ids.extend(u.id for u in page.users)
        cursor = page.next
        if cursor is None:
            return ids
