"""What one ``community.announce`` costs the node, without sockets or a load generator: the
announcement's storage writes and its fan-out to every member's connection. A benchmark, not a
test: it prints figures for BENCHMARKS.md.

    .venv/bin/python -m loadtest.tools.announce [MEMBERS] [ROUNDS]

It builds the node's services in this process as ``server/app.py`` does (SQLite in a temporary
directory, the in-process bus, the hub) and gives each of MEMBERS members of one certified
community a connection, authenticated and listening to its channels, whose transport takes
every frame at once and drops it: what is measured is the server's work up to the socket, not
the network's or a client's. The community's owner then announces ROUNDS times, 50 ms apart,
and the time of each ``Communities.announce`` call is printed, with the frames it wrote.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

from server import channels
from server.bus import open_bus
from server.config import Settings
from server.domain import Domain
from server.gateway.connection import Connection
from server.gateway.hub import Hub
from server.metrics import Metrics
from server.passwords import Passwords
from server.presence import open_presence
from server.publisher import Publisher
from server.store import open_storage
from server.store.base import NewUser


class Discard:
    """A connection's transport that is always ready and drops what it is given (FastWriter's
    methods): frames count, nothing is sent."""

    frames = 0

    def ready(self) -> bool:
        return True

    def gone(self) -> bool:
        return False

    def write(self, frame: bytes) -> None:
        Discard.frames += 1

    async def writable(self) -> None:
        return None


class NoSink:
    async def send_text(self, data: str) -> None:
        return None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None


def now_ms() -> int:
    return int(time.time() * 1000)


async def main(members: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env({"TSUDOI_DATA_DIR": data_dir})
        metrics = Metrics()
        store = await open_storage(settings, metrics)
        bus = await open_bus(settings, metrics)
        presence = await open_presence(settings)
        domain = Domain.build(store, Publisher(bus, metrics), Passwords("test"), settings, now_ms, presence)
        hub = Hub(bus, metrics=metrics)
        try:
            users = []
            for n in range(members):
                invite = await store.create_invite(
                    inviter_id=None, now_ms=now_ms(), ttl_ms=3_600_000, max_unused=None
                )
                new = NewUser(f"member{n}", f"Member {n}", "unusable", "1990-01-01")
                users.append(await store.create_user(new, invite_code=invite.code, now_ms=now_ms()))
            owner = users[0]
            community = await store.create_community(
                owner_id=owner.id,
                name="Sendai",
                description="",
                tags=[],
                approval_required=False,
                now_ms=now_ms(),
            )
            await store.set_certified(community.id, True)
            for user in users[1:]:
                await store.add_member(community.id, user.id, role="member", now_ms=now_ms())
            for n, user in enumerate(users):
                conn = Connection(NoSink(), connection_id=f"c{n}", send_queue_max=512, fast_writer=Discard())  # type: ignore[arg-type]
                conn.user_id = user.id
                await hub.attach(conn, channels.for_user(user.id, [], [community.id]))

            times = []
            for n in range(rounds):
                before = Discard.frames
                started = time.perf_counter()
                await domain.communities.announce(owner, community.id, f"お知らせ {n}", None)
                times.append((time.perf_counter() - started) * 1000)
                print(f"  announce {n}: {times[-1]:6.1f} ms, {Discard.frames - before} frames")
                await asyncio.sleep(0.05)
            print(
                f"{members} members, {rounds} announcements: "
                f"median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f}"
            )
        finally:
            await presence.close()
            await bus.close()
            await store.close()


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, int(sys.argv[2]) if len(sys.argv) > 2 else 8)
    )
