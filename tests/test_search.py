"""Search for people and posts end to end, on a real server: Japanese without spaces, width,
case and kana folded, and nothing found that the searcher may not read."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess

# Katakana with a hiragana twin: a marker no other test writes, found by its hiragana too.
_KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノ"


def marker() -> str:
    """Six random katakana: what makes one test's posts the only ones a query finds."""
    return "".join(secrets.choice(_KATAKANA) for _ in range(6))


def hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) for c in text)


async def post_ids(client: Client, query: str, **args: Any) -> list[str]:
    page = await client.call("search.posts", query=query, limit=100, **args)
    return [p["id"] for p in page["posts"]]


async def posted(client: Client, text: str, **args: Any) -> str:
    post_id: str = (await client.call("post.create", text=text, **args))["post"]["id"]
    return post_id


async def test_japanese_without_spaces_and_width_case_kana_folding(
    server: ServerProcess, users: Users
) -> None:
    author, reader = await users.new("author"), await users.new("reader")
    author_client = await Client.login(server, author.token)
    reader_client = await Client.login(server, reader.token)
    mark = marker()
    meal = await posted(author_client, f"公園で炊き出しがあります{mark}")
    quake = await posted(author_client, f"昨夜の地震、みんな無事？{mark}")
    city = await posted(author_client, f"Sendai station is open again {mark}")

    assert meal in await post_ids(reader_client, "炊き出し")
    # Two characters: shorter than a trigram, found all the same.
    assert quake in await post_ids(reader_client, "地震")
    assert await post_ids(reader_client, f"炊き出しがあります{mark}") == [meal]
    assert await post_ids(reader_client, f"ＳＥＮＤＡＩ  ＳＴＡＴＩＯＮ is open again {mark}") == [city]
    assert await post_ids(reader_client, hiragana(mark)) == [city, quake, meal]
    assert await post_ids(reader_client, f"地震がない{mark}") == []
    found = (await reader_client.call("search.posts", query=f"無事?{mark[:2]}"))["posts"]
    assert [(p["id"], p["author"]["handle"]) for p in found] == [(quake, author.handle)]


async def test_posts_of_hidden_people_are_never_found(server: ServerProcess, users: Users) -> None:
    reader, blocked, blocker, muted = [
        await users.new(prefix) for prefix in ("reader", "blocked", "blocker", "muted")
    ]
    reader_client = await Client.login(server, reader.token)
    mark = marker()
    ids = {}
    for account in (blocked, blocker, muted):
        client = await Client.login(server, account.token)
        ids[account.handle] = await posted(client, f"給水車が来ています {mark}")
    await reader_client.call("block.add", user_id=blocked.id)
    await (await Client.login(server, blocker.token)).call("block.add", user_id=reader.id)
    await reader_client.call("mute.add", user_id=muted.id)

    assert await post_ids(reader_client, mark) == []
    assert not set(ids.values()) & set(await post_ids(reader_client, "給水車"))
    for account in (blocked, blocker, muted):
        people = (await reader_client.call("search.users", query=account.handle))["users"]
        assert people == []
    # The blocked author does not find the blocker's posts either (a block works both ways).
    blocked_client = await Client.login(server, blocked.token)
    reader_post = await posted(reader_client, f"停電しています {mark}")
    assert reader_post not in await post_ids(blocked_client, mark)
    assert ids[blocker.handle] in await post_ids(blocked_client, mark)


async def test_members_only_posts_are_found_by_members_only(server: ServerProcess, users: Users) -> None:
    owner, member, outsider = await users.new("owner"), await users.new("member"), await users.new("outside")
    owner_client = await Client.login(server, owner.token)
    member_client = await Client.login(server, member.token)
    outsider_client = await Client.login(server, outsider.token)
    closed = (await owner_client.call("community.create", name="内輪の会", approval_required=True))[
        "community"
    ]
    await member_client.call("community.join", community_id=closed["id"])
    await owner_client.call("community.approve", community_id=closed["id"], user_id=member.id)
    mark = marker()
    inside = await posted(owner_client, f"集合場所は体育館 {mark}", community_id=closed["id"])
    outside = await posted(owner_client, f"集合場所は公民館 {mark}")

    assert await post_ids(member_client, mark) == [outside, inside]
    assert await post_ids(owner_client, "集合場所は体育館") == [inside]
    assert await post_ids(outsider_client, mark) == [outside]
    assert inside not in await post_ids(outsider_client, "体育")


async def test_a_deleted_post_is_gone(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    mark = marker()
    kept = await posted(client, f"避難所は満員です {mark}")
    gone = await posted(client, f"避難所は空いています {mark}")
    assert await post_ids(client, mark) == [gone, kept]
    await client.call("post.delete", post_id=gone)
    assert await post_ids(client, mark) == [kept]
    assert await post_ids(client, f"空いています {mark}") == []


async def test_pages_follow_one_another_with_the_cursor(server: ServerProcess, users: Users) -> None:
    author = await users.new("author")
    client = await Client.login(server, author.token)
    mark = marker()
    made = [await posted(client, f"{mark} 物資 {n}") for n in range(5)]
    pages: list[list[str]] = []
    cursor = None
    while True:
        args: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = await client.call("search.posts", query=mark, limit=2, **args)
        pages.append([p["id"] for p in page["posts"]])
        cursor = page["next"]
        if cursor is None:
            break
    assert [i for page in pages for i in page] == made[::-1]
    assert pages[0] == made[:2:-1][:2]

    for bad in ("o2", "p" + "0" * 25, "pIIIIIIIIIIIIIIIIIIIIIIIIII"):
        with pytest.raises(ErrorFrame) as refused:
            await client.call("search.posts", query=mark, cursor=bad)
        assert (refused.value.code, refused.value.frame["path"]) == ("invalid_cursor", "$.cursor")
    with pytest.raises(ErrorFrame) as long:
        await client.call("search.posts", query="あ" * 101)
    assert long.value.code == "invalid_frame"
    assert (await client.call("search.posts", query="   "))["posts"] == []


async def test_people_by_handle_and_display_name_exact_handle_first(
    server: ServerProcess, users: Users
) -> None:
    searcher = await users.new("search")
    client = await Client.login(server, searcher.token)
    exact = await users.new("kaito")
    longer = await users.new(exact.handle)  # a handle that holds the other's
    mark = marker()
    named = await users.new("named")
    await (await Client.login(server, named.token)).call("profile.update", display_name=f"田中 {mark}")

    found = (await client.call("search.users", query=exact.handle.upper(), limit=100))["users"]
    assert [u["id"] for u in found][:1] == [exact.id] and longer.id in [u["id"] for u in found]
    by_name = (await client.call("search.users", query=hiragana(mark)))["users"]
    assert [(u["handle"], u["display_name"]) for u in by_name] == [(named.handle, f"田中 {mark}")]
    first = await client.call("search.users", query=exact.handle, limit=1)
    assert [u["id"] for u in first["users"]] == [exact.id] and first["next"] == "o1"
    rest = await client.call("search.users", query=exact.handle, limit=100, cursor=first["next"])
    assert longer.id in [u["id"] for u in rest["users"]] and exact.id not in [u["id"] for u in rest["users"]]
