"""What a connection that starts listening to a community's channel is sent for the gap between
the join and its subscription (``Social.channel_backlog``): the community's posts and the
announcements' notifications, which are published once to that channel, not to the member.

The gap is a race between two nodes that an integration test cannot stage on demand
(tests/test_scaleout.py runs the path end to end); here the domain runs in this process on a
real SQLite database, and the backlog is read as the gateway reads it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from server import channels
from server.bus import open_bus
from server.config import Settings
from server.domain import Domain
from server.ids import floor_id
from server.metrics import Metrics
from server.passwords import Passwords
from server.presence import open_presence
from server.publisher import Publisher
from server.store import open_storage
from server.store.base import NewUser, Storage, UserRecord


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[tuple[Domain, Storage]]:
    settings = Settings.from_env({"TSUDOI_DATA_DIR": str(tmp_path), "TSUDOI_ARGON2_PROFILE": "test"})
    metrics = Metrics()
    store = await open_storage(settings, metrics)
    bus = await open_bus(settings, metrics)
    presence = await open_presence(settings)
    domain = Domain.build(store, Publisher(bus, metrics), Passwords("test"), settings, now_ms, presence)
    try:
        yield domain, store
    finally:
        await presence.close()
        await bus.close()
        await store.close()


async def make_user(store: Storage, handle: str) -> UserRecord:
    invite = await store.create_invite(inviter_id=None, now_ms=now_ms(), ttl_ms=3_600_000, max_unused=None)
    return await store.create_user(
        NewUser(handle, handle, "unusable", "1990-01-01"), invite_code=invite.code, now_ms=now_ms()
    )


async def test_a_joined_communitys_backlog_carries_its_announcements_notifications(
    services: tuple[Domain, Storage],
) -> None:
    domain, store = services
    owner, member = await make_user(store, "city"), await make_user(store, "resident")
    community = await store.create_community(
        owner_id=owner.id, name="Kesennuma", description="", tags=[], approval_required=False, now_ms=now_ms()
    )
    await store.set_certified(community.id, True)
    since = floor_id(now_ms())
    await store.add_member(community.id, member.id, role="member", now_ms=now_ms())
    post = await domain.communities.announce(owner, community.id, "高台へ", None)
    [notification] = await store.notifications(member.id, before=None, limit=10)

    channel = channels.community(community.id)
    backlog = await domain.social.channel_backlog(channel, since, 100, user_id=member.id)
    events = [orjson.loads(b"{" + tail) for tail in backlog.tails]
    assert [(e["type"], e["pos"]) for e in events] == [
        ("post.created", post.id),
        ("notification", notification.id),
    ]
    assert backlog.positions == [post.id, notification.id]
    assert events[1]["data"]["notification"]["post_id"] == post.id
    # Its author was not notified: their backlog has the post alone.
    mine = await domain.social.channel_backlog(channel, since, 100, user_id=owner.id)
    assert mine.positions == [post.id]
