"""Deliveries connect to the addresses the destination check approved, and to nothing else.

The check (``destinations.py``) resolves the URL's host and judges every address it finds. If
httpx then resolved the name again to connect, a name re-pointed in between (DNS rebinding: a
public answer for the check, a private one a moment later) would reach an address nobody
checked. So the webhook client's connections are dialled by :class:`PinnedBackend`, which takes
the approved addresses from the delivery (:func:`pinned`, a context variable, since httpcore
connects in the task that sends the request) and never looks a name up: the host name it is given
is ignored. Everything else stays as the URL says: the ``Host`` header, and for ``https://`` the
TLS server name (SNI) and the certificate check, which httpcore takes from the URL's host.

A connection kept alive between deliveries is reused for the same scheme, host and port; it was
dialled to an address approved when it was opened, and every delivery is checked again first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar

import httpcore
import httpx

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The addresses the current delivery may connect to, in the order to try them.
_PINNED: ContextVar[tuple[_Address, ...]] = ContextVar("webhook_pinned_addresses", default=())

#: httpx's own pool limits (``httpx.Limits()``), which httpcore's pool does not default to.
MAX_CONNECTIONS = 100
MAX_KEEPALIVE_CONNECTIONS = 20
KEEPALIVE_EXPIRY_S = 5.0


@contextlib.contextmanager
def pinned(addresses: Sequence[_Address]) -> Iterator[None]:
    """Requests sent inside the block connect only to ``addresses`` (those a check approved)."""
    token = _PINNED.set(tuple(addresses))
    try:
        yield
    finally:
        _PINNED.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials the pinned addresses in order, on the port asked for, until one connects; with
    none pinned it refuses. It never resolves the host name it is given."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _PINNED.get()
        if not addresses:
            raise httpcore.ConnectError(f"no checked address to connect to for {host}")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks connect over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool dialling through :class:`PinnedBackend`.

    httpx does not take a network backend, so the pool it made is replaced by one like it (no
    proxy, httpx's pool limits, and certificates checked against certifi's authorities as with
    ``trust_env=False``, or against ``verify``'s, which tests give)."""

    def __init__(self, verify: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify if verify is not None else httpx.create_ssl_context(trust_env=False),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
            network_backend=PinnedBackend(),
        )


def client(timeout_s: float, verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The HTTP client deliveries go through: pinned connections, no redirects followed, no
    proxy or other setting taken from the environment."""
    return httpx.AsyncClient(
        transport=PinnedTransport(verify), timeout=timeout_s, follow_redirects=False, trust_env=False
    )
