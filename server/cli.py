"""The ``tsudoi`` command: ``serve`` runs a node, ``admin ...`` are operator tools.

Admin commands open the same data as a running server (SQLite in WAL mode admits both), so an
operator can hand out invites without stopping anything. A mistake ends in one line on stderr
and a documented exit status (:mod:`server.exits`), never a traceback; ``--debug`` (or
``TSUDOI_DEBUG=1``) shows the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import msgspec
import orjson
import uvicorn
from starlette.applications import Starlette

from protocol.codec import format_timestamp

from . import __version__
from . import admin as admin_tools
from .clock import now_ms
from .config import ConfigError, Settings, bounds, in_range, retired
from .domain.accounts import Accounts
from .domain.present import invite_url
from .exits import OK, PROBLEM, USAGE, CommandFailed
from .store.base import StorageError

_SECRET_PATH = re.compile(r"(/i/|/api/invites/)[A-Za-z0-9_-]+")


class _RedactInviteCodes(logging.Filter):
    """Access logs must not carry invite codes (they are capabilities)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        return True


EXIT_STATUSES = """\
exit status: 0 done (serve: stopped by SIGTERM/SIGINT after a clean drain); 1 a problem was
found (no database in the data folder, storage unreachable, unknown id or handle, handle taken,
port in use, a failed doctor check); 2 a usage or configuration mistake (bad flag, a number out
of range, a malformed TSUDOI_* value). Errors are one line on stderr; --debug or TSUDOI_DEBUG=1
adds the traceback of an unexpected error."""


def _whole(name: str, minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [minimum, maximum], else a usage error naming ``name``."""

    def parse(raw: str) -> int:
        try:
            return in_range(name, int(raw), minimum, maximum)
        except ValueError as exc:  # ConfigError is a ValueError
            message = str(exc) if isinstance(exc, ConfigError) else f"must be a whole number, not {raw!r}"
            raise argparse.ArgumentTypeError(message.removeprefix(f"{name} ")) from None

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (argparse prints the whole usage first) and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tsudoi",
        description="Tsudoi (集い): a self-hostable, real-time, chat-first social platform.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tsudoi {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error (or TSUDOI_DEBUG=1)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run a server node (embedded SQLite by default)",
        description="Run a node; it creates the database on first start. SIGTERM or SIGINT closes "
        "every WebSocket with 4000 and exits 0.",
    )
    serve.add_argument("--host", help="address to bind (env TSUDOI_HOST, default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_whole("--port", *bounds("port")),
        help="port to bind, 1-65535 (env TSUDOI_PORT, default 8000)",
    )
    serve.add_argument(
        "--workers",
        type=_whole("--workers", 1, 1024),
        default=1,
        help="gateway processes sharing the port (more than one needs TSUDOI_REDIS_URL)",
    )
    serve.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a worker's inherited socket
    _data_option(serve)

    doctor = commands.add_parser(
        "doctor",
        help="check the configured storage, blob store and bus (Redis, MongoDB) and say what is wrong",
    )
    _data_option(doctor)

    admin = commands.add_parser(
        "admin",
        help="operator tools, safe to use while the server runs",
        description="Operator tools, safe to use while the server runs. They refuse a data folder "
        "that holds no database (a mistyped --data); invite and seed create one with --create.",
    )
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=True)
    invite = admin_commands.add_parser("invite", help="print a fresh invite URL")
    invite.add_argument("--json", action="store_true", help="print JSON: code, url, expires_at")
    _data_option(invite, creates=True)
    seed = admin_commands.add_parser(
        "seed", help="make many accounts with sessions and a follow graph, for load tests"
    )
    seed.add_argument(
        "--users", type=_whole("--users", 1, 10_000_000), required=True, help="how many accounts"
    )
    seed.add_argument("--prefix", default="load", help="handle prefix (handles: PREFIX0, PREFIX1, ...)")
    seed.add_argument("--star", action="store_true", help="everyone follows the first account")
    seed.add_argument(
        "--degree", type=_whole("--degree", 0, 10_000), default=0, help="each follows this many random others"
    )
    seed.add_argument("--out", type=Path, required=True, help="JSON file for the tokens (written 0600)")
    _data_option(seed, creates=True)
    admin_tools.add_commands(admin_commands, _data_option)
    return parser


def _data_option(parser: argparse.ArgumentParser, *, creates: bool = False) -> None:
    """``--data``; with ``creates``, also ``--create`` (admin commands refuse a folder with no
    database unless told to make one; see :func:`server.admin.open_for_operator`)."""
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="data folder (env TSUDOI_DATA_DIR, default ./tsudoi-data)",
    )
    if creates:
        parser.add_argument(
            "--create", action="store_true", help="create the database if the data folder has none"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit status. Every mistake an operator can make ends here as one
    line on stderr (``tsudoi: ...``) and a status from :mod:`server.exits`."""
    args = _parser().parse_args(argv)  # exits 2 itself, with usage, on a bad command line
    debug = args.debug or os.environ.get("TSUDOI_DEBUG", "").lower() in ("1", "true", "yes", "on")
    try:
        return _run(args)
    except CommandFailed as exc:
        return _fail(exc.message, exc.status)
    except ConfigError as exc:
        return _fail(str(exc), USAGE)
    except StorageError as exc:  # opened, then failed in the middle of the command
        return _fail(f"the storage failed: {exc or type(exc).__name__}", PROBLEM)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)  # the shell's own convention for SIGINT (128 + 2)
    except Exception as exc:  # the safety net: anything the commands did not foresee
        if debug:
            raise
        return _fail(
            f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", PROBLEM
        )


def _fail(message: str, status: int) -> int:
    print(f"tsudoi: {message}", file=sys.stderr, flush=True)
    return status


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=args.data,
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        if args.fd is not None:  # a worker under --workers: its supervisor checked everything
            return serve(settings, fd=args.fd, bootstrap=False)
        if args.workers > 1 and not settings.redis_url:
            raise CommandFailed(
                "--workers needs Redis (set TSUDOI_REDIS_URL): without a shared bus a post would "
                "reach only the followers connected to the worker that stored it.",
                USAGE,
            )
        from .supervisor import listen, run_workers

        for sentence in retired():
            logging.getLogger("tsudoi").warning("%s", sentence)

        sock = listen(settings)  # first: no invite printed for a server that cannot listen
        _check_before_serving(settings)
        if args.workers > 1:
            return run_workers(settings, args.workers, sock)
        return serve(settings, sock=sock, bootstrap=False)
    if args.command == "doctor":
        from . import doctor

        return asyncio.run(doctor.run(settings))
    if args.admin_command == "seed":
        return asyncio.run(_seed(settings, args))
    if args.admin_command in admin_tools.COMMANDS:
        return asyncio.run(admin_tools.run(settings, args, now_ms))
    return asyncio.run(
        _with_accounts(settings, lambda s, a: _print_invite(s, a, as_json=args.json), create=args.create)
    )


def _check_before_serving(settings: Settings) -> None:
    """What would otherwise fail inside uvicorn's start-up, which prints a traceback: open the
    storage (creating the database, the embedded default's one-command promise) and print the
    first invite on an empty one; read the webhook allow-list."""
    from .webhooks.destinations import Destinations

    Destinations(settings.webhook_allowed)
    asyncio.run(_with_accounts(settings, _print_bootstrap_invite, create=True))


class _DrainingServer(uvicorn.Server):
    """Uvicorn would close WebSockets with 1012 at shut-down; ours get the documented 4000 first.
    ``drained`` tells whether that shut-down ran to its end."""

    drained = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        logger = logging.getLogger("uvicorn.error")
        if self.started and sockets:  # uvicorn says where it listens only on a socket of its own
            host, port = sockets[0].getsockname()[:2]
            where = f"[{host}]" if ":" in host else host
            logger.info("serving on http://%s:%d (Ctrl+C to stop)", where, port)
        doorman = getattr(self._app().state, "doorman", None)
        if self.started and doorman is not None:  # every worker: each has its own limit and counts
            logger.info("%s", doorman.limits.describe())

    def _app(self) -> Starlette:
        app = self.config.loaded_app
        while not isinstance(app, Starlette):  # unwrap uvicorn's middleware
            app = app.app
        return app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from .app import drain

        await drain(self._app())
        await super().shutdown(sockets)
        self.drained = not self.force_exit

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Uvicorn's, less its last step: after shutting down on SIGTERM or SIGINT, uvicorn raises
        the signal again, so the process dies of it (status -15) and a service manager logs a
        failure for every clean stop. Here the signal is handled, and ``serve`` returns 0."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def uvicorn_config(settings: Settings, *, fd: int | None = None, bootstrap: bool = True) -> uvicorn.Config:
    """How a node runs under uvicorn: the one configuration serve and the measuring tools share."""
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    from protocol.codec import MAX_FRAME_BYTES

    from .app import create_app
    from .gateway.fastwrite import FastWriteProtocol
    from .guard import Doorman, Limits, guarded_http

    app = create_app(settings, bootstrap=bootstrap)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        fd=fd,
        # uvicorn's sans-I/O WebSocket protocol, plus a synchronous writer for the fan-out path.
        ws=FastWriteProtocol,
        ws_max_size=MAX_FRAME_BYTES,
        # No permessage-deflate: a zlib context per connection costs tens of KiB of memory, and
        # compressed frames differ per recipient, which would undo encode-once fan-out.
        ws_per_message_deflate=False,
        # Liveness is the protocol's own heartbeat (see PROTOCOL.md), not WebSocket pings.
        ws_ping_interval=None,
        ws_ping_timeout=None,
        lifespan="on",
        loop=settings.event_loop,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    # Slowloris (server/guard.py): uvicorn's h11 protocol with a header timeout and caps on
    # unauthenticated sockets, counted per peer address except for the proxies uvicorn trusts
    # with X-Forwarded-For (FORWARDED_ALLOW_IPS), which speak for many clients.
    trusted = _TrustedHosts(config.forwarded_allow_ips) if config.proxy_headers else frozenset[str]()
    doorman = Doorman(Limits.at_start(settings), trusted)
    config.http = guarded_http(doorman)
    app.state.doorman = doorman  # for /healthz
    return config


def serve(
    settings: Settings,
    *,
    fd: int | None = None,
    sock: socket.socket | None = None,
    bootstrap: bool = True,
) -> int:
    """Run one node until SIGTERM or SIGINT: on ``sock``, or with ``fd`` as a worker on the
    socket its supervisor bound, or else on a socket uvicorn binds. 0 once drained; 1 if it
    could not start or a second SIGINT cut the drain short."""
    import gc

    from .gateway.fastwrite import CONNECTION_LOGGER

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
    server = _DrainingServer(uvicorn_config(settings, fd=fd, bootstrap=bootstrap))
    try:
        server.run(sockets=[sock] if sock else None)
    except SystemExit as exc:  # uvicorn's own exit when its start-up fails (it logged why)
        return PROBLEM if exc.code else OK
    return OK if server.started and server.drained else PROBLEM


async def _with_accounts(
    settings: Settings, use: Callable[[Settings, Accounts], Awaitable[int]], *, create: bool = False
) -> int:
    """Run an operator action on the configured storage (safe beside a running server), through
    the same domain services as a node. Without ``create``, a data folder with no database is
    refused."""
    async with admin_tools.operator_domain(settings, now_ms, create=create, offer_create=True) as domain:
        return await use(settings, domain.accounts)


async def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from .passwords import Passwords
    from .seed import HandlesTaken, Plan, check_plan, seed

    plan = Plan(users=args.users, prefix=args.prefix, star=args.star, degree=args.degree)
    try:
        check_plan(plan)  # before opening anything: a usage mistake, whatever the data folder
    except ValueError as exc:
        raise CommandFailed(str(exc), USAGE) from None
    store = await admin_tools.open_for_operator(settings, create=args.create, offer_create=True)
    try:
        _check_writable(args.out)  # the tokens are written last: fail before any account is made
        result = await seed(
            store, Passwords(settings.argon2_profile), plan, args.out, now_ms, settings.session_ttl_ms
        )
    except HandlesTaken as exc:
        raise CommandFailed(str(exc)) from None
    except OSError as exc:  # --out in a folder that cannot be written
        raise CommandFailed(f"cannot write {args.out}: {exc.strerror}") from None
    finally:
        await store.close()
    print(f"seeded {len(result.accounts)} accounts and {len(result.follows)} follows; tokens in {args.out}")
    return 0


def _check_writable(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandFailed(f"cannot write {out}: {exc.strerror}") from None
    if out.is_dir() or not os.access(out.parent, os.W_OK):
        raise CommandFailed(f"cannot write {out}: not a file in a folder this user may write")


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
