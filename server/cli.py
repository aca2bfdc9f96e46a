"""The ``tsudoi`` command: ``serve`` runs a node, ``admin ...`` are operator tools.

Admin commands open the same data as a running server (SQLite in WAL mode admits both), so an
operator can hand out invites without stopping anything.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import orjson

from . import __version__
from .config import ConfigError, Settings

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
    _data_option(serve)

    admin = commands.add_parser("admin", help="operator tools, safe to use while the server runs")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=True)
    invite = admin_commands.add_parser("invite", help="print a fresh invite URL")
    invite.add_argument("--json", action="store_true", help="print JSON: code, url, expires_at")
    _data_option(invite)
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
    if args.command == "serve":
        return serve(settings)
    return asyncio.run(admin_invite(settings, as_json=args.json))


def serve(settings: Settings) -> int:
    import uvicorn

    from protocol.codec import MAX_FRAME_BYTES

    from .app import create_app, drain

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn.access").addFilter(_RedactInviteCodes())
    app = create_app(settings)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
            # Uvicorn would close WebSockets with 1012; ours get the documented 4000 first.
            await drain(app)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
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
    server = Server(config)
    server.run()
    return 0 if server.started else 1


async def admin_invite(settings: Settings, *, as_json: bool) -> int:
    from protocol.codec import format_timestamp

    from .app import now_ms
    from .bus.local import LocalBus
    from .domain.accounts import Accounts
    from .domain.present import invite_url
    from .passwords import Passwords
    from .publisher import Publisher
    from .store import open_storage

    store = await open_storage(settings)
    try:
        accounts = Accounts(
            store, Passwords(settings.argon2_profile), Publisher(LocalBus()), settings, now_ms
        )
        invite = await accounts.operator_invite()
    finally:
        await store.close()
    url = invite_url(settings.base_url, invite.code)
    if as_json:
        out = {"code": invite.code, "url": url, "expires_at": format_timestamp(invite.expires_ms)}
        print(orjson.dumps(msgspec.to_builtins(out)).decode())
    else:
        print(url)
    return 0
