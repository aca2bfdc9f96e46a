"""Guards at the socket level, below HTTP and WebSockets: slow clients and piles of
unauthenticated sockets cannot use up the process's open files (issue 15, "No slowloris").

What holds (``docs/topics/limits.md``):

1. **Header timeout.** A request's headers, a WebSocket upgrade's included, must be complete within
   ``header_timeout_ms`` of the connection opening (or, on a kept-alive connection, of the next
   request's first byte), or the connection is closed. Bytes trickled in do not restart the clock.
   uvicorn has no such timeout: its ``timeout_keep_alive`` covers only the wait *between*
   requests and stops at the first byte of the next one.
2. **Caps on unauthenticated connections.** Every plain-HTTP connection while it is open, and a
   WebSocket until the gateway has accepted its ``auth``, holds a :class:`Ticket` of the process's
   :class:`Doorman`, which counts them per client address and in all. A connection past either cap
   is closed as soon as it is accepted, with a fixed 503 and before any byte of it is parsed. The
   per-address cap keeps one address from holding more than a handful of sockets; the total keeps
   all of them below the open-file limit, so the listening socket can still accept, and storage
   and authenticated users still find descriptors.
3. **Open-file limit.** At start-up the soft RLIMIT_NOFILE is raised to the hard limit where the
   platform allows it (:func:`raise_open_file_limit`); the total cap derives from the result.

The per-address key is the TCP peer's address: when a socket is counted nothing of it has been
parsed, so ``X-Forwarded-For`` cannot be read; for IPv6 it is the address's /64. A peer uvicorn trusts as a proxy
(``FORWARDED_ALLOW_IPS``; ``127.0.0.1`` and ``::1`` by default) stands for many clients, so it has
no per-address cap, only the total; a reverse proxy in front keeps its own limits per client.

How: :class:`GuardedH11Protocol` is uvicorn's h11 HTTP protocol plus a timer and a ticket. On a
WebSocket upgrade the ticket passes to the WebSocket protocol (``adopt``, see
:class:`server.gateway.fastwrite.FastWriteProtocol`), which offers the app the ASGI extension
:data:`AUTHENTICATED`: a callable that gives the ticket back, which the gateway calls once
``auth`` succeeds. Otherwise a ticket is given back when its connection is lost. Counts are per
process: under ``--workers N`` each worker counts its own sockets, and the kernel spreads one
address's connections across the workers, so one address may hold up to N times the cap on a node.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from protocol.http import ConnectionLimits

from .config import Settings
from .logs import Tally

log = logging.getLogger(__name__)

#: The ASGI extension offered on WebSocket connections that hold a ticket: call it (no arguments)
#: once the connection is authenticated, and it no longer counts against the caps.
AUTHENTICATED = "tsudoi.authenticated"
#: Descriptors the total cap always leaves free: the database and its journal, log files, the bus,
#: the listening socket, and room for authenticated users to keep connecting.
RESERVED_FILES = 64
#: The total cap when the open-file limit cannot be read (no ``resource`` module) or is unlimited.
FALLBACK_MAX = 1_000
_REFUSAL_BODY = b"too many connections, retry later"
#: What a connection past a cap is sent before it is closed: fixed bytes, no parsing, no app.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
    b"content-length: %d\r\nretry-after: 1\r\nconnection: close\r\n\r\n%s"
    % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)


def raise_open_file_limit() -> tuple[int | None, int | None]:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; (before, after), each None
    where unknown (no ``resource`` module, as on Windows) or unlimited. A refusal (macOS, for
    one, refuses an unlimited soft limit) leaves the limit as it was."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None, None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None, None
    before = soft
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass

    def known(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else value

    return known(before), known(soft)


@dataclass(frozen=True)
class Limits:
    """The figures one process runs with (reported by ``/healthz`` and the start-up log)."""

    #: The soft open-file limit after start-up, and before it was raised (None: unknown).
    open_files: int | None
    open_files_before: int | None
    header_timeout_ms: int
    per_address: int
    total: int

    @classmethod
    def at_start(cls, settings: Settings) -> Limits:
        """Raise this process's open-file limit and derive the caps from it and ``settings``."""
        before, after = raise_open_file_limit()
        return cls(
            open_files=after,
            open_files_before=before,
            header_timeout_ms=settings.header_timeout_ms,
            per_address=settings.unauthenticated_per_address,
            total=total_cap(settings.unauthenticated_max, after),
        )

    def describe(self) -> str:
        files = "unknown" if self.open_files is None else f"{self.open_files:,}"
        if self.open_files_before is not None and self.open_files_before != self.open_files:
            files += f" (raised from {self.open_files_before:,})"
        return (
            f"open-file limit {files}; unauthenticated connections capped at {self.per_address:,} "
            f"per address and {self.total:,} in all; request headers due within "
            f"{self.header_timeout_ms:,} ms"
        )


def total_cap(configured: int, open_files: int | None) -> int:
    """The total cap: ``configured`` (0: half of ``open_files``), never closer to ``open_files``
    than :data:`RESERVED_FILES`."""
    if open_files is None:
        return configured or FALLBACK_MAX
    ceiling = open_files - RESERVED_FILES if open_files > 2 * RESERVED_FILES else max(1, open_files // 2)
    wanted = configured or max(1, open_files // 2)
    if wanted > ceiling:
        log.warning(
            "TSUDOI_UNAUTHENTICATED_MAX=%d is too close to the open-file limit (%d); using %d",
            wanted,
            open_files,
            ceiling,
        )
    return min(wanted, ceiling)


def address_key(address: str) -> str:
    """What one client is, for the per-address cap: an IPv4 address, or an IPv6 address's /64
    (one subscriber's usual allocation: counting single IPv6 addresses would give anyone with a
    /64 as many sockets as they like)."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address)
    except ValueError:  # not an address after all (a scoped one, say): itself
        return address


class Ticket:
    """One connection's place under the caps; :meth:`release` gives it back (once)."""

    __slots__ = ("_doorman", "_key")

    def __init__(self, doorman: Doorman, key: str | None) -> None:
        self._doorman: Doorman | None = doorman
        self._key = key

    def release(self) -> None:
        doorman, self._doorman = self._doorman, None
        if doorman is not None:
            doorman.leave(self._key)


class _Trusted(Protocol):
    def __contains__(self, host: str | None) -> bool: ...


class Doorman:
    """Counts this process's unauthenticated connections, per address and in all."""

    def __init__(self, limits: Limits, trusted: _Trusted = frozenset()) -> None:
        self.limits = limits
        self._trusted = trusted
        self._by_address: dict[str, int] = {}
        #: Connections holding a ticket now; connections refused and timed out so far.
        self.open = 0
        self.refused = 0
        self.timed_out = 0
        self._closed = Tally(
            "connection closed by the socket guard", "connections closed by the socket guard", log
        )

    def enter(self, address: str | None) -> Ticket | None:
        """A ticket for a new connection from ``address`` (the TCP peer), or None past a cap."""
        if self.open >= self.limits.total:
            self._refuse("over_total_cap")
            return None
        key = None if address is None or address in self._trusted else address_key(address)
        if key is not None:
            held = self._by_address.get(key, 0)
            if held >= self.limits.per_address:
                self._refuse("over_address_cap")
                return None
            self._by_address[key] = held + 1
        self.open += 1
        return Ticket(self, key)

    def leave(self, key: str | None) -> None:
        self.open -= 1
        if key is not None:
            held = self._by_address[key] - 1
            if held:
                self._by_address[key] = held
            else:
                del self._by_address[key]

    def report(self) -> ConnectionLimits:
        """The limits and counts, as ``/healthz`` shows them."""
        return ConnectionLimits(
            open_files=self.limits.open_files,
            header_timeout_ms=self.limits.header_timeout_ms,
            unauthenticated_per_address=self.limits.per_address,
            unauthenticated_max=self.limits.total,
            unauthenticated_open=self.open,
            refused=self.refused,
            header_timeouts=self.timed_out,
        )

    def timed_out_one(self) -> None:
        self.timed_out += 1
        self._closed.note("header_timeout")

    def _refuse(self, kind: str) -> None:
        self.refused += 1
        self._closed.note(kind)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 HTTP protocol with a header timeout and a ticket (the module docstring).
    A subclass bound to a doorman comes from :func:`guarded_http`."""

    doorman: ClassVar[Doorman]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ticket: Ticket | None = None
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._ticket = self.doorman.enter(self.client[0] if self.client else None)
        if self._ticket is None:
            self._refused = True  # and data_received ignores whatever it sent
            transport.write(REFUSAL)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        # h11 leaves the client IDLE until a request's headers are complete: the clock runs
        # from the connection's opening or the request's first byte until then, and is not
        # restarted by more bytes.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._ticket is not None:
            self._ticket.release()
            self._ticket = None
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """uvicorn's (0.55), then the ticket passes to the WebSocket protocol, which now owns the
        transport (this protocol hears nothing more of it, its loss included). A protocol that
        can take the request as h11 parsed it (``take_over``) is given it so, not its bytes
        rebuilt for websockets to parse a second time (a resume's share: BENCHMARKS.md)."""
        self._disarm()
        make: Any = self.ws_protocol_class
        if not hasattr(make, "take_over"):
            super().handle_websocket_upgrade(event)
        else:  # ours (FastWriteProtocol): given the request h11 parsed, not its bytes to parse again
            self.connections.discard(self)
            protocol = make(config=self.config, server_state=self.server_state, app_state=self.app_state)
            protocol.take_over(self.transport, event, self.headers, self.server, self.client)
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            return
        adopt: Callable[[Ticket], None] | None = getattr(self.transport.get_protocol(), "adopt", None)
        if adopt is None:  # a WebSocket protocol that cannot hold it: no cap past the upgrade
            ticket.release()
        else:
            adopt(ticket)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.doorman.limits.header_timeout_ms / 1000, self._headers_late
            )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.doorman.timed_out_one()
            self.transport.close()


def guarded_http(doorman: Doorman) -> type[GuardedH11Protocol]:
    """The HTTP protocol class to give uvicorn (``http=``): :class:`GuardedH11Protocol` counting
    with ``doorman``. (uvicorn makes protocols from a class and its config alone.)"""

    class Bound(GuardedH11Protocol):
        pass

    Bound.doorman = doorman
    return Bound
