"""Each example runs end to end against a live server, as its docstring says to run it."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from protocol.sdk import Client as Sdk
from tests.support.client import Client, Users
from tests.support.server import ServerProcess, tsudoi

from .support import Example


@pytest.fixture
async def examples(tmp_path: Path) -> AsyncIterator[list[Example]]:
    """Examples a test starts; killed at the end whatever happened."""
    started: list[Example] = []
    yield started
    for example in started:
        example.kill()


async def _next_message_from(client: Client, author_id: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = (await client.next_event("dm.message", timeout=15))["data"]["message"]
        if message["author"]["id"] == author_id and message["kind"] == "text":
            return message


async def test_echo_bot_answers_and_catches_up_after_a_restart(
    server: ServerProcess, users: Users, tmp_path: Path, examples: list[Example]
) -> None:
    bot, person = await users.bot(), await users.new("person")
    client = await Client.login(server, person.token)
    conversation = (await client.call("dm.open", user_ids=[bot.id]))["conversation"]["id"]
    args = ("--url", server.url, "--token", bot.token, "--cursors", str(tmp_path / "echo.json"))

    examples.append(Example("echo_dm_bot.py", *args, log=tmp_path / "echo-1.log"))
    await examples[-1].wait_for("ready as")
    await client.call("dm.send", conversation_id=conversation, text="こんにちは")
    assert (await _next_message_from(client, bot.id))["text"] == "こんにちは"
    assert await examples[-1].stop() == 0

    await client.call("dm.send", conversation_id=conversation, text="留守中にごめんね")  # while it is down
    examples.append(Example("echo_dm_bot.py", *args, log=tmp_path / "echo-2.log"))
    assert (await _next_message_from(client, bot.id))["text"] == "留守中にごめんね"
    await client.call("dm.send", conversation_id=conversation, text="また明日")
    assert (await _next_message_from(client, bot.id))["text"] == "また明日"
    assert await examples[-1].stop() == 0

    history = await client.call("dm.history", conversation_id=conversation)
    echoed = [m["text"] for m in reversed(history["messages"]) if m["author"]["id"] == bot.id]
    assert echoed == ["こんにちは", "留守中にごめんね", "また明日"]  # each answered exactly once


async def test_announcer_posts_alerts_to_a_certified_community_during_an_incident(
    server: ServerProcess, users: Users, tmp_path: Path, examples: list[Example]
) -> None:
    bot, resident = await users.bot(), await users.new("resident")
    async with Sdk(server.url, bot.token) as sdk:
        community = (await sdk.community_create("仙台市 防災", description="市の公式情報")).community
    certified = tsudoi("admin", "certify", community.id, "--data", str(server.data_dir))
    assert certified.returncode == 0, certified.stderr
    member = await Client.login(server, resident.token)
    await member.call("community.join", community_id=community.id)
    operator = await Client.login(server, (await users.operator()).token)
    alerts = tmp_path / "alerts.txt"
    alerts.write_text("これは訓練です\n", encoding="utf-8")  # no incident yet: skipped
    args: tuple[str, ...] = ("--url", server.url, "--token", bot.token, "--community", community.id)
    args += ("--alerts", str(alerts), "--state", str(tmp_path / "state.json"), "--poll", "0.2")

    examples.append(Example("announcer.py", *args, log=tmp_path / "announcer-1.log"))
    await examples[-1].wait_for("skipping")
    await operator.call("incident.start", title="宮城県沖地震", area="宮城県")
    try:
        await until_incident_seen(examples[-1])
        long_alert = "避難所の開設状況：" + "青葉区" * 60  # over 149 characters: two posts
        with alerts.open("a", encoding="utf-8") as out:
            out.write("給水所は市役所前です\n\n" + long_alert + "\n")
        posts = [(await member.next_event("post.created", timeout=15))["data"]["post"] for _ in range(3)]
        assert all(p["announcement"] and p["community_id"] == community.id for p in posts)
        assert posts[0]["text"] == "給水所は市役所前です"
        assert posts[1]["text"] + posts[2]["text"] == long_alert
        assert await examples[-1].stop() == 0

        with alerts.open("a", encoding="utf-8") as out:
            out.write("断水は解消しました\n")
        examples.append(Example("announcer.py", *args, log=tmp_path / "announcer-2.log"))
        post = (await member.next_event("post.created", timeout=15))["data"]["post"]
        assert post["text"] == "断水は解消しました"  # the earlier alerts were not repeated
        assert await examples[-1].stop() == 0
        assert all(e["type"] != "post.created" for e in await member.events_now(0.3))
    finally:
        await operator.call("incident.end")


async def until_incident_seen(example: Example) -> None:
    await example.wait_for("incident:")


async def test_roll_call_asks_friends_whose_status_is_unknown_or_stale(
    server: ServerProcess, users: Users, tmp_path: Path, examples: list[Example]
) -> None:
    bot = await users.bot()
    silent, early, fresh = (await users.new("silent"), await users.new("early"), await users.new("fresh"))
    for friend in (silent, early, fresh):
        await users.friends(bot, friend)
    early_client = await Client.login(server, early.token)
    await early_client.call("safety.set", state="safe", note="朝は無事")
    operator = await Client.login(server, (await users.operator()).token)
    await operator.call("incident.start", title="大雨特別警報")
    try:
        fresh_client = await Client.login(server, fresh.token)
        await fresh_client.call("safety.set", state="safe")
        examples.append(
            Example("roll_call.py", "--url", server.url, "--token", bot.token, log=tmp_path / "roll-call.log")
        )
        assert await examples[-1].exited() == 0, examples[-1].output()
        output = examples[-1].output()
        assert f"@{silent.handle}: no status yet" in output and f"@{early.handle}: last status safe" in output
        assert fresh.handle not in output and "asked 2 friend(s)" in output
        async with Sdk(server.url, bot.token) as sdk:
            conversations = (await sdk.dm_list()).conversations
        asked = {u.id for c in conversations for u in c.members} - {bot.id}
        assert asked == {silent.id, early.id}
        assert (await _next_message_from(early_client, bot.id))["text"].startswith("ご無事ですか")
    finally:
        await operator.call("incident.end")


async def test_shelter_map_posts_a_drawn_map_whose_alt_text_says_what_it_shows(
    server: ServerProcess, users: Users, tmp_path: Path, examples: list[Example]
) -> None:
    bot, follower = await users.bot(), await users.new("follower")
    reader = await Client.login(server, follower.token)
    await reader.call("follow", user_id=bot.id)
    shelters = tmp_path / "shelters.json"
    listed = [
        {"name": "市役所", "lat": 38.2682, "lon": 140.8694, "state": "open"},
        {"name": "五橋中学校", "lat": 38.2530, "lon": 140.8760, "state": "full"},
    ]
    shelters.write_text(json.dumps({"area": "青葉区", "shelters": listed}), encoding="utf-8")

    examples.append(
        Example(
            "shelter_map.py",
            "--url",
            server.url,
            "--token",
            bot.token,
            "--shelters",
            str(shelters),
            log=tmp_path / "shelter-map.log",
        )
    )
    assert await examples[-1].exited() == 0, examples[-1].output()
    post = (await reader.next_event("post.created", timeout=15))["data"]["post"]
    assert post["author"]["id"] == bot.id and "受け入れ中 1／2" in post["text"]
    [picture] = post["media"]
    assert (
        picture["alt"]
        == "青葉区の避難所2か所の地図。北が上。1番 市役所（受け入れ中）、2番 五橋中学校（満員）。"
    )
    assert f"posted {post['id']}" in examples[-1].output()
    async with Sdk(server.url, follower.token) as sdk:
        drawn = Image.open(io.BytesIO(await sdk.fetch_media(picture["display"]["url"]))).convert("RGB")
    assert drawn.size == (800, 600)
    # The open shelter, north-west of the other, is the green dot at the top left of the box
    # (looked at beside its white number).
    red, green, blue = drawn.getpixel((69, 60))  # type: ignore[misc]
    assert green > 120 and red < 80 and blue < 100

    missing = Example(
        "shelter_map.py", "--token", bot.token, "--shelters", "nope.json", log=tmp_path / "bad.log"
    )
    examples.append(missing)
    assert (
        await missing.exited() == 2
        and "No such file" in missing.output()
        and "Traceback" not in missing.output()
    )
