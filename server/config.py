"""Settings: every knob in one frozen object, read from the environment at start-up.

Command-line flags (``tsudoi serve --port``) override the environment, which overrides the
defaults below. Every variable is listed in the README.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message says which and why."""


def _int(name: str, raw: str, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return in_range(name, value, minimum, maximum)


def in_range(name: str, value: int, minimum: int, maximum: int) -> int:
    """``value``, or a ConfigError naming ``name`` (a variable or a flag) and the bounds."""
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def bounds(setting: str) -> tuple[int, int]:
    """The accepted range of an integer setting (a field name such as ``"port"``)."""
    return _MINIMUM.get(setting, 1), _MAXIMUM.get(setting, _LARGEST)


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path("tsudoi-data"))
    #: Base of links the server hands out (invites); defaults to http://HOST:PORT.
    public_url: str = ""
    #: Extra origins allowed to use cookie auth on /ws, besides the server's own.
    allowed_origins: tuple[str, ...] = ()
    #: Scale-out: a Redis URL turns on the Redis bus (redis://, rediss://; for Redis Cluster set
    #: redis_cluster too), a MongoDB URL the MongoDB storage. Neither is needed to start.
    redis_url: str = ""
    #: Sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7+) on a single Redis; implied by redis_cluster.
    redis_sharded: bool = False
    redis_cluster: bool = False
    mongodb_url: str = ""
    #: The MongoDB database name (when the URL names none).
    mongodb_database: str = "tsudoi"
    #: "default" (argon2-cffi's RFC 9106 low-memory profile) or "test" (cheap; tests only).
    argon2_profile: str = "default"
    sqlite_synchronous: str = "full"
    #: The event loop: "auto" is uvloop where it is installed (the lock installs it on Linux and
    #: macOS), else asyncio's; "asyncio" keeps the standard library's loop.
    event_loop: str = "auto"
    #: Send the session cookie with the Secure attribute (set when served over HTTPS).
    secure_cookies: bool = False

    # Protocol timing. The client sends a heartbeat every interval; the server closes a
    # connection that has sent nothing for the timeout (two intervals plus slack for a
    # congested mobile link).
    heartbeat_interval_ms: int = 25_000
    heartbeat_timeout_ms: int = 60_000
    auth_timeout_ms: int = 10_000
    send_queue_max: int = 512
    #: Resume at most this many missed items; past it the client reloads (recovered: false).
    resume_max_items: int = 1000
    #: How late an item may be stored after its id was made, the writers' clock differences
    #: included: a resume looks this far behind a cursor for items stored out of order, and a
    #: gap fill after a bus outage this far before the outage (PROTOCOL.md section 6.5).
    resume_window_ms: int = 5_000
    #: What a node remembers of the stream items it delivered, so that it can fill the gap of a
    #: bus outage in place: at least this long (milliseconds), at most this many items.
    delivered_memory_ms: int = 60_000
    delivered_memory_max: int = 100_000

    # Rate limits (token buckets: burst, then one every N ms).
    frame_burst: int = 100
    frame_refill_ms: int = 50
    post_burst: int = 10
    post_refill_ms: int = 3_000
    #: Direct messages (and conversations opened) per user: a chat pace, faster than posts.
    message_burst: int = 20
    message_refill_ms: int = 1_000
    #: Bots' own buckets (``tsudoi admin bot create``): an announcer in a disaster or a bot
    #: answering many people's DMs needs a faster steady rate than a person, and a separate
    #: bucket keeps a busy bot from being mistaken for a person flooding.
    bot_post_burst: int = 20
    bot_post_refill_ms: int = 1_000
    bot_message_burst: int = 60
    bot_message_refill_ms: int = 250
    #: Presence: idle after this long without activity; offline this long after the last
    #: connection closes; a node's presence work runs every tick; a connection it stops
    #: refreshing (its node died) expires after the TTL.
    idle_after_ms: int = 5 * 60_000
    offline_grace_ms: int = 20_000
    presence_tick_ms: int = 2_000
    presence_ttl_ms: int = 60_000
    #: Admission control (reconnect storms, server/gateway/admission.py): a node admits a new
    #: connection while it could set up every handshake it holds within this long, at the rate
    #: it measures; beyond it a connection is closed with 4007 and a time to come back.
    admission_wait_ms: int = 2_000
    #: Handshakes a second the node assumes instead of measuring its own (0: measured).
    admission_rate: int = 0
    #: Admitted handshakes that may be between ``auth`` and ``ready`` at once; the others wait
    #: for a turn (reconnect storms: resumes yield to the frames due to connected users).
    start_concurrency: int = 32
    #: Slow clients (slowloris; see server/guard.py and docs/topics/limits.md): a request, a
    #: WebSocket upgrade's included, must send its complete headers within this long of its
    #: connection opening or its first byte, or the connection is closed.
    header_timeout_ms: int = 5_000
    #: Connections not yet authenticated (every plain-HTTP connection, and a WebSocket until its
    #: ``auth`` succeeds) per client address, and in all: the one past a cap is closed as soon as
    #: it is accepted. A trusted proxy's address (uvicorn's FORWARDED_ALLOW_IPS) has no per-address
    #: cap. 0 for the total: half the process's open-file limit, which is also its ceiling
    #: (less a reserve for storage and authenticated connections).
    unauthenticated_per_address: int = 64
    unauthenticated_max: int = 0
    #: Failed log-ins (or wrong old passwords) per account *from one address*, and from all
    #: addresses together: the first brakes a guesser, the second a botnet, and neither lets one
    #: stranger lock the owner out.
    login_account_failures: int = 5
    login_account_window_ms: int = 15 * 60_000
    login_account_failures_total: int = 50
    login_address_attempts: int = 20
    login_address_window_ms: int = 60_000
    signup_address_attempts: int = 10
    signup_address_window_ms: int = 60 * 60_000

    #: Where bots' webhooks may point (comma-separated): host names ("hooks.example.com"),
    #: "*." suffixes ("*.example.com"), "*" for any host, and address ranges ("10.2.0.0/16").
    #: A host name allows public addresses only; a private, loopback or link-local address
    #: must be inside a listed range. Empty (the default): webhooks are off.
    webhook_allowed: tuple[str, ...] = ()
    #: One delivery attempt's time limit; the longest wait between retries (back-off doubles
    #: from one second up to it); how long a node holds a webhook it delivers before another
    #: may take over; how often an idle webhook looks for new events.
    webhook_timeout_ms: int = 10_000
    webhook_retry_max_ms: int = 300_000
    webhook_lease_ms: int = 30_000
    webhook_poll_ms: int = 1_000

    #: Web Push (server/push/, docs/topics/push.md). ``push_subject`` is the VAPID contact (the
    #: ``sub`` claim, RFC 8292) push services use to reach the operator: ``mailto:`` an address
    #: or an ``https://`` URL; empty: the public URL if it is https, else none.
    push_subject: str = ""
    #: Accept push endpoints at plain ``http://`` loopback addresses: tests and local
    #: development only (browsers' push services are all https).
    push_allow_loopback: bool = False
    #: A person's devices that receive pushes; one attempt's time limit; the longest wait between
    #: retries; how long the sending node holds the cluster's push lease; how often it looks
    #: for due pushes when none was queued on it.
    push_max_subscriptions: int = 10
    push_timeout_ms: int = 10_000
    push_retry_max_ms: int = 300_000
    push_lease_ms: int = 30_000
    push_poll_ms: int = 1_000

    #: How often a node looks in storage for what ``tsudoi admin`` did from a process of its own:
    #: an incident started or ended, and the messages a command without Redis relays through
    #: storage (verified badges, certifications, a bot's revoked token; see server/relay.py).
    #: With Redis those reach every node at once and this poll is only a net under a lost one.
    operator_poll_ms: int = 2_000

    #: Pictures (server/media/, docs/topics/media.md): an upload's bytes; its pixels, checked
    #: from the header before decoding (a 50-megapixel phone photo fits; Pillow refuses more than
    #: 89,478,485 itself, the ceiling); an animation's frames, total duration, and frames' pixels
    #: together (each is held while encoding). Processing runs in ``media_workers`` processes;
    #: ``media_queue_max`` more uploads may wait, and the next is refused as busy.
    media_max_bytes: int = 20 * 1024 * 1024
    media_max_pixels: int = 60_000_000
    media_max_frames: int = 200
    media_max_duration_ms: int = 60_000
    media_max_animation_pixels: int = 40_000_000
    media_workers: int = 2
    media_queue_max: int = 48
    #: Uploads: a burst of ``upload_burst`` per user, then one per ``upload_refill_ms`` (enough
    #: for four pictures a post, several posts in a row); at most ``media_pending_max`` uploads
    #: of a user wait to be attached, each for ``media_pending_ttl_ms`` (24 hours), after which
    #: the collector, run every ``media_collect_interval_ms``, releases them.
    upload_burst: int = 20
    upload_refill_ms: int = 3_000
    media_pending_max: int = 40
    media_pending_ttl_ms: int = 24 * 3600_000
    media_collect_interval_ms: int = 3600_000
    #: How long past its expiry an upload is left alone, for nodes whose clocks are behind.
    media_collect_margin_ms: int = 300_000
    #: How long bytes nothing references are kept after they were last stored (the Blob port's
    #: grace, server/blobs/base.py): far longer than an upload takes to reference its bytes.
    media_blob_grace_ms: int = 3600_000

    invite_ttl_ms: int = 7 * 24 * 3600_000
    max_unused_invites: int = 5
    session_ttl_ms: int = 90 * 24 * 3600_000
    #: The least time between two handle changes of one account (``account.handle``): a former
    #: handle stays the account's for good, so this bounds how many one account can hold.
    handle_change_interval_ms: int = 30 * 24 * 3600_000
    #: An unfinished account deletion (a node stopped part way) is taken up by a node's sweep,
    #: run every ``deletion_sweep_ms``; a node working on one holds it for ``deletion_lease_ms``.
    deletion_sweep_ms: int = 5 * 60_000
    deletion_lease_ms: int = 10 * 60_000

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tsudoi.sqlite3"

    def with_overrides(self, **changes: Any) -> Settings:
        """These settings with ``changes`` (None: unchanged), validated like the environment."""
        settings = replace(self, **{k: v for k, v in changes.items() if v is not None})
        settings.validate()
        return settings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by the environment: ``TSUDOI_<FIELD>`` for every field
        (``TSUDOI_HEARTBEAT_INTERVAL_MS``, ``TSUDOI_SEND_QUEUE_MAX``, ...)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(f"TSUDOI_{spec.name.upper()}")
            if raw is None or raw == "":
                continue
            if spec.type == "int":
                values[spec.name] = _int(f"TSUDOI_{spec.name.upper()}", raw, *bounds(spec.name))
            elif spec.type == "bool":
                values[spec.name] = _bool(f"TSUDOI_{spec.name.upper()}", raw)
            elif spec.name == "data_dir":
                values[spec.name] = Path(raw)
            elif spec.type == "tuple[str, ...]":
                values[spec.name] = tuple(o.strip() for o in raw.split(",") if o.strip())
            else:
                values[spec.name] = raw
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError, naming the variable, for a value that cannot work."""
        for spec in fields(self):
            if spec.type == "int":
                in_range(f"TSUDOI_{spec.name.upper()}", getattr(self, spec.name), *bounds(spec.name))
        if self.redis_url and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ConfigError(
                f"TSUDOI_REDIS_URL must start with {', '.join(REDIS_SCHEMES)} ({_scheme(self.redis_url)})"
            )
        if self.mongodb_url and not self.mongodb_url.startswith(MONGODB_SCHEMES):
            raise ConfigError(
                f"TSUDOI_MONGODB_URL must start with {' or '.join(MONGODB_SCHEMES)} "
                f"({_scheme(self.mongodb_url)})"
            )
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            # The base of every invite link: without a scheme a browser reads it as a path.
            raise ConfigError(
                f"TSUDOI_PUBLIC_URL must start with http:// or https:// ({_scheme(self.public_url)})"
            )
        _check_url_syntax(self)
        if self.push_subject and not self.push_subject.startswith(("mailto:", "https://")):
            # RFC 8292 section 2.1: the contact is a mailto: or an https: URI.
            raise ConfigError("TSUDOI_PUSH_SUBJECT must start with mailto: or https://")
        if self.argon2_profile not in ("default", "test"):
            raise ConfigError("TSUDOI_ARGON2_PROFILE must be 'default' or 'test'")
        if self.sqlite_synchronous not in ("full", "normal"):
            raise ConfigError("TSUDOI_SQLITE_SYNCHRONOUS must be 'full' or 'normal'")
        if self.event_loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError("TSUDOI_EVENT_LOOP must be 'auto', 'asyncio' or 'uvloop'")
        if self.event_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ConfigError("TSUDOI_EVENT_LOOP is 'uvloop', but uvloop is not installed")
        if self.heartbeat_timeout_ms <= self.heartbeat_interval_ms:
            raise ConfigError("TSUDOI_HEARTBEAT_TIMEOUT_MS must exceed TSUDOI_HEARTBEAT_INTERVAL_MS")


#: Variables an earlier version read and this one does not, with what replaced them: set, they
#: would otherwise be ignored without a word.
_MEASURED_ADMISSION = (
    "admission now follows the rate the node measures (TSUDOI_ADMISSION_WAIT_MS; "
    "TSUDOI_ADMISSION_RATE fixes a rate)"
)
RETIRED = {
    "TSUDOI_ADMISSION_BURST": _MEASURED_ADMISSION,
    "TSUDOI_ADMISSION_REFILL_MS": _MEASURED_ADMISSION,
}


def retired(env: Mapping[str, str] | None = None) -> list[str]:
    """A sentence for each retired variable that is set, naming what replaced it."""
    env = os.environ if env is None else env
    return [f"{name} is no longer read: {instead}" for name, instead in RETIRED.items() if env.get(name)]


#: The schemes redis-py's ``from_url`` accepts, and pymongo's.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


def _scheme(url: str) -> str:
    """What a URL starts with, for an error message: never the rest, which may hold a password."""
    head, found, _ = url.partition("://")
    return f"it starts with {head}://" if found and "@" not in head else "it has no scheme"


_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@")


def redact_url(url: str) -> str:
    """``url`` with the password in it (``scheme://user:password@host``) shown as ``***``, for
    what the tools print: an operator pastes doctor's output into bug reports."""
    return _PASSWORD.sub(r"\1:***@", url, count=1)


def _check_url_syntax(settings: Settings) -> None:
    """The drivers' own parsers, which do no I/O (a mongodb+srv:// URL is looked up in DNS when
    used, so only its scheme is checked): a port that is not a number, an unknown option."""
    if settings.redis_url:
        from redis.connection import parse_url

        try:
            parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ConfigError(f"TSUDOI_REDIS_URL is malformed: {exc}") from None
    if settings.mongodb_url.startswith("mongodb://"):
        from pymongo.errors import PyMongoError
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(settings.mongodb_url)
        except (ValueError, PyMongoError) as exc:
            raise ConfigError(f"TSUDOI_MONGODB_URL is malformed: {exc}") from None


#: The largest integer any setting takes unless listed below: some reach browsers in JSON
#: (the heartbeat interval), where numbers are exact only up to 2**53 - 1, and durations added to
#: a millisecond clock must still fit SQLite's 64-bit integers.
_LARGEST = 2**53 - 1
#: Highest accepted value per integer setting (``_LARGEST`` when not listed).
_MAXIMUM = {"port": 65535, "media_max_pixels": 89_478_485, "media_workers": 64}
#: Lowest accepted value per integer setting (1 when not listed). Port 0 ("any free port") is
#: refused: invite links are built from the port, and one nobody chose cannot be printed in them.
_MINIMUM = {
    "send_queue_max": 16,
    "heartbeat_interval_ms": 100,
    "auth_timeout_ms": 100,
    "header_timeout_ms": 100,
    "unauthenticated_max": 0,
    "media_queue_max": 0,
    "media_collect_margin_ms": 0,
    "media_blob_grace_ms": 0,
    "handle_change_interval_ms": 0,
    "admission_rate": 0,
}
