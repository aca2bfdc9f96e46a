#!/usr/bin/env python3
"""Sends a direct message to each friend whose safety status is unknown or stale, then exits.

    TSUDOI_TOKEN=tsd_... python examples/roll_call.py --max-age 180

A friend is someone who follows the bot and whom it follows. A status is *unknown* if they
never gave one, *stale* if it is older than ``--max-age`` minutes or older than the start of the
active incident (a "safe" from before the earthquake says nothing about after it). Run it from
cron during an incident; ``--dry-run`` only lists who would be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from protocol.codec import parse_timestamp
from protocol.sdk import Bot, codes, messages

DEFAULT_MESSAGE = "ご無事ですか？ 安否をアプリで教えてください。Are you safe? Please set your safety status."


def why_ask(entry: messages.BoardEntry, cutoff_ms: int) -> str | None:
    """Why this friend should be asked, or None if their status is fresh."""
    if entry.status is None:
        return "no status yet"
    if parse_timestamp(entry.status.created_at) < cutoff_ms:
        return f"last status {entry.status.state} at {entry.status.created_at}"
    return None


async def roll_call(bot: Bot, *, max_age_min: float, message: str, dry_run: bool) -> list[str]:
    """Ask every friend with an unknown or stale status; the handles asked."""
    cutoff_ms = int((time.time() - max_age_min * 60) * 1000)
    if bot.incident is not None:
        cutoff_ms = max(cutoff_ms, parse_timestamp(bot.incident.started_at))
    asked: list[str] = []
    cursor: str | None = None
    while True:
        page = await bot.safety_board(limit=100, cursor=cursor)
        for entry in page.entries:
            reason = why_ask(entry, cutoff_ms)
            if reason is None:
                continue
            print(f"@{entry.user.handle}: {reason}", flush=True)
            if dry_run:
                continue
            try:
                conversation = (await bot.dm_open([entry.user.id])).conversation
                await bot.dm_send(conversation.id, message)
            except (codes.DmNotAllowedError, codes.BlockedError) as refused:
                print(f"  cannot message @{entry.user.handle}: {refused.message}", flush=True)
                continue
            asked.append(entry.user.handle)
        if page.next is None:
            return asked
        cursor = page.next


async def run(args: argparse.Namespace) -> None:
    async with Bot(args.url, args.token) as bot:
        asked = await roll_call(bot, max_age_min=args.max_age, message=args.message, dry_run=args.dry_run)
    print(f"asked {len(asked)} friend(s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="DM every friend whose safety status is unknown or stale.")
    parser.add_argument("--url", default=os.environ.get("TSUDOI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("TSUDOI_TOKEN"), help="or TSUDOI_TOKEN")
    parser.add_argument("--max-age", type=float, default=180, help="minutes after which a status is stale")
    parser.add_argument("--message", default=DEFAULT_MESSAGE)
    parser.add_argument("--dry-run", action="store_true", help="list who would be asked, send nothing")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give the bot's token with --token or TSUDOI_TOKEN")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
