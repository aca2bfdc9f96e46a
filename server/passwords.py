"""Password hashing with argon2id, always off the event loop.

Hashing and verifying run in a dedicated pool of two threads: argon2id at argon2-cffi's defaults
(RFC 9106's low-memory profile: t=3, m=64 MiB, p=4) takes about 120 ms and 64 MiB per call here,
so the pool also bounds the memory a burst of log-ins can take.

``TSUDOI_ARGON2_PROFILE=test`` selects a deliberately cheap cost (t=1, m=8 KiB, p=1) so the test
suite can create hundreds of accounts; it is for tests only and the server says so in its log.
Hashes record their parameters, so a server on the default profile still verifies them and
re-hashes at the next log-in.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

_TEST_PARAMETERS = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=1,
    memory_cost=8,
    parallelism=1,
)


class Passwords:
    def __init__(self, profile: str = "default") -> None:
        if profile == "test":
            self._hasher = argon2.PasswordHasher.from_parameters(_TEST_PARAMETERS)
        else:
            self._hasher = argon2.PasswordHasher()
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="argon2")
        # A valid hash to verify against when the account does not exist, so that a log-in
        # for an unknown handle costs as much time as one for a known handle. Made on first use.
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with ``password_hash=None`` spends the time, returns False."""
        loop = asyncio.get_running_loop()
        target = password_hash
        if target is None:
            if self._decoy is None:
                self._decoy = await self.hash(secrets.token_urlsafe(16))
            target = self._decoy
        try:
            ok = await loop.run_in_executor(self._pool, self._hasher.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return bool(ok) and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
