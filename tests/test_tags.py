"""Hashtags and links: entities in posts, the hashtag timeline, and its live events (PROTOCOL.md
sections 4.3.11, 4.3.12, 5.17, 5.18 and 7.10), against a real server.

What a connection must *not* receive is checked with a marker: a later post with a hashtag the
connection does watch. One author's events through one node keep their order, so once the
marker's event has arrived, an event sent before it would have arrived first."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess

_tags = itertools.count(1)


def fresh(word: str = "炊き出し") -> str:
    """A hashtag no other test of the module uses (the server is shared)."""
    return f"{word}{next(_tags)}"


async def tag_events_until(client: Client, marker: str) -> list[dict[str, Any]]:
    """The hashtag events the client received up to and including the marker tag's."""
    seen = []
    while True:
        event = await client.next_event()
        if event["type"].startswith("tag."):
            seen.append(event)
            if event["data"]["tag"] == marker:
                return seen


def shown(post: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, the text an entity covers), slicing ``text`` by UTF-16 offsets as JavaScript does."""
    units = post["text"].encode("utf-16-le")
    return [(e["kind"], units[2 * e["start"] : 2 * e["end"]].decode("utf-16-le")) for e in post["entities"]]


async def test_a_posts_hashtags_and_links_come_as_entities_in_the_answer_and_the_event(
    server: ServerProcess, users: Users
) -> None:
    author, fan = await users.author_and_fan()
    author_client = await Client.login(server, author.token)
    fan_client = await Client.login(server, fan.token)
    text = "😀青葉区役所前で #炊き出し、詳細はhttps://example.jp/a?b=1。 #ＪＲ"
    post = (await author_client.call("post.create", text=text))["post"]
    assert shown(post) == [("tag", "#炊き出し"), ("url", "https://example.jp/a?b=1"), ("tag", "#ＪＲ")]
    assert [(e["tag"], e["url"]) for e in post["entities"]] == [
        ("炊き出し", None),
        (None, "https://example.jp/a?b=1"),
        ("jr", None),
    ]
    assert post["entities"][0]["start"] == 10  # the emoji counts two UTF-16 code units
    event = await fan_client.next_event("post.created")
    assert event["data"]["post"]["entities"] == post["entities"]
    assert (await fan_client.call("post.get", post_id=post["id"]))["post"]["entities"] == post["entities"]
    repost = (await fan_client.call("post.repost", post_id=post["id"]))["post"]
    assert repost["entities"] == [] and repost["repost_of"]["entities"] == post["entities"]
    plain = (await author_client.call("post.create", text="<b>#</b> https:// abc#def"))["post"]
    assert plain["entities"] == []


async def test_the_tag_timeline_pages_newest_first_by_the_normalised_tag(
    server: ServerProcess, users: Users
) -> None:
    alice, bob, reader = await users.new("alice"), await users.new("bob"), await users.new("reader")
    alice_client = await Client.login(server, alice.token)
    bob_client = await Client.login(server, bob.token)
    reader_client = await Client.login(server, reader.token)
    tag = fresh("Sendai")
    made = [
        (await alice_client.call("post.create", text=f"#{tag} 一"))["post"],
        (await bob_client.call("post.create", text=f"給水所です＃{tag.upper()}"))["post"],
        (await alice_client.call("post.create", text=f"#{tag}の様子"))["post"],  # another tag
        (await bob_client.call("post.create", text=f"三 #{tag}"))["post"],
    ]
    gone = (await bob_client.call("post.create", text=f"間違い #{tag}"))["post"]
    await bob_client.call("post.delete", post_id=gone["id"])
    expected = [made[3]["id"], made[1]["id"], made[0]["id"]]
    whole = await reader_client.call("timeline.tag", tag=f"#{tag}")
    assert [p["id"] for p in whole["posts"]] == expected and whole["next"] is None
    first = await reader_client.call("timeline.tag", tag=tag.lower(), limit=2)
    rest = await reader_client.call("timeline.tag", tag=f"＃{tag}", limit=2, before=first["next"])
    assert [p["id"] for p in first["posts"] + rest["posts"]] == expected
    for bad in ["", "#", "2026", "two words", "#a#b", "x" * 51]:
        with pytest.raises(ErrorFrame) as refused:
            await reader_client.call("timeline.tag", tag=bad)
        assert refused.value.code == "invalid_frame", bad


async def test_the_tag_timeline_shows_only_what_the_viewer_may_see(
    server: ServerProcess, users: Users
) -> None:
    viewer, blocked, muted, owner = [await users.new(n) for n in ("viewer", "blocked", "muted", "owner")]
    viewer_client = await Client.login(server, viewer.token)
    blocked_client = await Client.login(server, blocked.token)
    muted_client = await Client.login(server, muted.token)
    owner_client = await Client.login(server, owner.token)
    closed = (await owner_client.call("community.create", name="内輪", approval_required=True))["community"]
    tag = fresh("給水")
    await viewer_client.call("block.add", user_id=blocked.id)
    await viewer_client.call("mute.add", user_id=muted.id)
    await blocked_client.call("post.create", text=f"#{tag} blocked")
    await muted_client.call("post.create", text=f"#{tag} muted")
    secret = (await owner_client.call("post.create", text=f"#{tag} 内輪", community_id=closed["id"]))["post"]
    public = (await owner_client.call("post.create", text=f"#{tag} 公開"))["post"]
    seen = await viewer_client.call("timeline.tag", tag=tag)
    assert [p["id"] for p in seen["posts"]] == [public["id"]]
    owners = await owner_client.call("timeline.tag", tag=tag)
    assert secret["id"] in [p["id"] for p in owners["posts"]]


async def test_a_watched_tags_new_posts_and_deletions_arrive_live_and_only_where_watched(
    server: ServerProcess, users: Users
) -> None:
    author, watcher, other = await users.new("author"), await users.new("watcher"), await users.new("other")
    author_client = await Client.login(server, author.token)
    watcher_client = await Client.login(server, watcher.token)
    other_client = await Client.login(server, other.token)
    tag, marker = fresh(), fresh("目印")
    page = await watcher_client.call("timeline.tag", tag=tag, live=True)
    assert page["posts"] == []
    await other_client.call("timeline.tag", tag=marker, live=True)  # watches the marker only
    await other_client.call("timeline.tag", tag=tag)  # reads without live: no events

    post = (await author_client.call("post.create", text=f"公民館で #{tag} 12時から"))["post"]
    event = await watcher_client.next_event("tag.post_created")
    assert event["data"] == {"tag": tag, "post": post}
    assert "stream" not in event and "pos" not in event  # live only, never a cursor

    await author_client.call("post.create", text=f"#{marker}")
    assert [e["data"]["tag"] for e in await tag_events_until(other_client, marker)] == [marker]

    await author_client.call("post.delete", post_id=post["id"])
    deleted = await watcher_client.next_event("tag.post_deleted")
    assert deleted["data"] == {"tag": tag, "post_id": post["id"]}

    assert await watcher_client.call("tag.unwatch", tag=f"#{tag}") == {}
    await watcher_client.call("timeline.tag", tag=marker, live=True)
    await author_client.call("post.create", text=f"#{tag} まだ見てる？")
    await author_client.call("post.create", text=f"#{marker}")
    assert [e["data"]["tag"] for e in await tag_events_until(watcher_client, marker)] == [marker]


async def test_live_tag_events_respect_blocks_and_closed_communities(
    server: ServerProcess, users: Users
) -> None:
    watcher, blocked, owner = await users.new("watcher"), await users.new("blocked"), await users.new("owner")
    watcher_client = await Client.login(server, watcher.token)
    blocked_client = await Client.login(server, blocked.token)
    owner_client = await Client.login(server, owner.token)
    closed = (await owner_client.call("community.create", name="内輪", approval_required=True))["community"]
    tag, marker = fresh(), fresh("目印")
    await watcher_client.call("block.add", user_id=blocked.id)
    await watcher_client.call("timeline.tag", tag=tag, live=True)
    await watcher_client.call("timeline.tag", tag=marker, live=True)
    await blocked_client.call("post.create", text=f"#{tag} from someone blocked")
    await owner_client.call("post.create", text=f"#{tag} members only", community_id=closed["id"])
    await owner_client.call("post.create", text=f"#{marker}")
    # The blocked author's post went before the owner's: had it come, it would be here.
    assert [e["data"]["tag"] for e in await tag_events_until(watcher_client, marker)] == [marker]


async def test_a_connection_watches_at_most_ten_tags_dropping_the_longest_watched(
    server: ServerProcess, users: Users
) -> None:
    author, watcher = await users.new("author"), await users.new("watcher")
    author_client = await Client.login(server, author.token)
    watcher_client = await Client.login(server, watcher.token)
    tags = [fresh("札") for _ in range(11)]
    for tag in tags:
        await watcher_client.call("timeline.tag", tag=tag, live=True)
    await author_client.call("post.create", text=f"#{tags[0]}")  # no longer watched
    await author_client.call("post.create", text=f"#{tags[10]}")
    assert [e["data"]["tag"] for e in await tag_events_until(watcher_client, tags[10])] == [tags[10]]


async def test_hashtags_are_not_shed_during_an_incident(
    start_server: Callable[..., ServerProcess], users_of: Callable[[ServerProcess], Users]
) -> None:
    server = start_server()
    users = users_of(server)
    operator, author = await users.operator(), await users.new("author")
    operator_client = await Client.login(server, operator.token)
    author_client = await Client.login(server, author.token)
    await operator_client.call("incident.start", title="宮城県沖地震")
    tag = fresh()
    with pytest.raises(ErrorFrame) as shed:
        await author_client.call("timeline.discover")
    assert shed.value.code == "shed"  # what is shed is shed, and hashtags are not
    await operator_client.call("timeline.tag", tag=tag, live=True)
    post = (await author_client.call("post.create", text=f"#{tag} 青葉区役所前"))["post"]
    assert (await operator_client.next_event("tag.post_created"))["data"]["post"]["id"] == post["id"]
    assert [p["id"] for p in (await author_client.call("timeline.tag", tag=tag))["posts"]] == [post["id"]]
