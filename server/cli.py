"""The ``tsudoi`` command: ``serve`` runs a node, ``admin ...`` are operator tools.

Admin commands open the same data as a running server (SQLite in WAL mode admits both), so an
operator can hand out invites without stopping anything.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import msgspec
import orjson
import uvicorn
from starlette.applications import Starlette

from protocol.codec import format_timestamp

from . import __version__
from . import admin as admin_tools
from .config import ConfigError, Settings
from .domain.accounts import Accounts
from .domain.present import invite_url

_SECRET_PATH = re.compile(r"(/i/|/api/invites/)[A-Za-z0-9_-]+")


class _RedactInviteCodes(logging.Filter):
    """Access logs must not carry invite codes (they are capabilities)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsudoi",
        description="Tsudoi (集い): a self-hostable, real-time, chat-first social platform.",
    )
    parser.add_argument("--version", action="version", version=f"tsudoi {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run a server node (embedded SQLite by default)")
    serve.add_argument("--host", help="address to bind (env TSUDOI_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (env TSUDOI_PORT, default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes sharing the port (more than one needs TSUDOI_REDIS_URL)",
    )
    serve.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a worker's inherited socket
    _data_option(serve)

    doctor = commands.add_parser(
        "doctor", help="check the configured storage and bus (Redis, MongoDB) and say what is wrong"
    )
    _data_option(doctor)

    admin = commands.add_parser("admin", help="operator tools, safe to use while the server runs")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=True)
    invite = admin_commands.add_parser("invite", help="print a fresh invite URL")
    invite.add_argument("--json", action="store_true", help="print JSON: code, url, expires_at")
    _data_option(invite)
    seed = admin_commands.add_parser(
        "seed", help="make many accounts with sessions and a follow graph, for load tests"
    )
    seed.add_argument("--users", type=int, required=True, help="how many accounts")
    seed.add_argument("--prefix", default="load", help="handle prefix (handles: PREFIX0, PREFIX1, ...)")
    seed.add_argument("--star", action="store_true", help="everyone follows the first account")
    seed.add_argument("--degree", type=int, default=0, help="each follows this many random others")
    seed.add_argument("--out", type=Path, required=True, help="JSON file for the tokens (written 0600)")
    _data_option(seed)
    admin_tools.add_commands(admin_commands, _data_option)
    return parser


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="data folder (env TSUDOI_DATA_DIR, default ./tsudoi-data)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=args.data,
        )
    except ConfigError as exc:
        print(f"tsudoi: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        if args.workers < 1:
            print("tsudoi: --workers must be at least 1", file=sys.stderr)
            return 2
        if args.workers > 1:
            if not settings.redis_url:
                print(
                    "tsudoi: --workers needs Redis (set TSUDOI_REDIS_URL): without a shared bus a "
                    "post would reach only the followers connected to the worker that stored it.",
                    file=sys.stderr,
                )
                return 2
            from .supervisor import run_workers

            asyncio.run(_with_accounts(settings, _print_bootstrap_invite))
            return run_workers(settings, args.workers)
        return serve(settings, fd=args.fd)
    if args.command == "doctor":
        from . import doctor

        return asyncio.run(doctor.run(settings))
    if args.admin_command == "seed":
        return asyncio.run(_seed(settings, args))
    if args.admin_command in admin_tools.COMMANDS:
        from .app import now_ms

        return asyncio.run(admin_tools.run(settings, args, now_ms))
    return asyncio.run(_with_accounts(settings, lambda s, a: _print_invite(s, a, as_json=args.json)))


class _DrainingServer(uvicorn.Server):
    """Uvicorn would close WebSockets with 1012 at shut-down; ours get the documented 4000 first."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from .app import drain

        app = self.config.loaded_app
        while not isinstance(app, Starlette):  # unwrap uvicorn's middleware
            app = app.app
        await drain(app)
        await super().shutdown(sockets)


def uvicorn_config(settings: Settings, *, fd: int | None = None, bootstrap: bool = True) -> uvicorn.Config:
    """How a node runs under uvicorn: the one configuration serve and the measuring tools share."""
    from protocol.codec import MAX_FRAME_BYTES

    from .app import create_app
    from .gateway.direct import DirectProtocol

    return uvicorn.Config(
        create_app(settings, bootstrap=bootstrap),
        host=settings.host,
        port=settings.port,
        fd=fd,
        # uvicorn's sans-I/O WebSocket protocol, plus a synchronous writer for the fan-out path.
        ws=DirectProtocol,
        ws_max_size=MAX_FRAME_BYTES,
        # No permessage-deflate: a zlib context per connection costs tens of KiB of memory, and
        # compressed frames differ per recipient, which would undo encode-once fan-out.
        ws_per_message_deflate=False,
        # Liveness is the protocol's own heartbeat (see PROTOCOL.md), not WebSocket pings.
        ws_ping_interval=None,
        ws_ping_timeout=None,
        lifespan="on",
        log_config=None,
        timeout_graceful_shutdown=5,
    )


def serve(settings: Settings, *, fd: int | None = None) -> int:
    """Run one node; with ``fd``, as a worker on a socket its supervisor bound."""
    import gc

    from .gateway.direct import CONNECTION_LOGGER

    logging.getLogger("uvicorn.access").addFilter(_RedactInviteCodes())
    # Three INFO records for every WebSocket that opens and closes (about 24 µs per connection, 3 % of
    # the event loop in a reconnect storm; BENCHMARKS.md): keep only the warnings and errors
    # about connections (a fault in the app is still logged). Start-up messages are unaffected.
    logging.getLogger(CONNECTION_LOGGER).setLevel(logging.WARNING)
    # CPython's cyclic garbage collector at its default thresholds (700, 10, 10) made 55 full
    # collections in a 10,000-client reconnect storm, each walking every object of every
    # connection: about half the node's CPU time (BENCHMARKS.md). A young generation of 10,000
    # objects instead of 700 lets a handshake's objects die young rather than be promoted and
    # walked again; full collections still come once the old generation has grown by a quarter,
    # as CPython has it, so cyclic garbage is still freed.
    gc.set_threshold(10_000, 10, 10)
    server = _DrainingServer(uvicorn_config(settings, fd=fd, bootstrap=fd is None))
    server.run()
    return 0 if server.started else 1


async def _with_accounts(settings: Settings, use: Callable[[Settings, Accounts], Awaitable[int]]) -> int:
    """Run an operator action on the configured storage (safe beside a running server)."""
    from .app import now_ms
    from .bus.local import LocalBus
    from .passwords import Passwords
    from .publisher import Publisher
    from .store import open_storage

    store = await open_storage(settings)
    try:
        accounts = Accounts(
            store, Passwords(settings.argon2_profile), Publisher(LocalBus()), settings, now_ms
        )
        return await use(settings, accounts)
    finally:
        await store.close()


async def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from .app import now_ms
    from .passwords import Passwords
    from .seed import Plan, seed
    from .store import open_storage

    plan = Plan(users=args.users, prefix=args.prefix, star=args.star, degree=args.degree)
    store = await open_storage(settings)
    try:
        result = await seed(
            store, Passwords(settings.argon2_profile), plan, args.out, now_ms, settings.session_ttl_ms
        )
    except ValueError as exc:
        print(f"tsudoi: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(f"seeded {len(result.accounts)} accounts and {len(result.follows)} follows; tokens in {args.out}")
    return 0


async def _print_invite(settings: Settings, accounts: Accounts, *, as_json: bool) -> int:
    invite = await accounts.operator_invite()
    url = invite_url(settings.base_url, invite.code)
    if as_json:
        out = {"code": invite.code, "url": url, "expires_at": format_timestamp(invite.expires_ms)}
        print(orjson.dumps(msgspec.to_builtins(out)).decode())
    else:
        print(url)
    return 0


async def _print_bootstrap_invite(settings: Settings, accounts: Accounts) -> int:
    invite = await accounts.bootstrap_invite()
    if invite is not None:
        from .app import print_bootstrap_invite

        print_bootstrap_invite(invite_url(settings.base_url, invite.code))
    return 0
