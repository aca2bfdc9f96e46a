"""Communities end to end: gathering, moderating, announcing — on a real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess, tsudoi


async def _community(client: Client, **args: object) -> dict[str, Any]:
    """The community a ``community.create`` made, as JSON (like every frame ``Client`` returns)."""
    base: dict[str, object] = {"name": "仙台 防災", "description": "地域の情報", "tags": ["Sendai", "防災"]}
    community: dict[str, Any] = (await client.call("community.create", **{**base, **args}))["community"]
    return community


async def test_create_join_and_post_live_to_every_member(server: ServerProcess, users: Users) -> None:
    owner, member, outsider = await users.new("owner"), await users.new("member"), await users.new("outside")
    owner_client = await Client.login(server, owner.token)
    member_client = await Client.login(server, member.token)
    outsider_client = await Client.login(server, outsider.token)

    community = await _community(owner_client)
    assert community["tags"] == ["sendai", "防災"]  # canonical: NFKC, case-folded
    assert community["my_role"] == "owner" and community["member_count"] == 1
    joined = (await member_client.call("community.join", community_id=community["id"]))["community"]
    assert joined["my_role"] == "member" and joined["member_count"] == 2
    change = await member_client.next_event("community.membership")
    assert change["data"]["change"] == "joined"

    post = (await member_client.call("post.create", text="避難所は小学校です", community_id=community["id"]))[
        "post"
    ]
    assert post["community_id"] == community["id"]
    for client in (owner_client, member_client):
        event = await client.next_event("post.created")
        assert event["data"]["post"]["id"] == post["id"]
        assert event["stream"] == "following"
    assert [e for e in await outsider_client.events_now() if e["type"] == "post.created"] == []

    page = await outsider_client.call("community.timeline", community_id=community["id"])
    assert [p["id"] for p in page["posts"]] == [post["id"]]  # an open community is readable by all
    following = await owner_client.call("timeline.following")
    assert post["id"] in [p["id"] for p in following["posts"]]  # on members' Following timeline


async def test_non_members_cannot_post_and_leaving_stops_delivery(
    server: ServerProcess, users: Users
) -> None:
    owner, member = await users.new("owner"), await users.new("member")
    owner_client = await Client.login(server, owner.token)
    member_client = await Client.login(server, member.token)
    community = await _community(owner_client)

    with pytest.raises(ErrorFrame) as refused:
        await member_client.call("post.create", text="入れて", community_id=community["id"])
    assert refused.value.code == "not_member"

    await member_client.call("community.join", community_id=community["id"])
    left = (await member_client.call("community.leave", community_id=community["id"]))["community"]
    assert left["my_role"] is None
    await owner_client.call("post.create", text="退会後", community_id=community["id"])
    await owner_client.next_event("post.created")
    assert [e for e in await member_client.events_now() if e["type"] == "post.created"] == []
    with pytest.raises(ErrorFrame) as owner_leaving:
        await owner_client.call("community.leave", community_id=community["id"])
    assert owner_leaving.value.code == "owner_must_transfer"


async def test_approval_requests_notify_staff_and_approval_lets_in(
    server: ServerProcess, users: Users
) -> None:
    owner, asker = await users.new("owner"), await users.new("asker")
    owner_client = await Client.login(server, owner.token)
    asker_client = await Client.login(server, asker.token)
    community = await _community(owner_client, name="Closed", approval_required=True)

    with pytest.raises(ErrorFrame) as closed:
        await asker_client.call("community.timeline", community_id=community["id"])
    assert closed.value.code == "forbidden"
    requested = (await asker_client.call("community.join", community_id=community["id"]))["community"]
    assert requested["request_pending"] is True and requested["my_role"] is None
    with pytest.raises(ErrorFrame) as again:
        await asker_client.call("community.join", community_id=community["id"])
    assert again.value.code == "request_pending"
    notice = await owner_client.next_event("notification")
    assert notice["data"]["notification"]["kind"] == "join_request"
    assert notice["data"]["notification"]["actor"]["id"] == asker.id

    with pytest.raises(ErrorFrame) as not_staff:
        await asker_client.call("community.approve", community_id=community["id"], user_id=asker.id)
    assert not_staff.value.code == "forbidden"
    requests = await owner_client.call("community.requests", community_id=community["id"])
    assert [r["user"]["id"] for r in requests["requests"]] == [asker.id]
    member = (await owner_client.call("community.approve", community_id=community["id"], user_id=asker.id))[
        "member"
    ]
    assert member["role"] == "member"
    approved = await asker_client.next_event("notification")
    assert approved["data"]["notification"]["kind"] == "join_approved"
    post = (await owner_client.call("post.create", text="ようこそ", community_id=community["id"]))["post"]
    assert (await asker_client.next_event("post.created"))["data"]["post"]["id"] == post["id"]


async def test_decline_removes_the_request(server: ServerProcess, users: Users) -> None:
    owner, asker = await users.new("owner"), await users.new("asker")
    owner_client = await Client.login(server, owner.token)
    asker_client = await Client.login(server, asker.token)
    community = await _community(owner_client, approval_required=True)
    await asker_client.call("community.join", community_id=community["id"])
    assert await owner_client.call("community.decline", community_id=community["id"], user_id=asker.id) == {}
    change = [e for e in await asker_client.events_now() if e["type"] == "community.membership"]
    assert change[-1]["data"]["change"] == "declined"
    got = (await asker_client.call("community.get", community_id=community["id"]))["community"]
    assert got["request_pending"] is False


async def test_moderators_remove_posts_ban_and_banned_cannot_rejoin_or_post(
    server: ServerProcess, users: Users
) -> None:
    owner, moderator, troll = await users.new("owner"), await users.new("mod"), await users.new("troll")
    owner_client = await Client.login(server, owner.token)
    mod_client = await Client.login(server, moderator.token)
    troll_client = await Client.login(server, troll.token)
    community = await _community(owner_client)
    cid = community["id"]
    for client in (mod_client, troll_client):
        await client.call("community.join", community_id=cid)
    role = await owner_client.call(
        "community.set_role", community_id=cid, user_id=moderator.id, role="moderator"
    )
    assert role["member"]["role"] == "moderator"

    spam = (await troll_client.call("post.create", text="spam spam", community_id=cid))["post"]
    await owner_client.next_event("post.created")
    assert await mod_client.call("post.delete", post_id=spam["id"]) == {"post_id": spam["id"]}
    deleted = await owner_client.next_event("post.deleted")
    assert deleted["data"] == {"post_id": spam["id"], "author_id": troll.id, "community_id": cid}

    with pytest.raises(ErrorFrame) as mod_bans_owner:
        await mod_client.call("community.ban", community_id=cid, user_id=owner.id)
    assert mod_bans_owner.value.code == "owner_must_transfer"
    assert await mod_client.call("community.ban", community_id=cid, user_id=troll.id) == {}
    banned = [e for e in await troll_client.events_now() if e["type"] == "community.membership"]
    assert banned[-1]["data"]["change"] == "banned"
    for op, args in (("community.join", {}), ("post.create", {"text": "戻った"})):
        with pytest.raises(ErrorFrame) as refused:
            await troll_client.call(op, community_id=cid, **args)
        assert refused.value.code == "banned"
    # Banned means gone from the live channel too.
    await owner_client.call("post.create", text="平和", community_id=cid)
    assert [e for e in await troll_client.events_now() if e["type"] == "post.created"] == []

    assert await mod_client.call("community.unban", community_id=cid, user_id=troll.id) == {}
    await troll_client.call("community.join", community_id=cid)


async def test_moderators_act_only_in_their_own_communities(server: ServerProcess, users: Users) -> None:
    owner_a, owner_b, member = await users.new("ownera"), await users.new("ownerb"), await users.new("member")
    a_client = await Client.login(server, owner_a.token)
    b_client = await Client.login(server, owner_b.token)
    member_client = await Client.login(server, member.token)
    community_a = await _community(a_client, name="A")
    community_b = await _community(b_client, name="B")
    await member_client.call("community.join", community_id=community_b["id"])
    post = (await member_client.call("post.create", text="Bの投稿", community_id=community_b["id"]))["post"]

    attempts = [
        ("post.delete", {"post_id": post["id"]}),
        ("community.ban", {"community_id": community_b["id"], "user_id": member.id}),
        (
            "community.set_role",
            {"community_id": community_b["id"], "user_id": member.id, "role": "moderator"},
        ),
        ("community.requests", {"community_id": community_b["id"]}),
        ("community.transfer", {"community_id": community_b["id"], "user_id": member.id}),
    ]
    for op, args in attempts:
        with pytest.raises(ErrorFrame) as refused:
            await a_client.call(op, **args)
        assert refused.value.code == "forbidden", op
    assert community_a["my_role"] == "owner"


async def test_transfer_makes_the_old_owner_a_moderator(server: ServerProcess, users: Users) -> None:
    owner, heir = await users.new("owner"), await users.new("heir")
    owner_client = await Client.login(server, owner.token)
    heir_client = await Client.login(server, heir.token)
    community = await _community(owner_client)
    await heir_client.call("community.join", community_id=community["id"])
    after = (await owner_client.call("community.transfer", community_id=community["id"], user_id=heir.id))[
        "community"
    ]
    assert after["owner"]["id"] == heir.id and after["my_role"] == "moderator"
    assert (await heir_client.call("community.get", community_id=community["id"]))["community"][
        "my_role"
    ] == "owner"
    await owner_client.call("community.leave", community_id=community["id"])  # no longer the owner


async def test_certified_announcements_notify_every_member(server: ServerProcess, users: Users) -> None:
    owner, member = await users.new("city"), await users.new("resident")
    owner_client = await Client.login(server, owner.token)
    member_client = await Client.login(server, member.token)
    community = await _community(owner_client, name="仙台市 公式")
    await member_client.call("community.join", community_id=community["id"])
    with pytest.raises(ErrorFrame) as uncertified:
        await owner_client.call("community.announce", community_id=community["id"], text="給水所のお知らせ")
    assert uncertified.value.code == "not_certified"

    result = tsudoi("admin", "certify", community["id"], "--data", str(server.data_dir))
    assert result.returncode == 0, result.stderr
    with pytest.raises(ErrorFrame) as member_announcing:
        await member_client.call("community.announce", community_id=community["id"], text="偽のお知らせ")
    assert member_announcing.value.code == "forbidden"
    await member_client.events_now()  # what joining sent
    post = (
        await owner_client.call("community.announce", community_id=community["id"], text="給水所は市役所前")
    )["post"]
    assert post["announcement"] is True
    # Its notification first (the priority lane), then the post itself.
    first, second = await member_client.next_event(), await member_client.next_event()
    assert (first["type"], first["stream"], second["type"]) == (
        "notification",
        "notifications",
        "post.created",
    )
    notice = first["data"]["notification"]
    assert (notice["kind"], notice["post_id"], notice["community_id"]) == (
        "announcement",
        post["id"],
        community["id"],
    )
    assert notice["actor"]["id"] == owner.id and notice["read"] is False and first["pos"] == notice["id"]
    assert second["data"]["post"]["id"] == post["id"]
    got = (await member_client.call("community.get", community_id=community["id"]))["community"]
    assert got["certified"] is True


async def test_an_announcement_is_one_notification_each_member_reads_for_themselves(
    server: ServerProcess, users: Users
) -> None:
    owner, ann, ben, late = (
        await users.new("city"),
        await users.new("ann"),
        await users.new("ben"),
        await users.new("late"),
    )
    owner_client = await Client.login(server, owner.token)
    community = await _community(owner_client, name="石巻市 公式")
    assert tsudoi("admin", "certify", community["id"], "--data", str(server.data_dir)).returncode == 0
    ann_client, ben_client = await Client.login(server, ann.token), await Client.login(server, ben.token)
    for client in (ann_client, ben_client):
        await client.call("community.join", community_id=community["id"])
    await ann_client.call("mute.add", user_id=owner.id)  # muting staff does not hide announcements
    await owner_client.call("follow", user_id=ben.id)  # so Ben has a notification, and a cursor
    await ben_client.next_event("notification")
    before = (await ben_client.call("notification.list"))["unread"]
    # Ben is away when it is announced, with his cursor: he gets it when he comes back.
    cursor = ben_client.cursors["notifications"]
    await ben_client.close()

    post = (await owner_client.call("community.announce", community_id=community["id"], text="給水車 14時"))[
        "post"
    ]
    live = (await ann_client.next_event("notification"))["data"]["notification"]
    assert live["post_id"] == post["id"]
    # The owner made it and is not notified; a member who joins later is not either.
    await owner_client.next_event("post.created")
    assert [e for e in await owner_client.events_now() if e["type"] == "notification"] == []
    late_client = await Client.login(server, late.token)
    await late_client.call("community.join", community_id=community["id"])
    assert (await late_client.call("notification.list"))["notifications"] == []

    back = await Client.login(server, ben.token, cursors={"notifications": cursor})
    assert back.ready is not None and back.ready["recovered"] is True
    # Replayed from storage: the same notification as Ann's.
    assert (await back.next_event("notification"))["data"]["notification"] == live
    page = await back.call("notification.list")
    assert page["notifications"][0] == live and page["unread"] == before + 1

    # Each member's read state is their own.
    assert (await ann_client.call("notification.read", notification_id=live["id"]))["unread"] == 0
    assert (await ann_client.call("notification.list"))["notifications"][0]["read"] is True
    assert (await back.call("notification.list"))["notifications"][0]["read"] is False
    assert (await back.call("notification.read_all"))["unread"] == 0
    assert (await back.call("notification.list"))["unread"] == 0


async def test_search_by_name_and_tag_largest_first(server: ServerProcess, users: Users) -> None:
    owner, joiner = await users.new("owner"), await users.new("joiner")
    owner_client = await Client.login(server, owner.token)
    joiner_client = await Client.login(server, joiner.token)
    marker = f"Quake{owner.handle}"
    small = await _community(owner_client, name=f"{marker} small", tags=["tohoku"])
    big = await _community(owner_client, name=f"{marker} BIG", tags=["tohoku", "water"])
    await joiner_client.call("community.join", community_id=big["id"])

    found = await joiner_client.call("community.search", query=marker.lower())
    assert [c["id"] for c in found["communities"]] == [big["id"], small["id"]]
    tagged = await joiner_client.call("community.search", query=marker, tag="WATER")
    assert [c["id"] for c in tagged["communities"]] == [big["id"]]
    first = await joiner_client.call("community.search", query=marker, limit=1)
    second = await joiner_client.call("community.search", query=marker, limit=1, cursor=first["next"])
    assert [c["id"] for c in first["communities"] + second["communities"]] == [big["id"], small["id"]]
    assert second["next"] is None
    with pytest.raises(ErrorFrame) as bad:
        await joiner_client.call("community.search", query=marker, cursor="nonsense")
    assert bad.value.code == "invalid_cursor"
    members = await joiner_client.call("community.members", community_id=big["id"])
    assert [(m["user"]["id"], m["role"]) for m in members["members"]] == [
        (owner.id, "owner"),
        (joiner.id, "member"),
    ]


async def test_joining_resumes_community_posts_by_cursor(server: ServerProcess, users: Users) -> None:
    owner, member = await users.new("owner"), await users.new("member")
    owner_client = await Client.login(server, owner.token)
    member_client = await Client.login(server, member.token)
    community = await _community(owner_client)
    await member_client.call("community.join", community_id=community["id"])
    first = (await owner_client.call("post.create", text="一", community_id=community["id"]))["post"]
    await member_client.next_event("post.created")
    cursors = dict(member_client.cursors)
    await member_client.close()
    missed = [
        (await owner_client.call("post.create", text=f"{n}", community_id=community["id"]))["post"]
        for n in range(3)
    ]

    back = await Client.login(server, member.token, cursors)
    assert back.ready is not None and back.ready["recovered"] is True
    replayed = [(await back.next_event("post.created"))["data"]["post"]["id"] for _ in missed]
    assert replayed == [p["id"] for p in missed]
    assert first["id"] not in replayed


async def test_my_communities_with_my_role_in_joining_order(server: ServerProcess, users: Users) -> None:
    me, other = await users.new("me"), await users.new("other")
    my_client = await Client.login(server, me.token)
    other_client = await Client.login(server, other.token)
    tea = await _community(other_client, name="お茶")
    closed = await _community(other_client, name="内輪", approval_required=True)
    left = await _community(other_client, name="去った")
    staff = await _community(other_client, name="係")
    assert (await my_client.call("community.mine")) == {"communities": [], "next": None}

    mine = await _community(my_client, name="わたしの")
    for community in (tea, left, staff):
        await my_client.call("community.join", community_id=community["id"])
    await my_client.call("community.join", community_id=closed["id"])  # a request, not a membership
    await my_client.call("community.leave", community_id=left["id"])
    await other_client.call("community.set_role", community_id=staff["id"], user_id=me.id, role="moderator")

    first = await my_client.call("community.mine", limit=2)
    assert [(c["id"], c["my_role"]) for c in first["communities"]] == [
        (mine["id"], "owner"),
        (tea["id"], "member"),
    ]
    assert first["next"] is not None
    second = await my_client.call("community.mine", limit=2, cursor=first["next"])
    assert [(c["id"], c["my_role"]) for c in second["communities"]] == [(staff["id"], "moderator")]
    assert second["next"] is None
    assert second["communities"][0]["owner"]["id"] == other.id
    assert (
        second["communities"][0]["member_count"] == 2 and second["communities"][0]["request_pending"] is False
    )
    theirs = await other_client.call("community.mine")
    assert [c["name"] for c in theirs["communities"]] == ["お茶", "内輪", "去った", "係"]
