"""Direct messages end to end: 1:1 and groups, live, resumable, private."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.client import Client, ErrorFrame, Users
from tests.support.server import ServerProcess


async def test_one_to_one_exchange_with_typing_and_read_markers(server: ServerProcess, users: Users) -> None:
    aya, ben = await users.new("aya"), await users.new("ben")
    aya_client = await Client.login(server, aya.token)
    aya_phone = await Client.login(server, aya.token)
    ben_client = await Client.login(server, ben.token)

    conversation = (await aya_client.call("dm.open", user_ids=[ben.id]))["conversation"]
    assert conversation["kind"] == "direct" and conversation["owner_id"] is None
    again = (await ben_client.call("dm.open", user_ids=[aya.id]))["conversation"]
    assert again["id"] == conversation["id"]  # one conversation per pair
    for client in (ben_client, aya_phone):  # every member's connections, the opener's other device too
        created = await client.next_event("dm.message")
        assert created["data"]["message"]["kind"] == "created" and created["stream"] == "direct"

    assert await aya_client.call("dm.typing", conversation_id=conversation["id"]) == {}
    assert await aya_client.call("dm.typing", conversation_id=conversation["id"]) == {}  # throttled
    typing = await ben_client.next_event("dm.typing")
    assert typing["data"] == {"conversation_id": conversation["id"], "user": typing["data"]["user"]}
    assert typing["data"]["user"]["id"] == aya.id
    message = (await aya_client.call("dm.send", conversation_id=conversation["id"], text="無事？"))["message"]
    for client in (ben_client, aya_phone):  # the sender's other device too
        event = await client.next_event("dm.message")
        assert event["data"]["message"] == message and event["pos"] == message["id"]
    assert [e for e in await ben_client.events_now() if e["type"] == "dm.typing"] == []

    listed = (await ben_client.call("dm.list"))["conversations"]
    assert listed[0]["id"] == conversation["id"] and listed[0]["unread"] == 1
    assert listed[0]["last_message"]["id"] == message["id"]
    await ben_client.call("dm.read", conversation_id=conversation["id"], message_id=message["id"])
    read = await aya_client.next_event("dm.read")
    assert read["data"] == {
        "conversation_id": conversation["id"],
        "user_id": ben.id,
        "message_id": message["id"],
    }
    listed = (await ben_client.call("dm.list"))["conversations"]
    assert listed[0]["unread"] == 0 and listed[0]["last_read"] == message["id"]
    history = await ben_client.call("dm.history", conversation_id=conversation["id"])
    assert [m["kind"] for m in history["messages"]] == ["text", "created"]


async def test_nobody_reads_a_conversation_they_are_not_in(server: ServerProcess, users: Users) -> None:
    aya, ben, eve = await users.new("aya"), await users.new("ben"), await users.new("eve")
    aya_client = await Client.login(server, aya.token)
    eve_client = await Client.login(server, eve.token)
    conversation = (await aya_client.call("dm.open", user_ids=[ben.id]))["conversation"]
    await aya_client.call("dm.send", conversation_id=conversation["id"], text="秘密")
    for op, args in (
        ("dm.history", {}),
        ("dm.send", {"text": "割り込み"}),
        ("dm.typing", {}),
        ("dm.read", {"message_id": conversation["id"]}),
        ("dm.leave", {}),
        ("dm.add", {"user_ids": [eve.id]}),
    ):
        with pytest.raises(ErrorFrame) as refused:
            await eve_client.call(op, conversation_id=conversation["id"], **args)
        assert refused.value.code == "not_found", op
    assert [e for e in await eve_client.events_now() if e["type"].startswith("dm.")] == []
    assert (await eve_client.call("dm.list"))["conversations"] == []


async def test_groups_add_remove_leave_and_capacity(server: ServerProcess, users: Users) -> None:
    owner, a, b, c = [await users.new(name) for name in ("owner", "aa", "bb", "cc")]
    owner_client = await Client.login(server, owner.token)
    a_client = await Client.login(server, a.token)
    c_client = await Client.login(server, c.token)
    group = (await owner_client.call("dm.open", user_ids=[a.id, b.id], title="避難所B"))["conversation"]
    assert group["kind"] == "group" and group["owner_id"] == owner.id and group["title"] == "避難所B"
    assert {m["id"] for m in group["members"]} == {owner.id, a.id, b.id}

    with pytest.raises(ErrorFrame) as not_owner:
        await a_client.call("dm.add", conversation_id=group["id"], user_ids=[c.id])
    assert not_owner.value.code == "forbidden"
    added = (await owner_client.call("dm.add", conversation_id=group["id"], user_ids=[c.id]))["conversation"]
    assert c.id in {m["id"] for m in added["members"]}
    await c_client.call("dm.history", conversation_id=group["id"])  # a member now: sees the history
    removed = (await owner_client.call("dm.remove", conversation_id=group["id"], user_id=a.id))[
        "conversation"
    ]
    assert a.id not in {m["id"] for m in removed["members"]}
    kinds = [e["data"]["message"]["kind"] for e in await a_client.events_now() if e["type"] == "dm.message"]
    assert kinds[-1] == "removed"  # the removed member hears of it
    with pytest.raises(ErrorFrame) as gone:
        await a_client.call("dm.send", conversation_id=group["id"], text="まだいる？")
    assert gone.value.code == "not_found"

    await owner_client.call("dm.leave", conversation_id=group["id"])
    history = await c_client.call("dm.history", conversation_id=group["id"])
    assert history["messages"][0]["kind"] == "left"
    listed = {conv["id"]: conv for conv in (await c_client.call("dm.list"))["conversations"]}
    assert listed[group["id"]]["owner_id"] == b.id  # the longest-standing member inherits

    direct = (await owner_client.call("dm.open", user_ids=[b.id]))["conversation"]
    with pytest.raises(ErrorFrame) as leave_direct:
        await owner_client.call("dm.leave", conversation_id=direct["id"])
    assert leave_direct.value.code == "forbidden"
    assert (await owner_client.call("settings.get"))["settings"]["dm_policy"] == "everyone"


async def test_dm_policy_and_blocks_decide_who_may_write(server: ServerProcess, users: Users) -> None:
    quiet, friend, stranger = await users.new("quiet"), await users.new("friend"), await users.new("strange")
    quiet_client = await Client.login(server, quiet.token)
    friend_client = await Client.login(server, friend.token)
    stranger_client = await Client.login(server, stranger.token)
    updated = await quiet_client.call("settings.update", dm_policy="following")
    assert updated["settings"]["dm_policy"] == "following"
    await quiet_client.call("follow", user_id=friend.id)

    with pytest.raises(ErrorFrame) as refused:
        await stranger_client.call("dm.open", user_ids=[quiet.id])
    assert refused.value.code == "dm_not_allowed"
    conversation = (await friend_client.call("dm.open", user_ids=[quiet.id]))["conversation"]

    await quiet_client.call("block.add", user_id=friend.id)
    with pytest.raises(ErrorFrame) as blocked:
        await friend_client.call("dm.send", conversation_id=conversation["id"], text="ねえ")
    assert blocked.value.code == "dm_not_allowed"
    await quiet_client.call("settings.update", dm_policy="nobody")
    with pytest.raises(ErrorFrame) as nobody:
        await stranger_client.call("dm.open", user_ids=[quiet.id, friend.id], title="group")
    assert nobody.value.code == "dm_not_allowed"


async def test_messages_missed_while_away_are_resumed(server: ServerProcess, users: Users) -> None:
    aya, ben = await users.new("aya"), await users.new("ben")
    aya_client = await Client.login(server, aya.token)
    ben_client = await Client.login(server, ben.token)
    conversation = (await aya_client.call("dm.open", user_ids=[ben.id]))["conversation"]
    await ben_client.next_event("dm.message")
    cursors = dict(ben_client.cursors)
    assert "direct" in cursors
    await ben_client.close()
    sent = [
        (await aya_client.call("dm.send", conversation_id=conversation["id"], text=f"{n}通目"))["message"]
        for n in range(4)
    ]
    back = await Client.login(server, ben.token, cursors)
    assert back.ready is not None and back.ready["recovered"] is True and back.ready["replayed"] == 4
    got = [(await back.next_event("dm.message"))["data"]["message"] for _ in sent]
    assert got == sent
    assert await back.events_now() == []


async def test_message_length_is_counted_in_user_perceived_characters(
    server: ServerProcess, users: Users
) -> None:
    aya, ben = await users.new("aya"), await users.new("ben")
    aya_client = await Client.login(server, aya.token)
    conversation = (await aya_client.call("dm.open", user_ids=[ben.id]))["conversation"]
    family = "👨‍👩‍👧"
    await aya_client.call("dm.send", conversation_id=conversation["id"], text=family * 1000)
    with pytest.raises(ErrorFrame) as too_long:
        await aya_client.call("dm.send", conversation_id=conversation["id"], text="あ" * 1001)
    assert too_long.value.code == "text_too_long"


async def test_a_retried_message_with_its_nonce_is_sent_once(server: ServerProcess, users: Users) -> None:
    aya, ben = await users.new("aya"), await users.new("ben")
    aya_client = await Client.login(server, aya.token)
    ben_client = await Client.login(server, ben.token)
    conversation = (await aya_client.call("dm.open", user_ids=[ben.id]))["conversation"]
    await ben_client.next_event("dm.message")  # "created"
    sent = await aya_client.call("dm.send", conversation_id=conversation["id"], text="無事？", nonce="m1")
    assert (await ben_client.next_event("dm.message"))["data"]["message"] == sent["message"]

    reconnected = await Client.login(server, aya.token)
    again = await reconnected.call("dm.send", conversation_id=conversation["id"], text="無事？", nonce="m1")
    assert again == sent
    assert [e for e in await ben_client.events_now() if e["type"] == "dm.message"] == []
    history = (await ben_client.call("dm.history", conversation_id=conversation["id"]))["messages"]
    assert [m["kind"] for m in history] == ["text", "created"]

    # The other member's nonce is theirs.
    reply = await ben_client.call("dm.send", conversation_id=conversation["id"], text="うん", nonce="m1")
    assert reply["message"]["id"] != sent["message"]["id"]
    with pytest.raises(ErrorFrame) as refused:
        await aya_client.call("dm.send", conversation_id=conversation["id"], text="x", nonce="m.1")
    assert (refused.value.code, refused.value.frame["path"]) == ("invalid_frame", "$.nonce")


async def test_concurrent_messages_with_one_nonce_send_one(server: ServerProcess, users: Users) -> None:
    aya, ben = await users.new("aya"), await users.new("ben")
    phone, laptop = await Client.login(server, aya.token), await Client.login(server, aya.token)
    ben_client = await Client.login(server, ben.token)
    conversation = (await phone.call("dm.open", user_ids=[ben.id]))["conversation"]
    await ben_client.next_event("dm.message")  # "created"
    answers = await asyncio.gather(
        *(
            c.call("dm.send", conversation_id=conversation["id"], text="一度だけ", nonce="both")
            for c in (phone, laptop)
        )
    )
    assert answers[0] == answers[1]
    received = [e for e in await ben_client.events_now(settle=0.5) if e["type"] == "dm.message"]
    assert [e["data"]["message"]["id"] for e in received] == [answers[0]["message"]["id"]]
