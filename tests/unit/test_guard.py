"""The socket guard's counting and figures (``server/guard.py``); the real server's behaviour is in
``tests/test_slowloris.py``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from server.guard import FALLBACK_MAX, RESERVED_FILES, Doorman, Limits, address_key, total_cap


def limits(per_address: int = 2, total: int = 5) -> Limits:
    return Limits(
        open_files=1024, open_files_before=1024, header_timeout_ms=5000, per_address=per_address, total=total
    )


async def test_an_address_past_its_cap_is_refused_and_its_freed_places_are_taken_again() -> None:
    doorman = Doorman(limits(per_address=2))
    first, second = doorman.enter("192.0.2.1"), doorman.enter("192.0.2.1")
    assert first is not None and second is not None
    assert doorman.enter("192.0.2.1") is None
    assert doorman.enter("192.0.2.2") is not None  # another address
    first.release()
    first.release()  # once only
    assert doorman.open == 2 and doorman.refused == 1
    assert doorman.enter("192.0.2.1") is not None
    assert doorman.enter("192.0.2.1") is None


async def test_the_total_cap_holds_across_addresses_and_for_trusted_proxies() -> None:
    doorman = Doorman(limits(per_address=1, total=3), trusted={"10.0.0.1"})
    tickets = [doorman.enter("10.0.0.1") for _ in range(3)]  # a proxy: no per-address cap
    assert all(tickets)
    assert doorman.enter("192.0.2.9") is None
    assert doorman.enter(None) is None
    assert doorman.report().unauthenticated_open == 3 and doorman.report().refused == 2


async def test_one_ipv6_subscriber_is_one_address() -> None:
    doorman = Doorman(limits(per_address=1))
    assert doorman.enter("2001:db8:1:2::1") is not None
    assert doorman.enter("2001:db8:1:2:ffff::7") is None  # the same /64
    assert doorman.enter("2001:db8:1:3::1") is not None
    assert address_key("192.0.2.1") == "192.0.2.1"


def test_the_total_cap_is_half_the_open_files_and_never_too_close_to_them() -> None:
    assert total_cap(0, 1024) == 512
    assert total_cap(300, 1024) == 300
    assert total_cap(5000, 1024) == 1024 - RESERVED_FILES
    assert total_cap(0, 100) == 50  # a tiny limit: half of it
    assert total_cap(0, None) == FALLBACK_MAX
    assert total_cap(42, None) == 42


def test_start_up_raises_the_soft_open_file_limit_to_the_hard_one() -> None:
    script = textwrap.dedent(
        """
        import resource
        from server.guard import raise_open_file_limit
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    reported, soft, hard = out.stdout.strip().rsplit(" ", 2)
    assert int(soft) == int(hard)
    assert reported == f"({min(256, int(hard))}, {hard})"
