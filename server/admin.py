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
from .store.base import IncidentRecord, Storage

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
    incident = admin_commands.add_parser(
        "incident", help="declare or end an incident: every connected client shows its banner"
    )
    steps = incident.add_subparsers(dest="incident_command", metavar="start|end|show", required=True)
    start = steps.add_parser("start", help="start an incident (one at a time)")
    start.add_argument("--title", required=True, help="what happened, in a line")
    start.add_argument("--area", help="where, in words")
    data_option(start)
    data_option(steps.add_parser("end", help="end the active incident"))
    data_option(steps.add_parser("show", help="print the active incident, if any"))


COMMANDS = ("certify", "verify", "reports", "incident")


async def run(settings: Settings, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    store = await open_storage(settings)
    try:
        command: Callable[[Storage, argparse.Namespace, Callable[[], int]], Awaitable[int]] = {
            "certify": _certify,
            "verify": _verify,
            "reports": _reports,
            "incident": _incident,
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


async def _incident(store: Storage, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    """Running servers notice within seconds (each node polls storage for incidents)."""
    from protocol.errors import ProtocolError

    from .domain import rules

    if args.incident_command == "show":
        active = await store.active_incident()
        print(_describe(active) if active else "no active incident")
        return 0
    if args.incident_command == "end":
        ended = await store.end_incident(now_ms())
        if ended is None:
            print("tsudoi: there is no active incident", file=sys.stderr)
            return 1
        print(f"ended: {_describe(ended)}")
        return 0
    try:
        title = rules.incident_title(args.title)
        area = rules.area(args.area) if args.area else None
    except ProtocolError as exc:
        print(f"tsudoi: {exc.message}", file=sys.stderr)
        return 2
    started = await store.start_incident(title=title, area=area, started_by=None, now_ms=now_ms())
    if started is None:
        print("tsudoi: an incident is already active (end it first)", file=sys.stderr)
        return 1
    print(f"started: {_describe(started)}")
    return 0


def _describe(incident: IncidentRecord) -> str:
    where = f" ({incident.area})" if incident.area else ""
    ended = f", ended {format_timestamp(incident.ended_ms)}" if incident.ended_ms else ""
    return f"{incident.id} {incident.title}{where}, started {format_timestamp(incident.started_ms)}{ended}"
