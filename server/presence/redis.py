"""The Redis presence: live connections and last-active/last-gone times shared by every node.

Keys (``P`` is the prefix, ``s`` the user's shard: CRC-32 of the user id modulo ``shards``)::

    {P:s}:conns:<user id>   ZSET  connection id → expiry ms        (expires after a quiet week)
    {P:s}:times:<user id>   HASH  active → ms, gone → ms           (expires after a quiet week)
    {P:s}:reap              ZSET  "<user id> <connection id>" → expiry ms

Why this shape:

- Everything about a user and the reap index that lists their connections hash to one slot (the
  ``{P:s}`` hash tag), so each change is one Lua script over declared keys, atomic on a single
  Redis and on Redis Cluster alike, and the per-user ZSET and the reap index can never disagree.
- The reap index is split in ``shards`` ZSETs so that a cluster spreads presence over its nodes:
  256 shards by default on a cluster (each tag lands on a slot of its own), 1 on a single Redis.
  A user's shard comes from CRC-32, not Python's ``hash()``, which differs between processes.
- Expired connections stay registered until a reaper removes them (``connected`` does not drop
  them), so every expired connection is returned by :meth:`RedisPresence.reap` exactly once;
  meanwhile they do not count, and ``info`` already reports the user gone at the latest expiry.
- Times are raise-only and expire a week after their last write, so users who never come back do
  not stay in memory; storage's ``last_seen_ms`` is the durable record. The conns ZSET gets the
  same TTL as a safety net (reaping removes it anyway, and live ones are refreshed).

Scripts (loaded once per server with SCRIPT LOAD, called with EVALSHA, reloaded on NOSCRIPT after
a restart or failover) and the round trips of each method:

- ``connected`` / ``disconnected``: one script each. Came online = no *live* entry before the
  ZADD; gone = the removed entry was registered and no live one is left.
- ``refresh``, ``activity``, ``info``: one script call per shard and chunk of at most
  ``_CHUNK`` users, all pipelined: one round trip (one per Redis node on a cluster), and no single
  script holds Redis for long.
- ``reap``: ZCOUNT of expired entries in every shard (one pipelined round trip; the only one when
  nothing expired), then the oldest ``limit`` of them are read (ZRANGEBYSCORE) and handed to one
  script per shard, which removes each only if it is still in the reap index and still expired.
  Scripts run one at a time, so of any number of nodes reaping at once exactly one removes (and
  returns) each connection; a refreshed one is left alone.

User ids must not contain a space (they are ULIDs): the reap index member splits at the first one.

Failures: every method raises :class:`~server.presence.PresenceUnavailable` when Redis cannot be
reached or refuses the command. Nothing is retried automatically: a script whose reply was lost
may have run, and running ``connected``, ``disconnected`` or ``reap`` again would answer
differently (a came-online, a last-gone or reaped connections would be lost without a trace).
Callers degrade and try again at the next tick; presence rebuilds itself from refreshes.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from . import PresenceUnavailable
from .base import PresenceInfo

__all__ = ["CLUSTER_SHARDS", "RedisPresence"]

#: Reap-index shards on a Redis Cluster: enough hash tags to spread presence evenly over the
#: cluster's nodes; each reap asks every shard for a count, one pipelined ZCOUNT apiece.
CLUSTER_SHARDS = 256
#: Last-active/last-gone times (and conns ZSETs) expire this long after their last write.
RETENTION_MS = 7 * 24 * 60 * 60 * 1000
#: At most this many users (or connections) per script call.
_CHUNK = 256

Command = tuple[str | int, ...]
T = TypeVar("T")


class _Script:
    def __init__(self, body: str) -> None:
        self.body = _RAISE + body
        self.sha = hashlib.sha1(self.body.encode(), usedforsecurity=False).hexdigest()

    def call(self, keys: Sequence[str], args: Sequence[str | int]) -> Command:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


# Raise a time field of a user's times HASH (never lower it), and keep the HASH a week longer.
_RAISE = """
local function raise(key, field, value, retention)
  local old = redis.call('HGET', key, field)
  if not old or tonumber(old) < tonumber(value) then
    redis.call('HSET', key, field, value)
  end
  redis.call('PEXPIRE', key, retention)
end
"""

# KEYS: reap index, conns, times. ARGV: member, connection id, now, expiry, retention.
_CONNECTED = _Script("""
local live = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[3], '+inf')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
raise(KEYS[3], 'active', ARGV[3], ARGV[5])
if live == 0 then return 1 end
return 0
""")

# KEYS: reap index, conns, times. ARGV: member, connection id, now, retention.
_DISCONNECTED = _Script("""
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[3], '+inf') > 0 then return 0 end
raise(KEYS[3], 'gone', ARGV[3], ARGV[4])
return 1
""")

# KEYS: reap index, then the conns key of each pair.
# ARGV: expiry, retention, then connection id and member of each pair.
_REFRESH = _Script("""
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2 * i - 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2 * i])
end
return 0
""")

# KEYS: the times key of each user. ARGV: retention, then each user's time.
_ACTIVITY = _Script("""
for i = 1, #KEYS do
  raise(KEYS[i], 'active', ARGV[i + 1], ARGV[1])
end
return 0
""")

# KEYS: conns and times of each user. ARGV: now.
# Returns live count, last active, last gone (false for none) of each user in turn.
_INFO = _Script("""
local out = {}
for i = 1, #KEYS / 2 do
  local conns, times = KEYS[2 * i - 1], KEYS[2 * i]
  local live = redis.call('ZCOUNT', conns, '(' .. ARGV[1], '+inf')
  local gone = redis.call('HGET', times, 'gone')
  if live == 0 then
    -- Expired, not reaped yet: gone at the latest expiry, as reap will record.
    local latest = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')[2]
    if latest and (not gone or tonumber(gone) < tonumber(latest)) then gone = latest end
  end
  out[3 * i - 2] = live
  out[3 * i - 1] = redis.call('HGET', times, 'active')
  out[3 * i] = gone
end
return out
""")

# KEYS: the shard's reap index, then conns and times of each candidate.
# ARGV: now, retention, then member and connection id of each candidate.
# Returns the (1-based) numbers of the candidates this call removed.
_REAP = _Script("""
local won = {}
for i = 1, (#KEYS - 1) / 2 do
  local member, conns = ARGV[2 * i + 1], KEYS[2 * i]
  local expiry = redis.call('ZSCORE', KEYS[1], member)
  if expiry and tonumber(expiry) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', conns, ARGV[2 * i + 2])
    if redis.call('ZCOUNT', conns, '(' .. ARGV[1], '+inf') == 0 then
      raise(KEYS[2 * i + 1], 'gone', expiry, ARGV[2])
    end
    won[#won + 1] = i
  end
end
return won
""")

_SCRIPTS = (_CONNECTED, _DISCONNECTED, _REFRESH, _ACTIVITY, _INFO, _REAP)


class RedisPresence:
    """Presence port over Redis or Redis Cluster. Connects on first use, so a Redis that is down
    at start-up only makes calls raise :class:`PresenceUnavailable` until it is back."""

    def __init__(
        self,
        url: str,
        *,
        cluster: bool = False,
        prefix: str = "tsudoi:presence",
        shards: int | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"the presence key prefix must not contain braces: {prefix!r}")
        self._shards = shards or (CLUSTER_SHARDS if cluster else 1)
        if self._shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        self._tags = [f"{{{prefix}:{shard}}}" for shard in range(self._shards)]
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),  # see the module docstring: scripts are not idempotent
        }
        self._client: aioredis.Redis | RedisCluster = (
            RedisCluster.from_url(url, **options) if cluster else aioredis.from_url(url, **options)
        )

    # --- the port ---------------------------------------------------------------------------

    async def connected(self, user_id: str, connection_id: str, *, now_ms: int, ttl_ms: int) -> bool:
        tag = self._tag(user_id)
        (came_online,) = await self._run(
            [
                _CONNECTED.call(
                    [f"{tag}:reap", f"{tag}:conns:{user_id}", f"{tag}:times:{user_id}"],
                    [f"{user_id} {connection_id}", connection_id, now_ms, now_ms + ttl_ms, RETENTION_MS],
                )
            ]
        )
        return bool(came_online)

    async def disconnected(self, user_id: str, connection_id: str, *, now_ms: int) -> bool:
        """True if the connection was registered, even if expired but not reaped yet, and no live
        one is left: nobody else would tell (reap will not return what is forgotten here)."""
        tag = self._tag(user_id)
        (gone,) = await self._run(
            [
                _DISCONNECTED.call(
                    [f"{tag}:reap", f"{tag}:conns:{user_id}", f"{tag}:times:{user_id}"],
                    [f"{user_id} {connection_id}", connection_id, now_ms, RETENTION_MS],
                )
            ]
        )
        return bool(gone)

    async def refresh(self, connections: list[tuple[str, str]], *, now_ms: int, ttl_ms: int) -> None:
        calls = []
        for shard, pairs in self._by_shard(connections, key=lambda pair: pair[0]):
            for chunk in _chunks(pairs):
                tag = self._tags[shard]
                keys = [f"{tag}:reap"] + [f"{tag}:conns:{user}" for user, _ in chunk]
                args: list[str | int] = [now_ms + ttl_ms, RETENTION_MS]
                for user, connection in chunk:
                    args += [connection, f"{user} {connection}"]
                calls.append(_REFRESH.call(keys, args))
        await self._run(calls)

    async def activity(self, last_active: dict[str, int]) -> None:
        calls = []
        for shard, users in self._by_shard(list(last_active), key=str):
            for chunk in _chunks(users):
                keys = [f"{self._tags[shard]}:times:{user}" for user in chunk]
                calls.append(_ACTIVITY.call(keys, [RETENTION_MS, *(last_active[user] for user in chunk)]))
        await self._run(calls)

    async def info(self, user_ids: list[str], *, now_ms: int) -> dict[str, PresenceInfo]:
        calls, asked = [], []
        for shard, users in self._by_shard(list(dict.fromkeys(user_ids)), key=str):
            for chunk in _chunks(users):
                tag = self._tags[shard]
                keys = [key for user in chunk for key in (f"{tag}:conns:{user}", f"{tag}:times:{user}")]
                calls.append(_INFO.call(keys, [now_ms]))
                asked.append(chunk)
        result = {}
        for chunk, reply in zip(asked, await self._run(calls), strict=True):
            for n, user in enumerate(chunk):
                live, active, gone = reply[3 * n : 3 * n + 3]
                result[user] = PresenceInfo(int(live), _ms(active), _ms(gone))
        return result

    async def reap(self, *, now_ms: int, limit: int) -> list[tuple[str, str]]:
        if limit < 1:
            return []
        reap_keys = [f"{tag}:reap" for tag in self._tags]
        counts = await self._run([("ZCOUNT", key, "-inf", now_ms) for key in reap_keys])
        # Start at a random shard, so that nodes reaping a large backlog at once mostly take from
        # different shards instead of racing for the same entries.
        start, wanted, left = random.randrange(self._shards), {}, limit
        for step in range(self._shards):
            shard = (start + step) % self._shards
            if counts[shard] and left:
                wanted[shard] = min(int(counts[shard]), left)
                left -= wanted[shard]
        if not wanted:
            return []
        shards = list(wanted)
        found = await self._run(
            [("ZRANGEBYSCORE", reap_keys[s], "-inf", now_ms, "LIMIT", 0, wanted[s]) for s in shards]
        )
        calls, candidates = [], []
        for shard, members in zip(shards, found, strict=True):
            if not members:
                continue  # reaped by another node since the count
            tag, pairs = self._tags[shard], [_split(member) for member in members]
            keys = [reap_keys[shard]]
            args: list[str | int] = [now_ms, RETENTION_MS]
            for member, (user, connection) in zip(members, pairs, strict=True):
                keys += [f"{tag}:conns:{user}", f"{tag}:times:{user}"]
                args += [member, connection]
            calls.append(_REAP.call(keys, args))
            candidates.append(pairs)
        won = await self._run(calls)
        return [pairs[n - 1] for pairs, numbers in zip(candidates, won, strict=True) for n in numbers]

    async def close(self) -> None:
        await self._client.aclose()

    # --- plumbing ---------------------------------------------------------------------------

    def _tag(self, user_id: str) -> str:
        return self._tags[zlib.crc32(user_id.encode()) % self._shards]

    def _by_shard(self, items: list[T], *, key: Callable[[T], str]) -> list[tuple[int, list[T]]]:
        groups: dict[int, list[T]] = {}
        for item in items:
            groups.setdefault(zlib.crc32(key(item).encode()) % self._shards, []).append(item)
        return list(groups.items())

    async def _run(self, commands: list[Command]) -> list[Any]:
        """Send ``commands`` pipelined (one round trip; on a cluster, one per node, concurrently)
        and return their replies. Scripts Redis does not know (restarted, failed over) are loaded
        and only those commands sent again: the others ran."""
        if not commands:
            return []
        replies = await self._send(commands)
        unknown = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if unknown:
            try:
                for script in _SCRIPTS:
                    await self._client.script_load(script.body)
            except (RedisError, OSError, TimeoutError) as exc:
                raise PresenceUnavailable(f"redis presence: {exc}") from exc
            for n, reply in zip(unknown, await self._send([commands[n] for n in unknown]), strict=True):
                replies[n] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise PresenceUnavailable(f"redis presence: {reply}") from reply
        return replies

    async def _send(self, commands: list[Command]) -> list[Any]:
        try:
            pipe = self._client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))
        except (RedisError, OSError, TimeoutError) as exc:
            raise PresenceUnavailable(f"redis presence: {exc}") from exc


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _split(member: str) -> tuple[str, str]:
    user, _, connection = member.partition(" ")
    return user, connection


def _ms(value: str | None) -> int | None:
    return None if value is None else int(float(value))
