"""Operator tools that change what users see: certify communities, verify people, read reports,
declare incidents, write the "during a disaster" page, make bots and give them new tokens.

They open the configured storage as a second process beside running servers (SQLite's WAL admits
a second writer; MongoDB is shared anyway) and go through the same domain services as the
gateway (:func:`operator_domain`), so an operator's change is checked, stored and told as the
same change made from a client is: open clients learn of a verified badge or a certification at
once, an incident reaches every node's clients, and a bot's new token closes the live
connections of its old ones. What the services publish leaves this process through the bus the
servers share when Redis is configured, and through storage otherwise, which every node reads
every ``TSUDOI_OPERATOR_POLL_MS`` (see :mod:`server.relay` for the trade-off).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from protocol.codec import format_timestamp
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import Incident

from .config import Settings
from .exits import PROBLEM, USAGE, CommandFailed
from .store import open_storage
from .store.base import Storage, StorageError

if TYPE_CHECKING:
    from .domain import Domain

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
    page = admin_commands.add_parser(
        "disaster-page",
        help='write, show or clear the "during a disaster" page clients show while an incident lasts',
        description='The "during a disaster" page, in Markdown (raw HTML is shown as text; links '
        "only https, http, mailto, tel or within the app; images as their alt text). Until one is "
        "written, a built-in page (Japanese and English) points at the official services.",
    )
    page_steps = page.add_subparsers(dest="page_command", metavar="set|show|clear", required=True)
    page_set = page_steps.add_parser("set", help="write the page from a Markdown file (- for stdin)")
    page_set.add_argument("file", type=Path, metavar="FILE.md", help="UTF-8 Markdown, at most 32 KiB")
    data_option(page_set)
    page_show = page_steps.add_parser("show", help="print the page's Markdown (the built-in one if none)")
    page_show.add_argument("--html", action="store_true", help="print the HTML clients are given instead")
    data_option(page_show)
    data_option(page_steps.add_parser("clear", help="remove the operator's page: the built-in one is shown"))
    bot = admin_commands.add_parser("bot", help="create a bot account, or give a bot a new token")
    bot_steps = bot.add_subparsers(dest="bot_command", metavar="create|token", required=True)
    create = bot_steps.add_parser("create", help="create a bot account and print its token")
    create.add_argument("name", help="the bot's handle (3-20 letters, digits, underscores)")
    create.add_argument("--display-name", help="what people see (default: the handle)")
    create.add_argument("--json", action="store_true", help='print {"user": ..., "token": ...}')
    data_option(create)
    token = bot_steps.add_parser(
        "token", help="revoke a bot's tokens (closing its live connections), print a new one"
    )
    token.add_argument("name", help="the bot's handle")
    token.add_argument("--json", action="store_true", help='print {"user": ..., "token": ...}')
    data_option(token)

    finish = admin_commands.add_parser(
        "finish-deletions",
        help="finish account deletions a server left part way (servers also do it every few minutes)",
    )
    data_option(finish)


COMMANDS = ("certify", "verify", "reports", "incident", "disaster-page", "bot", "finish-deletions")


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


@asynccontextmanager
async def operator_domain(
    settings: Settings,
    now_ms: Callable[[], int],
    *,
    create: bool = False,
    offer_create: bool = False,
) -> AsyncIterator[Domain]:
    """The domain services a node builds, over the configured storage, for one operator's
    command; CommandFailed if the storage cannot be opened (see :func:`open_for_operator`).

    What the services publish is held (:class:`server.relay.OperatorBus`) and handed on when
    the command is done, to Redis when it is configured, else to storage for the nodes to pick
    up. The command has no connections: presence is an in-process stand-in it never touches."""
    from .domain import Domain
    from .passwords import Passwords
    from .presence.local import LocalPresence
    from .publisher import Publisher
    from .relay import OperatorBus

    store = await open_for_operator(settings, create=create, offer_create=offer_create)
    bus, presence, passwords = OperatorBus(), LocalPresence(), Passwords(settings.argon2_profile)
    try:
        yield Domain.build(store, Publisher(bus), passwords, settings, now_ms, presence)
        # Also after a command that refused: what it published before refusing has happened.
    finally:
        try:
            warning = await bus.send(settings, store, now_ms())
            if warning:
                print(f"tsudoi: {warning}", file=sys.stderr, flush=True)
        finally:
            passwords.close()
            await presence.close()
            await store.close()


async def run(settings: Settings, args: argparse.Namespace, now_ms: Callable[[], int]) -> int:
    command: Callable[[Domain, argparse.Namespace], Awaitable[int]] = {
        "certify": _certify,
        "verify": _verify,
        "reports": _reports,
        "incident": _incident,
        "disaster-page": _disaster_page,
        "bot": _bot,
        "finish-deletions": _finish_deletions,
    }[args.admin_command]
    async with operator_domain(settings, now_ms) as domain:
        try:
            return await command(domain, args)
        except ProtocolError as exc:  # the domain refused: the same rule a client meets
            raise CommandFailed(_refusal(exc), _status(exc)) from None


#: Refusals that are a mistake on the command line whatever the data: a handle, a display name,
#: a title or an area out of bounds.
_USAGE_CODES = frozenset(
    {ErrorCode.HANDLE_INVALID, ErrorCode.DISPLAY_NAME_INVALID, ErrorCode.TEXT_EMPTY, ErrorCode.TEXT_TOO_LONG}
)
#: The domain's words for a client, put as an operator's command needs them.
_OPERATOR_WORDS = {
    ErrorCode.INCIDENT_ACTIVE: "an incident is already active (end it first)",
    ErrorCode.NO_INCIDENT: "there is no active incident",
}


def _status(exc: ProtocolError) -> int:
    return USAGE if exc.code in _USAGE_CODES or exc.code.value.endswith("_invalid") else PROBLEM


def _refusal(exc: ProtocolError) -> str:
    return _OPERATOR_WORDS.get(exc.code, exc.message)


async def _certify(domain: Domain, args: argparse.Namespace) -> int:
    community = await domain.communities.certify(args.community_id, not args.undo)
    if community is None:
        raise CommandFailed(f"no community with id {args.community_id}")
    print(f"{community.name}: {'no longer certified' if args.undo else 'certified'}")
    return 0


async def _verify(domain: Domain, args: argparse.Namespace) -> int:
    user = await domain.accounts.set_verified(args.handle, not args.undo)
    if user is None:
        raise CommandFailed(f"no user @{args.handle.removeprefix('@')}")
    print(f"@{user.handle}: {'no longer verified' if args.undo else 'verified'}")
    return 0


async def _finish_deletions(domain: Domain, args: argparse.Namespace) -> int:
    from .domain import farewell

    finished = await farewell.finish_deletions(domain)
    print(f"{finished} account deletion(s) finished")
    return 0


async def _reports(domain: Domain, args: argparse.Namespace) -> int:
    if args.resolve:
        if not await domain.relations.resolve_report(args.resolve):
            raise CommandFailed(f"no open report {args.resolve}")
        print(f"report {args.resolve} resolved")
        return 0
    found = await domain.relations.reports(open_only=not args.all, limit=REPORTS_LIMIT)
    if not found and not args.json:
        print("no open reports" if not args.all else "no reports")
        return 0
    rows = []
    for report, reporter, target_user in found:
        row = {
            "id": report.id,
            "created_at": format_timestamp(report.created_ms),
            "reporter": reporter.handle if reporter else report.reporter_id,
            "post_id": report.post_id,
            "user": target_user.handle if target_user else report.user_id,
            "category": report.category,
            "reason": report.reason,
            "resolved_at": format_timestamp(report.resolved_ms) if report.resolved_ms else None,
        }
        rows.append(row)
        if not args.json:
            what = f"post {report.post_id}" if report.post_id else f"@{row['user']}"
            state = "resolved" if report.resolved_ms else "open"
            # The category first, in brackets: what an operator sorts a queue by at a glance.
            kind = f"[{report.category}] " if report.category else ""
            print(
                f"{report.id}  {row['created_at']}  {state}  @{row['reporter']} reports {what}: "
                f"{kind}{report.reason!r}"
            )
    if args.json:  # one document, so that an empty queue is `[]` rather than no output at all
        print(orjson.dumps(rows).decode())
    return 0


async def _incident(domain: Domain, args: argparse.Namespace) -> int:
    """Every node's clients are told at once through Redis, or within a poll without it."""
    incidents = domain.incidents
    if args.incident_command == "show":
        active = await incidents.current()
        print(_describe(active) if active else "no active incident")
        return 0
    if args.incident_command == "end":
        print(f"ended: {_describe(await incidents.finish())}")
        return 0
    started = await incidents.declare(args.title, args.area, started_by=None)
    print(f"started: {_describe(started)}")
    return 0


def _describe(incident: Incident) -> str:
    where = f" ({incident.area})" if incident.area else ""
    ended = f", ended {incident.ended_at}" if incident.ended_at else ""
    return f"{incident.id} {incident.title}{where}, started {incident.started_at}{ended}"


async def _disaster_page(domain: Domain, args: argparse.Namespace) -> int:
    """Every node serves the new page at its next request (it reads storage each time)."""
    from .domain import disaster_page

    pages = domain.disaster_page
    if args.page_command == "show":
        page = await pages.get()
        written = "the built-in page" if page.default else f"written {format_timestamp(page.updated_ms or 0)}"
        print(f"tsudoi: {written}", file=sys.stderr, flush=True)  # stdout stays the page alone
        print(page.html if args.html else page.markdown, end="" if args.html else "\n")
        return 0
    if args.page_command == "clear":
        cleared = await pages.clear()
        print(
            "cleared: the built-in page is shown"
            if cleared
            else "no page was written: the built-in page is shown"
        )
        return 0
    record = await pages.set(_read_page(args.file, disaster_page.MAX_BYTES))
    for what in disaster_page.dropped(record.markdown):
        print(f"tsudoi: note: not shown as written: {what}", file=sys.stderr, flush=True)
    print(
        f"disaster page set ({len(record.markdown.encode())} bytes), written {format_timestamp(record.updated_ms)}"
    )
    return 0


def _read_page(file: Path, limit: int) -> str:
    """The file's text (``-``: standard input); CommandFailed for a file that cannot be read or
    is not UTF-8. Reads a little over ``limit`` at most, so that a wrong file (a video) is
    refused without reading it all; the page's own rules are the domain's."""
    try:
        if str(file) == "-":
            raw = sys.stdin.buffer.read(limit * 4 + 1)
        else:
            with file.open("rb") as handle:
                raw = handle.read(limit * 4 + 1)
    except OSError as exc:
        raise CommandFailed(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(raw) > limit * 4:
        raise CommandFailed(f"{file} is far over the page's {limit} bytes", USAGE)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandFailed(f"{file} is not UTF-8 text (byte {exc.start})", USAGE) from None


async def _bot(domain: Domain, args: argparse.Namespace) -> int:
    """Bots have no password and no inviter; their token is printed once and stored hashed. A
    new token revokes the old ones: their next connection fails (4500), and a connection one
    holds now is closed (4501), on every node."""
    from .domain import present

    if args.bot_command == "create":
        made = await domain.accounts.create_bot(args.name, args.display_name)
    else:
        found = await domain.accounts.new_bot_token(args.name)
        if found is None:
            raise CommandFailed(f"no bot @{args.name.removeprefix('@')}")
        made = found
    user, token = made.user, made.token
    if args.json:
        print(orjson.dumps({"user": msgspec.to_builtins(present.user(user)), "token": token}).decode())
    else:
        print(f"@{user.handle} ({user.id}): keep this token secret, it is shown only once")
        print(token)
    return 0
