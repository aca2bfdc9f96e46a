"""Posts beyond the basics: reactions, replies and threads, reposts and quotes, mentions."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess, tsudoi


async def test_reactions_are_live_counted_and_mine(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    limits = author_client.hello["limits"] if author_client.hello else {}
    assert "👍" in limits["reaction_emoji"]
    post = (await author_client.call("post.create", text="無事です"))["post"]
    assert post["reactions"] == [] and post["my_reactions"] == []
    await fan_client.next_event("post.created")

    result = await fan_client.call("post.react", post_id=post["id"], emoji="👍")
    assert result == {
        "post_id": post["id"],
        "reactions": [{"emoji": "👍", "count": 1}],
        "my_reactions": ["👍"],
    }
    again = await fan_client.call("post.react", post_id=post["id"], emoji="👍")  # idempotent
    assert again["reactions"] == [{"emoji": "👍", "count": 1}]
    await fan_client.call("post.react", post_id=post["id"], emoji="❤")  # without VS16: the same heart
    await author_client.call("post.react", post_id=post["id"], emoji="👍")

    events = await author_client.events_now()
    live = [e for e in events if e["type"] == "post.reactions"]
    assert [(e["data"]["user_id"], e["data"]["emoji"], e["data"]["added"]) for e in live] == [
        (fan.id, "👍", True),
        (fan.id, "❤️", True),
        (author.id, "👍", True),
    ]
    assert live[-1]["data"]["reactions"] == [{"emoji": "👍", "count": 2}, {"emoji": "❤️", "count": 1}]
    seen_by_fan = (await fan_client.call("post.get", post_id=post["id"]))["post"]
    assert seen_by_fan["my_reactions"] == ["👍", "❤️"]
    notices = [e["data"]["notification"] for e in events if e["type"] == "notification"]
    assert [(n["kind"], n["emoji"], n["actor"]["id"]) for n in notices] == [
        ("reaction", "👍", fan.id),
        ("reaction", "❤️", fan.id),
    ]

    removed = await fan_client.call("post.unreact", post_id=post["id"], emoji="👍")
    assert removed["my_reactions"] == ["❤️"]
    # Emoji are ordered by their earliest standing reaction: the author's 👍 came after the fan's ❤️.
    assert removed["reactions"] == [{"emoji": "❤️", "count": 1}, {"emoji": "👍", "count": 1}]
    with pytest.raises(ErrorFrame) as not_allowed:
        await fan_client.call("post.react", post_id=post["id"], emoji="🦄")
    assert not_allowed.value.code == "reaction_not_allowed"


async def test_replies_make_a_thread_and_notify(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    root = (await author_client.call("post.create", text="停電しています"))["post"]
    reply = (await fan_client.call("post.create", text="こちらも", reply_to=root["id"]))["post"]
    deeper = (await author_client.call("post.create", text="復旧待ち", reply_to=reply["id"]))["post"]
    second = (await fan_client.call("post.create", text="懐中電灯あります", reply_to=root["id"]))["post"]

    thread = await fan_client.call("post.thread", post_id=reply["id"])
    assert [p["id"] for p in thread["ancestors"]] == [root["id"]]
    assert thread["post"]["id"] == reply["id"]
    assert [p["id"] for p in thread["replies"]] == [deeper["id"]]
    top = await fan_client.call("post.thread", post_id=root["id"], limit=1)
    rest = await fan_client.call("post.thread", post_id=root["id"], limit=1, after=top["next"])
    assert [p["id"] for p in top["replies"] + rest["replies"]] == [reply["id"], second["id"]]
    notices = [
        e["data"]["notification"] for e in await author_client.events_now() if e["type"] == "notification"
    ]
    assert [(n["kind"], n["post_id"]) for n in notices] == [("reply", reply["id"]), ("reply", second["id"])]


async def test_an_embedded_quote_is_one_level_deep(server: ServerProcess, users: Users) -> None:
    """Quoting or reposting a quote embeds it without what it quotes (PROTOCOL.md section 1, Post)."""
    author, sharer = await users.new("author"), await users.new("sharer")
    author_client = await Client.login(server, author.token)
    sharer_client = await Client.login(server, sharer.token)
    original = (await author_client.call("post.create", text="一"))["post"]
    quote = (await sharer_client.call("post.create", text="二", quote_of=original["id"]))["post"]
    assert quote["quote_of"]["id"] == original["id"]

    quote_of_quote = (await author_client.call("post.create", text="三", quote_of=quote["id"]))["post"]
    assert quote_of_quote["quote_of"]["id"] == quote["id"]
    assert quote_of_quote["quote_of"]["quote_of"] is None
    repost_of_quote = (await author_client.call("post.repost", post_id=quote["id"]))["post"]
    assert repost_of_quote["repost_of"]["id"] == quote["id"]
    assert repost_of_quote["repost_of"]["quote_of"] is None
    # The post.created events were checked against the schema, whose EmbeddedPost has null quote_of.
    read = (await sharer_client.call("post.get", post_id=quote_of_quote["id"]))["post"]
    assert read["quote_of"]["quote_of"] is None


async def test_reposts_and_quotes_carry_the_original(server: ServerProcess, users: Users) -> None:
    author, sharer = await users.new("author"), await users.new("sharer")
    reader = await users.new("reader", invited_by=sharer)  # follows the sharer, not the author
    author_client = await Client.login(server, author.token)
    sharer_client = await Client.login(server, sharer.token)
    reader_client = await Client.login(server, reader.token)
    original = (await author_client.call("post.create", text="給水車が来ます", emotext="big"))["post"]

    repost = (await sharer_client.call("post.repost", post_id=original["id"]))["post"]
    assert repost["text"] == "" and repost["repost_of"]["id"] == original["id"]
    event = await reader_client.next_event("post.created")
    assert event["data"]["post"]["repost_of"]["text"] == "給水車が来ます"
    # Reposting a repost reposts its original; reposting again changes nothing.
    again = (await sharer_client.call("post.repost", post_id=repost["id"]))["post"]
    assert again["id"] == repost["id"]
    other = (await reader_client.call("post.repost", post_id=repost["id"]))["post"]
    assert other["repost_of"]["id"] == original["id"]
    quote = (await sharer_client.call("post.create", text="拡散希望", quote_of=original["id"]))["post"]
    assert quote["quote_of"]["id"] == original["id"] and quote["quote_of"]["quote_of"] is None
    notices = [
        e["data"]["notification"] for e in await author_client.events_now() if e["type"] == "notification"
    ]
    assert [(n["kind"], n["actor"]["id"]) for n in notices] == [
        ("repost", sharer.id),
        ("repost", reader.id),
        ("quote", sharer.id),
    ]

    await author_client.call("post.delete", post_id=original["id"])
    timeline = await reader_client.call("timeline.following")
    shown = {p["id"]: p for p in timeline["posts"]}
    assert shown[repost["id"]]["repost_of"] is None  # the original is gone
    await sharer_client.call("post.delete", post_id=repost["id"])  # undoing a repost


async def test_mentions_notify_the_people_named(server: ServerProcess, users: Users) -> None:
    author, named, other = await users.new("author"), await users.new("named"), await users.new("other")
    author_client = await Client.login(server, author.token)
    named_client = await Client.login(server, named.token)
    other_client = await Client.login(server, other.token)
    post = (
        await author_client.call("post.create", text=f"@{named.handle.upper()} 無事？ mail@{other.handle}")
    )["post"]
    notice = (await named_client.next_event("notification"))["data"]["notification"]
    assert (
        notice["kind"] == "mention" and notice["post_id"] == post["id"] and notice["actor"]["id"] == author.id
    )
    assert await other_client.events_now() == []  # an e-mail-like string is no mention

    await named_client.call("block.add", user_id=author.id)
    await author_client.call("post.create", text=f"@{named.handle} ねえ")
    assert [e for e in await named_client.events_now() if e["type"] == "notification"] == []


async def test_notifications_list_read_and_resume(server: ServerProcess, users: Users) -> None:
    star = await users.new("star")
    star_client = await Client.login(server, star.token)
    fans = [await users.new("fan") for _ in range(3)]
    for fan in fans[:1]:
        fan_client = await Client.login(server, fan.token)
        await fan_client.call("follow", user_id=star.id)
    await star_client.next_event("notification")
    cursors = dict(star_client.cursors)
    await star_client.close()
    for fan in fans[1:]:
        fan_client = await Client.login(server, fan.token)
        await fan_client.call("follow", user_id=star.id)

    back = await Client.login(server, star.token, cursors)
    assert back.ready is not None and back.ready["recovered"] is True
    resumed = [(await back.next_event("notification"))["data"]["notification"] for _ in fans[1:]]
    assert [n["actor"]["id"] for n in resumed] == [f.id for f in fans[1:]]
    page = await back.call("notification.list")
    assert page["unread"] == 3 and [n["kind"] for n in page["notifications"]] == ["follow"] * 3
    assert (await back.call("notification.read", notification_id=resumed[0]["id"]))["unread"] == 2
    assert (await back.call("notification.read_all"))["unread"] == 0
    assert all(n["read"] for n in (await back.call("notification.list"))["notifications"])


async def test_verified_badge_set_by_an_operator(server: ServerProcess, users: Users) -> None:
    person = await users.new("official")
    client = await Client.login(server, person.token)
    assert client.ready is not None and client.ready["user"]["verified"] is False
    result = tsudoi("admin", "verify", f"@{person.handle}", "--data", str(server.data_dir))
    assert result.returncode == 0, result.stderr
    post = (await client.call("post.create", text="公式です"))["post"]
    assert post["author"]["verified"] is True
    assert tsudoi("admin", "verify", "@nobody_here", "--data", str(server.data_dir)).returncode == 1


async def test_a_profile_lists_the_users_own_posts_as_the_viewer_may_see_them(
    server: ServerProcess, users: Users
) -> None:
    author, reader, member = await users.new("author"), await users.new("reader"), await users.new("member")
    author_client = await Client.login(server, author.token)
    reader_client = await Client.login(server, reader.token)
    member_client = await Client.login(server, member.token)
    closed = (await author_client.call("community.create", name="内緒", approval_required=True))["community"]
    opened = (await member_client.call("community.create", name="公開"))["community"]
    await author_client.call("community.join", community_id=opened["id"])
    original = (await reader_client.call("post.create", text="元の投稿"))["post"]

    own = (await author_client.call("post.create", text="こんにちは"))["post"]
    repost = (await author_client.call("post.repost", post_id=original["id"]))["post"]
    public = (await author_client.call("post.create", text="公開で", community_id=opened["id"]))["post"]
    secret = (await author_client.call("post.create", text="内緒で", community_id=closed["id"]))["post"]

    first = await reader_client.call("timeline.user", user_id=author.id, limit=2)
    assert [p["id"] for p in first["posts"]] == [public["id"], repost["id"]]  # not the closed one
    assert first["posts"][1]["repost_of"]["id"] == original["id"]
    assert first["next"] == repost["id"]
    second = await reader_client.call("timeline.user", user_id=author.id, limit=2, before=first["next"])
    assert [p["id"] for p in second["posts"]] == [own["id"]] and second["next"] is None
    mine = await author_client.call("timeline.user", user_id=author.id)
    assert [p["id"] for p in mine["posts"]] == [secret["id"], public["id"], repost["id"], own["id"]]

    await reader_client.call("mute.add", user_id=author.id)  # a profile opened on purpose shows
    muted = await reader_client.call("timeline.user", user_id=author.id)
    assert [p["id"] for p in muted["posts"]] == [public["id"], repost["id"], own["id"]]

    await author_client.call("block.add", user_id=reader.id)  # a block hides either way
    for client, other in ((reader_client, author), (author_client, reader)):
        with pytest.raises(ErrorFrame) as refused:
            await client.call("timeline.user", user_id=other.id)
        assert (refused.value.code, refused.value.frame["path"]) == ("not_found", "$.user_id")
    with pytest.raises(ErrorFrame) as unknown:
        await member_client.call("timeline.user", user_id="0" * 26)
    assert unknown.value.code == "not_found"


async def test_a_retried_post_with_its_nonce_is_created_once(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    post = (await author_client.call("post.create", text="無事です", nonce="retry-1"))["post"]
    assert (await fan_client.next_event("post.created"))["data"]["post"]["id"] == post["id"]

    # The answer was lost: the author retries on a new connection, with the same nonce.
    reconnected = await Client.login(server, author.token)
    again = (await reconnected.call("post.create", text="無事です", nonce="retry-1"))["post"]
    assert again == post
    assert [e for e in await fan_client.events_now() if e["type"] == "post.created"] == []
    timeline = (await fan_client.call("timeline.following"))["posts"]
    assert [p["id"] for p in timeline].count(post["id"]) == 1 and len(timeline) == 1

    # Another nonce is another post; another user's nonce is theirs.
    other = (await author_client.call("post.create", text="無事です", nonce="retry-2"))["post"]
    assert other["id"] != post["id"]
    fans = (await fan_client.call("post.create", text="よかった", nonce="retry-1"))["post"]
    assert fans["id"] != post["id"] and fans["author"]["id"] == fan.id

    # A deleted post's nonce stays taken: the retry is not_found, and nothing is made again.
    await author_client.call("post.delete", post_id=post["id"])
    with pytest.raises(ErrorFrame) as gone:
        await author_client.call("post.create", text="無事です", nonce="retry-1")
    assert (gone.value.code, gone.value.frame["path"]) == ("not_found", "$.nonce")

    for bad in ("", "a" * 65, "無事", "has space", "line\n"):
        with pytest.raises(ErrorFrame) as refused:
            await author_client.call("post.create", text="x", nonce=bad)
        assert (refused.value.code, refused.value.frame["path"]) == ("invalid_frame", "$.nonce")


async def test_concurrent_posts_with_one_nonce_make_one(server: ServerProcess, users: Users) -> None:
    author, fan = await users.author_and_fan()
    phone, laptop = await Client.login(server, author.token), await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    answers = await asyncio.gather(
        *(c.call("post.create", text="一度だけ", nonce="both-at-once") for c in (phone, laptop))
    )
    assert answers[0]["post"]["id"] == answers[1]["post"]["id"]
    created = [e for e in await fan_client.events_now(settle=0.5) if e["type"] == "post.created"]
    assert [e["data"]["post"]["id"] for e in created] == [answers[0]["post"]["id"]]
