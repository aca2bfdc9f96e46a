"""Operator tools that change what users see: certify communities, verify people, read reports.

They open the configured storage directly, so they work beside running servers (SQLite's WAL
admits a second writer process; MongoDB is shared anyway). A change shows in every payload read
after it: users and communities are read from storage, not cached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

import orjson

from protocol.codec import format_timestamp

from .config import Settings
from .store import open_storage
from .store.base import Storage

REPORTS_LIMIT = 100


def add_commands(
    admin_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    certify = admin_commands.add_parser(
        "certify", help="certify a community as official (its staff may announce)"
    )
    certify.add_argument("community_id", help="the community's id")
    certify.add_argument("--undo", action="store_true", help="withdraw the certification")
    data_option(certify)
    verify = admin_commands.add_parser("verify", help="give a user the verified badge")
    verify.add_argument("handle", help="@handle or handle")
    verify.add_argument("--undo", action="store_true", help="take the badge away")
    data_option(verify)
    reports = admin_commands.add_parser("reports", help="list open reports (newest first) or resolve one")
    reports.add_argument("--all", action="store_true", help="resolved ones too")
    reports.add_argument("--resolve", metavar="REPORT_ID", help="mark a report resolved")
    reports.add_argument("--json", action="store_true", help="one JSON object per line")
    data_option(reports)


COMMANDS = ("certify", "verify", "reports")


async def run(settings: Settings, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    store = await open_storage(settings)
    try:
        command: Callable[[Storage, argparse.Namespace, Callable[[], int]], Awaitable[int]] = {
            "certify": _certify,
            "verify": _verify,
            "reports": _reports,
        }[args.admin_command]
        return await command(store, args, now_ms)
    finally:
        await store.close()


async def _certify(store: Storage, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    if not await store.set_certified(args.community_id, not args.undo):
        print(f"tsudoi: no community with id {args.community_id}", file=sys.stderr)
        return 1
    community = await store.get_community(args.community_id)
    name = community.name if community else args.community_id
    print(f"{name}: {'no longer certified' if args.undo else 'certified'}")
    return 0


async def _verify(store: Storage, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    handle = args.handle.removeprefix("@")
    user = await store.get_user_by_handle(handle)
    if user is None or not await store.set_verified(user.id, not args.undo):
        print(f"tsudoi: no user @{handle}", file=sys.stderr)
        return 1
    print(f"@{user.handle}: {'no longer verified' if args.undo else 'verified'}")
    return 0


async def _reports(store: Storage, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    if args.resolve:
        if not await store.resolve_report(args.resolve, now_ms()):
            print(f"tsudoi: no open report {args.resolve}", file=sys.stderr)
            return 1
        print(f"report {args.resolve} resolved")
        return 0
    for report in await store.reports(open_only=not args.all, limit=REPORTS_LIMIT):
        reporter = await store.get_user(report.reporter_id)
        target_user = await store.get_user(report.user_id) if report.user_id else None
        row = {
            "id": report.id,
            "created_at": format_timestamp(report.created_ms),
            "reporter": reporter.handle if reporter else report.reporter_id,
            "post_id": report.post_id,
            "user": target_user.handle if target_user else report.user_id,
            "reason": report.reason,
            "resolved_at": format_timestamp(report.resolved_ms) if report.resolved_ms else None,
        }
        if args.json:
            print(orjson.dumps(row).decode())
        else:
            what = f"post {report.post_id}" if report.post_id else f"@{row['user']}"
            state = "resolved" if report.resolved_ms else "open"
            print(
                f"{report.id}  {row['created_at']}  {state}  @{row['reporter']} reports {what}: {report.reason!r}"
            )
    return 0
