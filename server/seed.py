"""``tsudoi admin seed``: many accounts, their sessions and a follow graph, fast, for load tests.

Going through sign-up would cost one argon2id hash per account (about 120 ms at the defaults);
seeded accounts instead share one password whose hash is computed once. They are ordinary
accounts in every other way, made through the same storage port the server uses, so a load test
exercises the real data. Their session tokens are written to a file (mode 0600), never printed:
they are secrets.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from protocol.errors import ProtocolError

from .domain import rules
from .domain.accounts import TOKEN_PREFIX
from .passwords import Passwords
from .store.base import HandleTaken, NewUser, Storage, token_hash

#: Seeding writes this many accounts concurrently (the SQLite adapter serialises them anyway).
CONCURRENCY = 32
SEED_BIRTH_DATE = "1990-01-01"


class HandlesTaken(Exception):
    """Accounts with the plan's handles exist already (a second seed with the same prefix)."""


@dataclass(frozen=True)
class Plan:
    users: int
    prefix: str = "load"
    #: Everyone follows the first account (a celebrity and her fans: the fan-out scenario).
    star: bool = False
    #: Each account follows this many others chosen at random (the chat scenario).
    degree: int = 0
    random_seed: int = 1


@dataclass(frozen=True)
class Seeded:
    accounts: list[dict[str, str]]
    #: (follower, followee) index pairs into ``accounts``.
    follows: list[tuple[int, int]]


def check_plan(plan: Plan) -> None:
    """ValueError, saying why, for a plan that cannot be seeded whatever the database holds."""
    if plan.users < 1:
        raise ValueError("need at least one user")
    for handle in (f"{plan.prefix}0", f"{plan.prefix}{plan.users - 1}"):  # the shortest, the longest
        try:
            rules.check_handle(handle)
        except ProtocolError as exc:  # the storage port takes any handle: sign-up checks them first
            raise ValueError(
                f"--prefix {plan.prefix!r} would make the handle {handle!r}: {exc.message}"
            ) from None


async def seed(
    store: Storage, passwords: Passwords, plan: Plan, out: Path, clock: Callable[[], int], ttl_ms: int
) -> Seeded:
    check_plan(plan)
    slots = asyncio.Semaphore(CONCURRENCY)
    handles = [f"{plan.prefix}{n}" for n in range(plan.users)]

    async def exists(handle: str) -> bool:
        async with slots:
            return await store.get_user_by_handle(handle) is not None

    # Checked before writing anything, so that a clash leaves no half-seeded database behind.
    taken = [
        h for h, found in zip(handles, await asyncio.gather(*map(exists, handles)), strict=True) if found
    ]
    if taken:
        raise HandlesTaken(_clash(plan, taken, written=False))
    password = secrets.token_urlsafe(12)
    password_hash = await passwords.hash(password)

    async def make(n: int) -> dict[str, str]:
        async with slots:
            now = clock()
            invite = await store.create_invite(inviter_id=None, now_ms=now, ttl_ms=ttl_ms, max_unused=None)
            handle = f"{plan.prefix}{n}"
            user = await store.create_user(
                NewUser(handle, handle, password_hash, SEED_BIRTH_DATE), invite_code=invite.code, now_ms=now
            )
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            await store.create_session(
                user_id=user.id, token_hash=token_hash(token), now_ms=now, ttl_ms=ttl_ms
            )
            return {"id": user.id, "handle": handle, "token": token}

    try:
        accounts = await asyncio.gather(*(make(n) for n in range(plan.users)))
    except HandleTaken:  # someone signed up with one of them since the check
        raise HandlesTaken(_clash(plan, [], written=True)) from None
    follows = _graph(plan, len(accounts))

    async def follow(pair: tuple[int, int]) -> None:
        async with slots:
            await store.follow(accounts[pair[0]]["id"], accounts[pair[1]]["id"], clock())

    await asyncio.gather(*(follow(pair) for pair in follows))
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(orjson.dumps({"password": password, "accounts": accounts, "follows": follows}))
    return Seeded(accounts, follows)


def _clash(plan: Plan, taken: list[str], *, written: bool) -> str:
    span = f"{plan.prefix}0 to {plan.prefix}{plan.users - 1}"
    if written:
        what = f"a handle of {span} was taken while seeding; some accounts were made"
    else:
        what = f"{len(taken)} of the handles {span} exist already (@{taken[0]} first); nothing was written"
    return f"{what}: choose another --prefix, or a fresh --data"


def _graph(plan: Plan, count: int) -> list[tuple[int, int]]:
    """(follower, followee) index pairs."""
    pairs: set[tuple[int, int]] = set()
    if plan.star:
        pairs.update((n, 0) for n in range(1, count))
    if plan.degree:
        rng = random.Random(plan.random_seed)  # a test graph, not a secret
        for follower in range(count):
            others = [n for n in rng.sample(range(count), min(count, plan.degree + 1)) if n != follower]
            pairs.update((follower, followee) for followee in others[: plan.degree])
    return sorted(pairs)
