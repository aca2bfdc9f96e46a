"""Deliveries connect to the address the destination check approved (server/webhooks/pinning.py),
shown against real local HTTP servers: names under ``.invalid`` never resolve (RFC 6761), so a
request to one arrives only if nothing looked the name up after the check did."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.webhooks import pinning
from server.webhooks.destinations import Destinations, NotAllowed
from tests.support.server import free_port

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
#: Another loopback address, on which nothing listens (the servers here bind 127.0.0.1 only).
SILENT = ipaddress.IPv4Address("127.0.0.2")


class Recorder:
    """An endpoint that records the Host header of each request and answers 204."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hosts: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hosts.append(dict(scope["headers"])[b"host"].decode())
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def serving(tls: tuple[Path, Path] | None = None) -> AsyncIterator[Recorder]:
    """A recorder on 127.0.0.1; with ``tls`` (a certificate and its key), over https."""
    recorder = Recorder()
    config = uvicorn.Config(
        recorder,
        host="127.0.0.1",
        port=recorder.port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield recorder
    finally:
        server.should_exit = True
        await task


async def only_loopback(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """A resolver for which every name is 127.0.0.1 (the system's knows none of these)."""
    return [LOOPBACK]


async def test_a_delivery_reaches_the_checked_address_without_resolving_the_name_again() -> None:
    destinations = Destinations(("hook.invalid", "127.0.0.0/8"), resolver=only_loopback)
    async with serving() as recorder, pinning.client(5) as http:
        url = f"http://hook.invalid:{recorder.port}/hook"
        addresses = await destinations.check(url)
        assert addresses == [LOOPBACK]
        with pinning.pinned(addresses):
            response = await http.post(url, content=b"{}")
        assert response.status_code == 204
        assert recorder.hosts == [f"hook.invalid:{recorder.port}"]  # the name, as the URL has it


async def test_with_no_checked_address_nothing_is_dialled_not_even_a_literal_one() -> None:
    async with serving() as recorder, pinning.client(5) as http:
        with pytest.raises(httpx.ConnectError, match="no checked address"):
            await http.post(f"http://127.0.0.1:{recorder.port}/hook", content=b"{}")
        with pinning.pinned([SILENT]), pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{recorder.port}/hook", content=b"{}")  # not the URL's
        assert recorder.hosts == []


async def test_the_checked_addresses_are_tried_in_order_until_one_answers() -> None:
    async with serving() as recorder, pinning.client(5) as http:
        with pinning.pinned([SILENT, LOOPBACK]):
            response = await http.post(f"http://hook.invalid:{recorder.port}/hook", content=b"{}")
        assert response.status_code == 204 and len(recorder.hosts) == 1


def certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` only (not for the address it is served on)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_checks_the_certificate_for_the_urls_name_not_the_address_dialled(tmp_path: Path) -> None:
    cert_path, key_path = certificate_for("hook.invalid", tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert_path))
    async with serving((cert_path, key_path)) as recorder, pinning.client(5, verify=trusted) as http:
        with pinning.pinned([LOOPBACK]):
            response = await http.post(f"https://hook.invalid:{recorder.port}/hook", content=b"{}")
            assert response.status_code == 204
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.post(f"https://other.invalid:{recorder.port}/hook", content=b"{}")
        assert recorder.hosts == [f"hook.invalid:{recorder.port}"]


async def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    async def mixed(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.IPv4Address("93.184.215.14"), ipaddress.IPv4Address("10.0.0.5")]

    with pytest.raises(NotAllowed, match=r"10\.0\.0\.5, which is not a public address"):
        await Destinations(("*",), resolver=mixed).check("https://hook.invalid/hook")
