"""Operator tools that change what users see: certify communities, verify people, read reports.

They open the configured storage directly, so they work beside running servers (SQLite's WAL
admits a second writer process; MongoDB is shared anyway). A change shows in every payload read
after it: users and communities are read from storage, not cached.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import orjson

from protocol.codec import format_timestamp

from .config import Settings
from .exits import CommandFailed
from .store import open_storage
from .store.base import IncidentRecord, Storage, StorageError

REPORTS_LIMIT = 100


def add_commands(
    admin_commands: argparse._SubParsersAction[Any],
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
    reports.add_argument("--json", action="store_true", help="print one JSON array of the reports")
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
    bot = admin_commands.add_parser("bot", help="create a bot account, or give a bot a new token")
    bot_steps = bot.add_subparsers(dest="bot_command", metavar="create|token", required=True)
    create = bot_steps.add_parser("create", help="create a bot account and print its token")
    create.add_argument("name", help="the bot's handle (3-20 letters, digits, underscores)")
    create.add_argument("--display-name", help="what people see (default: the handle)")
    create.add_argument("--json", action="store_true", help='print {"user": ..., "token": ...}')
    data_option(create)
    token = bot_steps.add_parser(
        "token", help="revoke a bot's tokens (closing its connections), print a new one"
    )
    token.add_argument("name", help="the bot's handle")
    token.add_argument("--json", action="store_true", help='print {"user": ..., "token": ...}')
    data_option(token)


COMMANDS = ("certify", "verify", "reports", "incident", "bot")


async def open_for_operator(
    settings: Settings, *, create: bool = False, offer_create: bool = False
) -> Storage:
    """The configured storage, for an operator's command; CommandFailed if it cannot be opened.
    ``offer_create``: the command takes ``--create``, so the refusal mentions it.

    Without ``create``, a data folder (or MongoDB database) that holds no Tsudoi database is
    refused, not given a new one: a mistyped ``--data`` would otherwise get an empty database
    that no server reads, and an invite from it that no server honours. ``tsudoi serve``
    creates the database on its first start.
    """
    then = "or add --create to make one" if offer_create else "`tsudoi serve` creates it on first start"
    try:
        if not create:
            await _refuse_a_missing_database(settings, then)
        return await open_storage(settings)
    except StorageError as exc:
        where = "MongoDB" if settings.mongodb_url else str(settings.database_path)
        # pymongo appends its whole topology to a time-out; the reason comes before it.
        reason = str(exc).split(", Topology Description:")[0]
        raise CommandFailed(f"cannot open the storage ({where}): {reason}") from None
    except OSError as exc:  # making the data folder
        raise CommandFailed(f"cannot use {settings.data_dir} as the data folder: {exc.strerror}") from None


async def _refuse_a_missing_database(settings: Settings, then: str) -> None:
    if settings.mongodb_url:
        from .store.mongo import schema_version

        name, version = await schema_version(settings)
        if version is None:
            raise CommandFailed(
                f"no Tsudoi database in MongoDB ({name!r} has no schema): check "
                f"TSUDOI_MONGODB_URL and TSUDOI_MONGODB_DATABASE, {then}"
            )
        return
    path = settings.database_path
    try:
        found = path.is_file()
    except OSError as exc:  # a folder on the way that may not be read
        raise CommandFailed(f"cannot read the data folder {settings.data_dir}: {exc.strerror}") from None
    if not found:
        raise CommandFailed(
            f"no Tsudoi database in {settings.data_dir} (no {path.name} there): "
            f"check --data or TSUDOI_DATA_DIR, {then}"
        )


async def run(settings: Settings, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    store = await open_for_operator(settings)
    try:
        command: Callable[[Storage, argparse.Namespace, Callable[[], int]], Awaitable[int]] = {
            "certify": _certify,
            "verify": _verify,
            "reports": _reports,
            "incident": _incident,
            "bot": _bot,
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
    found = await store.reports(open_only=not args.all, limit=REPORTS_LIMIT)
    if not found and not args.json:
        print("no open reports" if not args.all else "no reports")
        return 0
    rows = []
    for report in found:
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
        rows.append(row)
        if not args.json:
            what = f"post {report.post_id}" if report.post_id else f"@{row['user']}"
            state = "resolved" if report.resolved_ms else "open"
            print(
                f"{report.id}  {row['created_at']}  {state}  @{row['reporter']} reports {what}: {report.reason!r}"
            )
    if args.json:  # one document, so that an empty queue is `[]` rather than no output at all
        print(orjson.dumps(rows).decode())
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


#: Bot tokens last until rotated (``tsudoi admin bot token``), not the 90 days of a log-in.
BOT_TOKEN_TTL_MS = 100 * 365 * 24 * 3600_000
#: Not an argon2 hash: no password ever matches it, so a bot cannot log in with one.
NO_PASSWORD = "!"


async def _bot(store: Storage, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    """Bots have no password and no inviter; their token is printed once and stored hashed.
    A rotated token fails from its next connection on (close 4500); a connection it already
    holds stays open until it closes, as this tool reaches storage, not the servers' bus."""
    from protocol.errors import ProtocolError

    from .domain import present, rules
    from .domain.accounts import TOKEN_PREFIX, token_hash
    from .store.base import HandleTaken, NewUser

    handle = args.name.removeprefix("@")
    if args.bot_command == "create":
        try:
            rules.check_handle(handle)
            name = rules.display_name(args.display_name or handle)
        except ProtocolError as exc:
            print(f"tsudoi: {exc.message}", file=sys.stderr)
            return 2
        if await store.count_users() == 0:
            # The first account becomes the operator through the bootstrap invite, which a
            # server makes only on an empty database: a bot must not take that place.
            print("tsudoi: create the first (operator) account before any bot", file=sys.stderr)
            return 1
        now = now_ms()
        invite = await store.create_invite(inviter_id=None, now_ms=now, ttl_ms=60_000, max_unused=None)
        try:
            user = await store.create_user(
                NewUser(handle, name, NO_PASSWORD, "", bot=True), invite_code=invite.code, now_ms=now
            )
        except HandleTaken:
            print(f"tsudoi: the handle @{handle} is taken", file=sys.stderr)
            return 1
    else:
        found = await store.get_user_by_handle(handle)
        if found is None or not found.bot:
            print(f"tsudoi: no bot @{handle}", file=sys.stderr)
            return 1
        user = found
        await store.revoke_user_sessions(user.id, now_ms())
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await store.create_session(
        user_id=user.id, token_hash=token_hash(token), now_ms=now_ms(), ttl_ms=BOT_TOKEN_TTL_MS
    )
    if args.json:
        print(orjson.dumps({"user": msgspec.to_builtins(present.user(user)), "token": token}).decode())
    else:
        print(f"@{user.handle} ({user.id}): keep this token secret, it is shown only once")
        print(token)
    return 0
