"""Settings: every knob in one frozen object, read from the environment at start-up.

Command-line flags (``tsudoi serve --port``) override the environment, which overrides the
defaults below. Every variable is listed in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message says which and why."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path("tsudoi-data"))
    #: Base of links the server hands out (invites); defaults to http://HOST:PORT.
    public_url: str | None = None
    #: Extra origins allowed to use cookie auth on /ws, besides the server's own.
    allowed_origins: tuple[str, ...] = ()
    #: "default" (argon2-cffi's RFC 9106 low-memory profile) or "test" (cheap; tests only).
    argon2_profile: str = "default"
    sqlite_synchronous: str = "full"
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

    # Rate limits (token buckets: burst, then one every N ms).
    frame_burst: int = 100
    frame_refill_ms: int = 50
    post_burst: int = 10
    post_refill_ms: int = 3_000
    login_account_failures: int = 5
    login_account_window_ms: int = 15 * 60_000
    login_address_attempts: int = 20
    login_address_window_ms: int = 60_000
    signup_address_attempts: int = 10
    signup_address_window_ms: int = 60 * 60_000

    invite_ttl_ms: int = 7 * 24 * 3600_000
    max_unused_invites: int = 5
    session_ttl_ms: int = 90 * 24 * 3600_000

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tsudoi.sqlite3"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        profile = env.get("TSUDOI_ARGON2_PROFILE", "default")
        if profile not in ("default", "test"):
            raise ConfigError(f"TSUDOI_ARGON2_PROFILE must be 'default' or 'test', not {profile!r}")
        synchronous = env.get("TSUDOI_SQLITE_SYNCHRONOUS", "full").lower()
        if synchronous not in ("full", "normal"):
            raise ConfigError("TSUDOI_SQLITE_SYNCHRONOUS must be 'full' or 'normal'")
        origins = tuple(o.strip() for o in env.get("TSUDOI_ALLOWED_ORIGINS", "").split(",") if o.strip())
        defaults = cls()
        return cls(
            host=env.get("TSUDOI_HOST", defaults.host),
            port=_int(env, "TSUDOI_PORT", defaults.port, minimum=0),
            data_dir=Path(env.get("TSUDOI_DATA_DIR", str(defaults.data_dir))),
            public_url=env.get("TSUDOI_PUBLIC_URL") or None,
            allowed_origins=origins,
            argon2_profile=profile,
            sqlite_synchronous=synchronous,
            secure_cookies=env.get("TSUDOI_SECURE_COOKIES", "") in ("1", "true", "yes"),
            heartbeat_interval_ms=_int(
                env, "TSUDOI_HEARTBEAT_INTERVAL_MS", defaults.heartbeat_interval_ms, minimum=100
            ),
            heartbeat_timeout_ms=_int(
                env, "TSUDOI_HEARTBEAT_TIMEOUT_MS", defaults.heartbeat_timeout_ms, minimum=200
            ),
            auth_timeout_ms=_int(env, "TSUDOI_AUTH_TIMEOUT_MS", defaults.auth_timeout_ms, minimum=100),
            send_queue_max=_int(env, "TSUDOI_SEND_QUEUE_MAX", defaults.send_queue_max, minimum=16),
            resume_max_items=_int(env, "TSUDOI_RESUME_MAX_ITEMS", defaults.resume_max_items, minimum=1),
            post_burst=_int(env, "TSUDOI_POST_BURST", defaults.post_burst, minimum=1),
            post_refill_ms=_int(env, "TSUDOI_POST_REFILL_MS", defaults.post_refill_ms, minimum=1),
            frame_burst=_int(env, "TSUDOI_FRAME_BURST", defaults.frame_burst, minimum=10),
            frame_refill_ms=_int(env, "TSUDOI_FRAME_REFILL_MS", defaults.frame_refill_ms, minimum=1),
        )
