"""Property-based fuzzing: random frames never crash the handler, and a valid op still works."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.messages import CLIENT_FRAME_TYPES, op_of
from tests.support.client import Client, Users
from tests.support.server import ServerProcess

OPS = [op_of(t) for t in CLIENT_FRAME_TYPES]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Every argument name any client frame has, so new ops are fuzzed without touching this file.
FIELDS = sorted({f.name for t in CLIENT_FRAME_TYPES for f in msgspec.structs.fields(t)})
structured = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS) | st.text(max_size=12)},
    optional={
        **{name: json_values for name in FIELDS},
        "id": st.text(min_size=1, max_size=70) | st.integers(min_value=-(2**63), max_value=2**63),
        "junk": json_values,
    },
).map(lambda frame: orjson.dumps(frame).decode())
frames = st.one_of(
    structured,
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(
        [
            '{"op": "heartbeat", "id": "x", "n": 1e999}',
            '{"op": "post.create", "n": 123456789012345678901234567890}',
        ]
    ),
    json_values.map(lambda value: orjson.dumps(value).decode()),
)


async def _exercise(server: ServerProcess, token: str, payloads: list[str | bytes]) -> None:
    client = await Client.login(server, token)
    for payload in payloads:
        await client.send_raw(payload)
    answer = await client.call("heartbeat")  # the connection and the handler survived
    assert answer["server_time"]
    assert client.close_code is None
    await client.close()


def test_random_frames_never_break_the_connection(server: ServerProcess) -> None:
    async def make_account() -> Any:
        users = Users(server)
        try:
            return await users.new("fuzz")
        finally:
            await users.close()

    account = asyncio.run(make_account())

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(frames, min_size=1, max_size=15))
    def run(payloads: list[str | bytes]) -> None:
        asyncio.run(_exercise(server, account.token, payloads))

    run()
    assert server.proc is not None and server.proc.poll() is None
    assert "Traceback" not in server.log(), server.log()[-3000:]
