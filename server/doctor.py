"""``tsudoi doctor``: check the configured storage and bus, and say what is wrong in plain words.

It reads; it does not create or migrate anything (a data folder with no database is a finding,
not a reason to make one). Each check prints one line, ``ok`` or ``PROBLEM`` with what to do;
the exit status is 0 only when every check passed, else 1. A malformed setting never gets here:
``main`` refuses it first, with status 2.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .config import Settings, redact_url

#: Sharded pub/sub (SSUBSCRIBE/SPUBLISH) arrived in Redis 7.0.
SHARDED_PUBSUB_SINCE = (7, 0)


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def check_sqlite(settings: Settings) -> Finding:
    from .store.sqlite.engine import _migrations

    path = settings.database_path
    try:
        found = path.exists()
    except OSError as exc:  # a folder on the way that may not be read
        return Finding("storage", False, f"cannot read the data folder {settings.data_dir}: {exc.strerror}")
    if not found:
        return Finding(
            "storage", False, f"no SQLite database at {path}: start `tsudoi serve` once, or fix --data"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    except sqlite3.Error as exc:
        return Finding("storage", False, f"cannot read {path}: {exc}")
    latest = max(number for number, _ in _migrations())
    if version < latest:
        return Finding(
            "storage",
            False,
            f"{path} is at schema {version}, this version needs {latest}: start the server to migrate",
        )
    if version > latest:
        return Finding(
            "storage",
            False,
            f"{path} is at schema {version}, newer than this Tsudoi ({latest}): upgrade Tsudoi",
        )
    return Finding(
        "storage", True, f"SQLite {sqlite3.sqlite_version} at {path}, schema {version}, journal {mode}"
    )


async def check_redis(settings: Settings) -> Finding:
    try:
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:  # Settings.validate refuses these first; kept for Settings built in code
        return Finding("bus", False, f"TSUDOI_REDIS_URL is malformed: {exc}")
    try:
        await client.ping()
        info = await client.info("server")
    except (RedisError, OSError) as exc:
        return Finding(
            "bus",
            False,
            f"Redis at {redact_url(settings.redis_url)} does not answer ({exc}): is it running and reachable?",
        )
    finally:
        await client.aclose()
    version = str(info.get("redis_version", "?"))
    if (settings.redis_sharded or settings.redis_cluster) and _version(version) < SHARDED_PUBSUB_SINCE:
        return Finding(
            "bus",
            False,
            f"Redis {version} has no sharded pub/sub (needs 7.0+): upgrade or unset TSUDOI_REDIS_SHARDED",
        )
    mode = info.get("redis_mode", "standalone")
    return Finding("bus", True, f"Redis {version} ({mode}) at {redact_url(settings.redis_url)}")


async def run(settings: Settings, print_line: Callable[[str], None] = print) -> int:
    checks: list[Awaitable[Finding]] = []
    findings: list[Finding] = []
    if settings.mongodb_url:
        from .store.mongo import check as check_mongo

        checks.append(check_mongo(settings))
    else:
        findings.append(check_sqlite(settings))
    if settings.redis_url:
        checks.append(check_redis(settings))
    else:
        findings.append(Finding("bus", True, "in-process (single node; set TSUDOI_REDIS_URL to scale out)"))
    for check in checks:
        findings.append(await check)
    for finding in sorted(findings, key=lambda f: f.name):
        print_line(f"{finding.name:8} {'ok' if finding.ok else 'PROBLEM':8} {finding.detail}")
    return 0 if all(f.ok for f in findings) else 1
