"""Where a bot's webhook may point: the operator's allow-list, checked before every request.

A webhook makes the server open connections on a bot's behalf, so without a check any bot
could make it call its own internal addresses (a cloud's metadata service, an admin port on
loopback, a database on the private network). The rules:

- ``https://`` only, except ``http://`` to loopback addresses (a bot on the same machine,
  and tests); no user name or password in the URL (secrets never go in URLs).
- The host must be allowed by ``TSUDOI_WEBHOOK_ALLOWED``: a name (``hooks.example.com``), a
  suffix (``*.example.com``), ``*`` for any name, or an address range (``10.2.0.0/16``).
- Every address the host resolves to must be public, unless it lies inside a listed range:
  a name never vouches for a private address, only a range the operator wrote does.

The check runs again before each delivery, as names can be re-pointed, and the delivery then
connects to the addresses this check approved, never resolving the name a second time
(``pinning.py``): a name re-pointed between the two (DNS rebinding) reaches nothing unchecked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from protocol.errors import ErrorCode, ProtocolError

from ..config import ConfigError

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048

#: Looks a host name up: its addresses for a TCP connection to the port, or NotAllowed.
Resolver = Callable[[str, int], Awaitable[list[_Address]]]


class NotAllowed(ProtocolError):
    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.WEBHOOK_NOT_ALLOWED, reason, path="$.url")


class Destinations:
    def __init__(self, allowed: tuple[str, ...], resolver: Resolver | None = None) -> None:
        """``resolver`` replaces the system's (``getaddrinfo``): for tests, which need a name
        to resolve to their loopback server and to nothing else."""
        self._resolve = resolver if resolver is not None else _resolve
        self._any_name = False
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[_Network] = []
        for entry in (e.strip().lower() for e in allowed):
            if entry == "*":
                self._any_name = True
            elif entry.startswith("*."):
                self._suffixes.append(entry[1:])
            elif "/" in entry or _is_address(entry):
                try:
                    self._networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError as exc:
                    raise ConfigError(f"TSUDOI_WEBHOOK_ALLOWED: {exc}") from None
            elif entry:
                self._names.add(entry.rstrip("."))

    @property
    def enabled(self) -> bool:
        return bool(self._any_name or self._names or self._suffixes or self._networks)

    async def check(self, url: str) -> list[_Address]:
        """The addresses ``url``'s host has now, every one of them judged allowed; a delivery
        connects to these and no others (``pinning.pinned``). Raise :class:`NotAllowed`
        saying why if ``url`` may not receive deliveries now."""
        if not self.enabled:
            raise NotAllowed("this server allows no webhook destinations (TSUDOI_WEBHOOK_ALLOWED)")
        if len(url) > MAX_URL_LENGTH:
            raise NotAllowed(f"the URL is longer than {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise NotAllowed(f"not a URL: {exc}") from None
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("https", "http") or not host:
            raise NotAllowed("the URL must be https://host/...")
        if parts.username is not None or parts.password is not None:
            raise NotAllowed("the URL must not carry a user name or password")
        if parts.fragment:
            raise NotAllowed("the URL must not have a fragment")
        literal = _is_address(host)
        if not literal and not self._name_allowed(host):
            raise NotAllowed(f"{host} is not on this server's list of webhook destinations")
        addresses = await self._resolve(host, port or (443 if parts.scheme == "https" else 80))
        for address in addresses:
            listed = any(address in network for network in self._networks)
            if literal and not (listed or (self._any_name and address.is_global)):
                raise NotAllowed(f"{address} is not on this server's list of webhook destinations")
            if not listed and not address.is_global:
                raise NotAllowed(f"{host} resolves to {address}, which is not a public address")
        if parts.scheme == "http" and not all(address.is_loopback for address in addresses):
            raise NotAllowed("plain http:// is only for loopback addresses; use https://")
        return addresses

    def _name_allowed(self, host: str) -> bool:
        host = host.lower()
        return self._any_name or host in self._names or any(host.endswith(s) for s in self._suffixes)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int) -> list[_Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise NotAllowed(f"{host} does not resolve: {exc}") from None
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        # An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 one.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        found.append(address)
    if not found:
        raise NotAllowed(f"{host} does not resolve")
    return found
