"""Issue 17's lists, counts and moderation faults against a real server: follower and following
lists, reply/repost/quote counts (read and live), join requests live to a community's staff, and
report categories in the operators' queue."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess, tsudoi


async def _all_pages(client: Client, op: str, user_id: str, limit: int) -> tuple[list[str], int]:
    """Every user of a list, page by page, and how many pages it took."""
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        args = {"user_id": user_id, "limit": limit} | ({"cursor": cursor} if cursor else {})
        page = await client.call(op, **args)
        pages += 1
        ids += [u["id"] for u in page["users"]]
        cursor = page["next"]
        if cursor is None:
            return ids, pages


async def test_followers_and_following_page_newest_first(server: ServerProcess, users: Users) -> None:
    star = await users.new("star")
    fans = [await users.new("fan") for _ in range(5)]
    for fan in fans:
        fan_client = await Client.login(server, fan.token)
        await fan_client.call("follow", user_id=star.id)
        await fan_client.close()
        await asyncio.sleep(0.005)  # distinct follow times, so "newest first" is one order
    star_client = await Client.login(server, star.token)
    for fan in fans[:3]:
        await star_client.call("follow", user_id=fan.id)
        await asyncio.sleep(0.005)

    followers, pages = await _all_pages(star_client, "user.followers", star.id, limit=2)
    assert followers == [f.id for f in reversed(fans)] and pages == 3
    following, _ = await _all_pages(star_client, "user.following", star.id, limit=2)
    # The star also follows nobody else: a user invited by the root follows the root on joining.
    assert following[:3] == [f.id for f in reversed(fans[:3])]
    first = await star_client.call("user.followers", user_id=star.id, limit=5)
    assert [u["handle"] for u in first["users"]] == [f.handle for f in reversed(fans)]
    assert set(first["users"][0]) == {"id", "handle", "display_name", "verified", "bot", "avatar"}

    for cursor in ("o20", "e12.nope", "e" + "9" * 16 + "." + fans[0].id):
        with pytest.raises(ErrorFrame) as refused:
            await star_client.call("user.followers", user_id=star.id, cursor=cursor)
        assert (refused.value.code, refused.value.frame["path"]) == ("invalid_cursor", "$.cursor")
    with pytest.raises(ErrorFrame) as missing:
        await star_client.call("user.following", user_id="0" * 26)
    assert missing.value.code == "not_found"


async def test_lists_leave_out_the_hidden_and_a_block_answers_not_found(
    server: ServerProcess, users: Users
) -> None:
    star, viewer, muted, blocker = [await users.new(p) for p in ("star", "viewer", "muted", "blocker")]
    for account in (viewer, muted, blocker):
        client = await Client.login(server, account.token)
        await client.call("follow", user_id=star.id)
        await client.close()
    viewer_client = await Client.login(server, viewer.token)
    await viewer_client.call("mute.add", user_id=muted.id)
    blocker_client = await Client.login(server, blocker.token)
    # The blocker blocks the viewer (and still follows the star): the viewer never sees them.
    await blocker_client.call("block.add", user_id=viewer.id)

    seen = [u["id"] for u in (await viewer_client.call("user.followers", user_id=star.id))["users"]]
    assert viewer.id in seen and muted.id not in seen and blocker.id not in seen
    star_client = await Client.login(server, star.token)
    everyone = [u["id"] for u in (await star_client.call("user.followers", user_id=star.id))["users"]]
    assert {viewer.id, muted.id, blocker.id} <= set(everyone)

    # Someone who blocks you, or whom you block: their lists are not_found, as their posts are.
    for client, other in ((viewer_client, blocker), (blocker_client, viewer)):
        for op in ("user.followers", "user.following"):
            with pytest.raises(ErrorFrame) as refused:
                await client.call(op, user_id=other.id)
            assert (refused.value.code, refused.value.frame["path"]) == ("not_found", "$.user_id")


async def test_reply_repost_and_quote_counts_are_read_and_live(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    other = await users.new("other")
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    other_client = await Client.login(server, other.token)
    post = (await author_client.call("post.create", text="給水所は体育館です"))["post"]
    assert (post["replies_count"], post["reposts_count"], post["quotes_count"]) == (0, 0, 0)
    await fan_client.events_now()

    reply = (await other_client.call("post.create", text="ありがとう", reply_to=post["id"]))["post"]
    live = (await fan_client.next_event("post.counts"))["data"]
    assert live == {"post_id": post["id"], "replies_count": 1, "reposts_count": 0, "quotes_count": 0}
    repost = (await other_client.call("post.repost", post_id=post["id"]))["post"]
    assert (await fan_client.next_event("post.counts"))["data"]["reposts_count"] == 1
    await other_client.call("post.create", text="拡散します", quote_of=post["id"])
    live = (await fan_client.next_event("post.counts"))["data"]
    assert (live["replies_count"], live["reposts_count"], live["quotes_count"]) == (1, 1, 1)

    read = (await fan_client.call("post.get", post_id=post["id"]))["post"]
    assert (read["replies_count"], read["reposts_count"], read["quotes_count"]) == (1, 1, 1)
    timeline = await fan_client.call("timeline.user", user_id=author.id)
    assert timeline["posts"][0]["replies_count"] == 1
    # A repost carries the original, with the original's counts, and none of its own.
    shown = (await other_client.call("post.get", post_id=repost["id"]))["post"]
    assert shown["reposts_count"] == 0 and shown["repost_of"]["reposts_count"] == 1

    await other_client.call("post.delete", post_id=reply["id"])
    assert (await fan_client.next_event("post.counts"))["data"]["replies_count"] == 0
    await other_client.call("post.delete", post_id=repost["id"])
    assert (await fan_client.next_event("post.counts"))["data"]["reposts_count"] == 0
    read = (await author_client.call("post.get", post_id=post["id"]))["post"]
    assert (read["replies_count"], read["reposts_count"], read["quotes_count"]) == (0, 0, 1)


async def test_counts_events_skip_who_hides_the_replier(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    pest = await users.new("pest")
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    pest_client = await Client.login(server, pest.token)
    await fan_client.call("mute.add", user_id=pest.id)
    post = (await author_client.call("post.create", text="どうぞ"))["post"]
    await fan_client.events_now()
    await pest_client.call("post.create", text="うるさい返信", reply_to=post["id"])
    assert [e for e in await fan_client.events_now() if e["type"] == "post.counts"] == []
    # The count is a total over everyone, as reaction counts are.
    assert (await fan_client.call("post.get", post_id=post["id"]))["post"]["replies_count"] == 1


async def test_join_requests_reach_the_staff_live(server: ServerProcess, users: Users) -> None:
    owner, moderator, asker, outsider = [
        await users.new(p) for p in ("owner", "moderator", "asker", "outsider")
    ]
    owner_client = await Client.login(server, owner.token)
    moderator_client = await Client.login(server, moderator.token)
    asker_client = await Client.login(server, asker.token)
    outsider_client = await Client.login(server, outsider.token)
    community = (await owner_client.call("community.create", name="避難所運営", approval_required=True))[
        "community"
    ]
    await moderator_client.call("community.join", community_id=community["id"])
    await owner_client.call("community.approve", community_id=community["id"], user_id=moderator.id)
    await owner_client.call(
        "community.set_role", community_id=community["id"], user_id=moderator.id, role="moderator"
    )
    await owner_client.events_now()
    await moderator_client.events_now()

    await asker_client.call("community.join", community_id=community["id"])
    for staff in (owner_client, moderator_client):
        event = (await staff.next_event("community.join_request"))["data"]
        assert event["community_id"] == community["id"] and event["change"] == "requested"
        assert event["user"]["id"] == asker.id and event["requested_at"] is not None
    await asker_client.call("community.leave", community_id=community["id"])
    for staff in (owner_client, moderator_client):
        withdrawn = (await staff.next_event("community.join_request"))["data"]
        assert (withdrawn["change"], withdrawn["requested_at"]) == ("withdrawn", None)

    await asker_client.call("community.join", community_id=community["id"])
    assert (await moderator_client.next_event("community.join_request"))["data"]["change"] == "requested"
    await owner_client.call("community.approve", community_id=community["id"], user_id=asker.id)
    # The other moderator's list drops the request the owner decided.
    approved = [e for e in await moderator_client.events_now() if e["type"] == "community.join_request"]
    assert [e["data"]["change"] for e in approved] == ["approved"]
    others = await outsider_client.events_now() + await asker_client.events_now()
    assert [e for e in others if e["type"] == "community.join_request"] == []


async def test_report_categories_reach_the_operators_queue(server: ServerProcess, users: Users) -> None:
    reporter, liar = await users.new("reporter"), await users.new("liar")
    reporter_client = await Client.login(server, reporter.token)
    liar_client = await Client.login(server, liar.token)
    post = (await liar_client.call("post.create", text="給水は終わりました（嘘）"))["post"]
    only_kind = await reporter_client.call("report.create", post_id=post["id"], category="misinformation")
    both = await reporter_client.call(
        "report.create", user_id=liar.id, category="spam", reason="同じ宣伝を何度も"
    )
    for empty in ({}, {"reason": "   "}):
        with pytest.raises(ErrorFrame) as refused:
            await reporter_client.call("report.create", user_id=liar.id, **empty)
        assert (refused.value.code, refused.value.frame["path"]) == ("invalid_frame", "$.reason")
    with pytest.raises(ErrorFrame) as unknown:
        await reporter_client.call("report.create", user_id=liar.id, category="rude")
    assert unknown.value.code == "invalid_frame"

    listed = orjson.loads(tsudoi("admin", "reports", "--json", "--data", str(server.data_dir)).stdout)
    by_id = {row["id"]: row for row in listed}
    assert (by_id[only_kind["report_id"]]["category"], by_id[only_kind["report_id"]]["reason"]) == (
        "misinformation",
        "",
    )
    assert by_id[both["report_id"]]["category"] == "spam"
    plain = tsudoi("admin", "reports", "--data", str(server.data_dir)).stdout
    line = next(row for row in plain.splitlines() if row.startswith(both["report_id"]))
    assert "[spam] '同じ宣伝を何度も'" in line
