"""Blocks, mutes and reports: what each hides, live and in reads."""

from __future__ import annotations

import orjson
import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess, tsudoi


async def test_block_ends_follows_and_hides_both_ways(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    await author_client.call("follow", user_id=fan.id)

    profile = (await author_client.call("block.add", user_id=fan.id))["user"]
    assert profile["blocking"] is True and profile["following"] is False and profile["followed_by"] is False
    await author_client.call("post.create", text="見えないはず")
    assert [e for e in await fan_client.events_now() if e["type"] == "post.created"] == []
    with pytest.raises(ErrorFrame) as refused:
        await fan_client.call("follow", user_id=author.id)
    assert refused.value.code == "blocked"
    with pytest.raises(ErrorFrame) as refused_too:
        await author_client.call("follow", user_id=fan.id)
    assert refused_too.value.code == "blocked"
    assert [u["id"] for u in (await author_client.call("block.list"))["users"]] == [fan.id]

    after = (await author_client.call("block.remove", user_id=fan.id))["user"]
    assert after["blocking"] is False
    await fan_client.call("follow", user_id=author.id)


async def test_blocked_authors_vanish_from_shared_communities_live_and_in_reads(
    server: ServerProcess, users: Users
) -> None:
    owner, pest = await users.new("owner"), await users.new("pest")
    owner_client = await Client.login(server, owner.token)
    pest_client = await Client.login(server, pest.token)
    community = (await owner_client.call("community.create", name="Town"))["community"]
    await pest_client.call("community.join", community_id=community["id"])
    await owner_client.call("block.add", user_id=pest.id)

    post = (await pest_client.call("post.create", text="うるさい", community_id=community["id"]))["post"]
    mine = (await owner_client.call("post.create", text="静か", community_id=community["id"]))["post"]
    live = [e["data"]["post"]["id"] for e in await owner_client.events_now() if e["type"] == "post.created"]
    assert live == [mine["id"]]
    pest_live = [
        e["data"]["post"]["id"] for e in await pest_client.events_now() if e["type"] == "post.created"
    ]
    assert pest_live == [post["id"]]  # hidden both ways: the blocked one does not see the blocker
    page = await owner_client.call("community.timeline", community_id=community["id"])
    assert [p["id"] for p in page["posts"]] == [mine["id"]]
    with pytest.raises(ErrorFrame) as hidden:
        await owner_client.call("post.get", post_id=post["id"])
    assert hidden.value.code == "not_found"


async def test_mute_hides_one_way_and_silently(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    profile = (await fan_client.call("mute.add", user_id=author.id))["user"]
    assert profile["muting"] is True and profile["following"] is True  # still following

    post = (await author_client.call("post.create", text="ミュート中"))["post"]
    assert [e for e in await fan_client.events_now() if e["type"] == "post.created"] == []
    assert post["id"] not in [p["id"] for p in (await fan_client.call("timeline.following"))["posts"]]
    await author_client.call("post.create", text=f"@{fan.handle} 聞こえる？")
    assert [e for e in await fan_client.events_now() if e["type"] == "notification"] == []
    fan_post = (await fan_client.call("post.create", text="こちらは見える"))["post"]
    assert (await fan_client.next_event("post.created"))["data"]["post"]["id"] == fan_post["id"]  # their own
    assert (await author_client.call("post.get", post_id=fan_post["id"]))["post"]["id"] == fan_post["id"]
    assert [u["id"] for u in (await fan_client.call("mute.list"))["users"]] == [author.id]

    await fan_client.call("mute.remove", user_id=author.id)
    again = (await author_client.call("post.create", text="戻った"))["post"]
    assert (await fan_client.next_event("post.created"))["data"]["post"]["id"] == again["id"]


async def test_reports_reach_the_operators_queue(server: ServerProcess, users: Users) -> None:
    reporter, troll = await users.new("reporter"), await users.new("troll")
    reporter_client = await Client.login(server, reporter.token)
    troll_client = await Client.login(server, troll.token)
    post = (await troll_client.call("post.create", text="デマ"))["post"]
    by_post = await reporter_client.call("report.create", post_id=post["id"], reason="false information")
    by_user = await reporter_client.call("report.create", user_id=troll.id, reason="spam account")
    with pytest.raises(ErrorFrame) as both:
        await reporter_client.call("report.create", post_id=post["id"], user_id=troll.id, reason="x")
    assert both.value.code == "invalid_frame"

    listed = tsudoi("admin", "reports", "--json", "--data", str(server.data_dir))
    assert listed.returncode == 0, listed.stderr
    rows = orjson.loads(listed.stdout)  # one JSON array
    ids = [row["id"] for row in rows]
    assert by_post["report_id"] in ids and by_user["report_id"] in ids
    resolved = tsudoi("admin", "reports", "--resolve", by_post["report_id"], "--data", str(server.data_dir))
    assert resolved.returncode == 0, resolved.stderr
    still_open = tsudoi("admin", "reports", "--json", "--data", str(server.data_dir)).stdout
    assert by_post["report_id"] not in still_open and by_user["report_id"] in still_open


async def test_reporting_a_post_you_cannot_read_answers_as_a_made_up_id(
    server: ServerProcess, users: Users
) -> None:
    """report.create is no oracle: a post hidden from the reporter (by an author who blocked
    them, in a closed community they are not in, deleted) is refused exactly as an id that
    names nothing, code, message and path alike."""
    reporter, blocker, owner = (
        await users.new("reporter"),
        await users.new("blocker"),
        await users.new("owner"),
    )
    reporter_client = await Client.login(server, reporter.token)
    blocker_client = await Client.login(server, blocker.token)
    owner_client = await Client.login(server, owner.token)
    await blocker_client.call("block.add", user_id=reporter.id)
    blocked_post = (await blocker_client.call("post.create", text="見せない"))["post"]
    closed = (await owner_client.call("community.create", name="Closed", approval_required=True))["community"]
    closed_post = (await owner_client.call("post.create", text="内輪", community_id=closed["id"]))["post"]
    deleted_post = (await owner_client.call("post.create", text="消す"))["post"]
    await owner_client.call("post.delete", post_id=deleted_post["id"])

    async def refusal(post_id: str) -> dict[str, object]:
        with pytest.raises(ErrorFrame) as refused:
            await reporter_client.call("report.create", post_id=post_id, reason="spam")
        return {k: v for k, v in refused.value.frame.items() if k != "id"}

    made_up = await refusal("01M7XKB5XY4WE4APCNH1Q4DQHZ")
    assert made_up["code"] == "not_found"
    for hidden in (blocked_post, closed_post, deleted_post):
        assert await refusal(hidden["id"]) == made_up
    listed = orjson.loads(tsudoi("admin", "reports", "--json", "--data", str(server.data_dir)).stdout)
    assert [row for row in listed if row.get("post_id") in {blocked_post["id"], closed_post["id"]}] == []
    # The owner can read their own closed community's post, so their report is taken.
    taken = await owner_client.call("report.create", post_id=closed_post["id"], reason="test")
    assert taken["report_id"]
