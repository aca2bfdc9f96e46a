"""Discover: posts from outside your circle, ranked by interest, with no footprints."""

from __future__ import annotations

from tests.support.client import Client, Users
from tests.support.server import ServerProcess


async def test_interest_matching_post_outranks_a_newer_unmatched_one(
    server: ServerProcess, users: Users
) -> None:
    viewer, poster, followed = await users.new("viewer"), await users.new("poster"), await users.new("friend")
    viewer_client = await Client.login(server, viewer.token)
    poster_client = await Client.login(server, poster.token)
    followed_client = await Client.login(server, followed.token)
    tag = f"river{viewer.handle}".lower()
    home = (await viewer_client.call("community.create", name="Home", tags=[tag]))["community"]
    matching = (await poster_client.call("community.create", name="Match", tags=[tag, "other"]))["community"]
    unmatched = (await poster_client.call("community.create", name="Elsewhere", tags=["cooking"]))[
        "community"
    ]
    closed = (
        await poster_client.call("community.create", name="Closed", tags=[tag], approval_required=True)
    )["community"]
    await viewer_client.call("follow", user_id=followed.id)

    interesting = (await poster_client.call("post.create", text="川の水位", community_id=matching["id"]))[
        "post"
    ]
    newer = (await poster_client.call("post.create", text="今日のごはん", community_id=unmatched["id"]))[
        "post"
    ]
    in_closed = (await poster_client.call("post.create", text="内輪", community_id=closed["id"]))["post"]
    from_friend = (await followed_client.call("post.create", text="友達の投稿"))["post"]
    mine = (await viewer_client.call("post.create", text="自分の", community_id=home["id"]))["post"]

    page = await viewer_client.call("timeline.discover", limit=100)
    ids = [p["id"] for p in page["posts"]]
    assert ids.index(interesting["id"]) < ids.index(newer["id"])
    for excluded in (in_closed, from_friend, mine):
        assert excluded["id"] not in ids


async def test_friends_reactions_lift_a_post(server: ServerProcess, users: Users) -> None:
    viewer, friend, poster = await users.new("viewer"), await users.new("friend"), await users.new("poster")
    viewer_client = await Client.login(server, viewer.token)
    friend_client = await Client.login(server, friend.token)
    poster_client = await Client.login(server, poster.token)
    await viewer_client.call("follow", user_id=friend.id)
    liked = (await poster_client.call("post.create", text="役に立つ情報"))["post"]
    newer = (await poster_client.call("post.create", text="ふつうの投稿"))["post"]
    await friend_client.call("post.react", post_id=liked["id"], emoji="🙏")

    ids = [p["id"] for p in (await viewer_client.call("timeline.discover", limit=100))["posts"]]
    assert ids.index(liked["id"]) < ids.index(newer["id"])


async def test_pages_follow_one_another(server: ServerProcess, users: Users) -> None:
    viewer, poster = await users.new("viewer"), await users.new("poster")
    viewer_client = await Client.login(server, viewer.token)
    poster_client = await Client.login(server, poster.token)
    for n in range(3):
        await poster_client.call("post.create", text=f"投稿{n}")
    everything = [p["id"] for p in (await viewer_client.call("timeline.discover", limit=100))["posts"]]
    paged: list[str] = []
    cursor = None
    while True:
        page = await viewer_client.call(
            "timeline.discover", limit=2, **({"cursor": cursor} if cursor else {})
        )
        paged += [p["id"] for p in page["posts"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert paged == everything
