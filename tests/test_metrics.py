"""GET /metrics on a real server: the Prometheus text format, figures that follow what the node
did, bounded labels, and nothing that names a user or carries a secret."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.client import Client, Users
from tests.support.metrics import Scrape, scrape, scrape_when
from tests.support.redis import RedisProcess
from tests.support.server import ServerProcess

#: Every label any tsudoi_ series may carry (``le``: histogram buckets).
ALLOWED_LABELS = {"state", "code", "op", "le", "kind"}


async def test_a_post_to_two_followers_shows_in_the_figures(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    author = await users.new("author")
    fans = [await users.new("fan", invited_by=author) for _ in range(2)]
    author_client = await Client.login(server, author.token)
    fan_clients = [await Client.login(server, fan.token) for fan in fans]

    post = (await author_client.call("post.create", text="みんな無事？"))["post"]
    for client in [author_client, *fan_clients]:
        assert (await client.next_event("post.created"))["data"]["post"]["id"] == post["id"]
    await author_client.send_raw("{not json")
    assert (await author_client.next_frame())["code"] == "invalid_json"

    found = await scrape_when(server, lambda s: s.value("tsudoi_connections", state="live") == 3)
    assert found.value("tsudoi_connections", state="live") == 3
    assert found.value("tsudoi_connections", state="awaiting_auth") == 0
    assert found.value("tsudoi_connections", state="resuming") == 0
    assert (found.value("tsudoi_handshakes_completed_total") or 0) >= 3
    assert (found.value("tsudoi_events_published_total") or 0) >= 1
    assert (found.value("tsudoi_events_delivered_total") or 0) >= 3
    assert (found.value("tsudoi_storage_latency_seconds_count", op="create_post") or 0) >= 1
    assert found.value("tsudoi_errors_total", code="invalid_json") == 1
    # The post's fan-out was sampled on one of its three recipients, all of which received it.
    assert (found.value("tsudoi_fanout_latency_seconds_count", kind="ordinary") or 0) >= 1
    assert found.value("tsudoi_fanout_latency_seconds_bucket", le="+Inf", kind="ordinary") == found.value(
        "tsudoi_fanout_latency_seconds_count", kind="ordinary"
    )
    assert found.value("tsudoi_send_queue_depth") is not None
    assert (found.value("tsudoi_request_latency_seconds_count", op="post.create") or 0) >= 1
    assert (found.value("tsudoi_request_latency_seconds_count", op="invalid") or 0) == 1  # the bad JSON
    assert (found.value("tsudoi_event_loop_lag_seconds_count") or 0) >= 1
    assert found.value("tsudoi_slow_consumers_closed_total") == 0
    assert found.value("tsudoi_bus_up") == 1
    assert found.value("tsudoi_storage_up") == 1
    # Admission control: a rate measured from the handshakes above, and none held at rest.
    assert (found.value("tsudoi_admission_rate") or 0) >= 1
    assert found.value("tsudoi_handshakes_held") == 0
    # The in-process bus subscribes in place, with nothing to wait for (server/gateway/hub.py):
    # only Redis's round trips are timed (the test below).
    assert found.value("tsudoi_bus_latency_seconds_count", op="subscribe") is None

    tsudoi = {name: family for name, family in found.families.items() if name.startswith("tsudoi_")}
    assert len(tsudoi) >= 14
    for family in tsudoi.values():
        assert family.documentation, f"{family.name} has no HELP text"
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
    for secret in (author.token, *(fan.token for fan in fans), author.id, author.handle):
        assert secret not in found.text


async def test_failed_handshakes_and_http_errors_are_counted_by_code(server: ServerProcess) -> None:
    before = await scrape(server)
    bad_token = await Client.open(server)
    await bad_token.send({"op": "auth", "token": "tsd_not-a-real-token"})
    assert await bad_token.closed() == 4500
    no_subprotocol = await Client.open(server, subprotocols=[])
    assert await no_subprotocol.closed() == 4503
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post("/api/login", json={"handle": "nobody_here", "password": "x" * 12})
    assert response.status_code == 401

    def grew(after: Scrape, sample: str, **labels: str) -> float:
        return (after.value(sample, **labels) or 0) - (before.value(sample, **labels) or 0)

    after = await scrape_when(server, lambda s: grew(s, "tsudoi_handshakes_failed_total", code="4500") >= 1)
    assert grew(after, "tsudoi_handshakes_failed_total", code="4500") == 1
    assert grew(after, "tsudoi_handshakes_failed_total", code="4503") == 1
    assert grew(after, "tsudoi_errors_total", code="invalid_credentials") == 1
    assert grew(after, "tsudoi_handshakes_completed_total") == 0


async def test_on_redis_publish_batches_are_timed_and_the_bus_is_up(
    start_server: Callable[..., ServerProcess],
    users_of: Callable[[ServerProcess], Users],
    redis_server: RedisProcess,
) -> None:
    server = start_server(TSUDOI_REDIS_URL=redis_server.url)
    author = await users_of(server).new("author")
    client = await Client.login(server, author.token)
    await client.call("post.create", text="Redis 経由")
    await client.next_event("post.created")

    found = await scrape_when(
        server, lambda s: (s.value("tsudoi_bus_latency_seconds_count", op="publish_batch") or 0) >= 1
    )
    assert (found.value("tsudoi_bus_latency_seconds_count", op="publish_batch") or 0) >= 1
    assert (found.value("tsudoi_bus_latency_seconds_count", op="subscribe") or 0) >= 1
    assert found.value("tsudoi_bus_up") == 1
    assert (found.value("tsudoi_fanout_latency_seconds_count", kind="ordinary") or 0) >= 1
