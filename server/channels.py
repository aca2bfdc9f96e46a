"""Bus channel names, and the control messages that steer a user's live subscriptions.

- ``posts:<user id>``  — posts made and deleted by that user; followers' connections and the
  author's own connections subscribe to it. One message per post reaches every node once.
- ``user:<user id>``   — events addressed to one user (someone followed them, ...).
- ``ctl:<user id>``    — control messages for the gateway nodes holding that user's connections
  (follow and unfollow on another device, revoked sessions). Never forwarded to clients.
"""

from __future__ import annotations

import msgspec
import orjson

CONTROL_PREFIX = "ctl:"
#: Every node listens here, whatever its connections: cluster-wide notices (see Resync).
CLUSTER = "cluster"
#: A bus message is the event's stream position (26 bytes, or dashes for none) followed by the
#: event tail, so a node learns the position without parsing the JSON.
POS_WIDTH = 26
_NO_POS = b"-" * POS_WIDTH


def envelope(tail: bytes, pos: str | None) -> bytes:
    return (pos.encode() if pos else _NO_POS) + tail


def open_envelope(payload: bytes) -> tuple[bytes, str | None]:
    head = payload[:POS_WIDTH]
    return payload[POS_WIDTH:], (None if head == _NO_POS else head.decode())


def posts(user_id: str) -> str:
    return f"posts:{user_id}"


def user(user_id: str) -> str:
    return f"user:{user_id}"


def control(user_id: str) -> str:
    return f"{CONTROL_PREFIX}{user_id}"


def for_user(user_id: str, followee_ids: list[str]) -> set[str]:
    """Every channel a connection of ``user_id`` listens to."""
    channels = {posts(user_id), user(user_id), control(user_id)}
    channels.update(posts(followee) for followee in followee_ids)
    return channels


class Control(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a node should do for the user's local connections."""

    #: The user followed this author: listen to their posts, and backfill those made after
    #: ``since`` (the follow's time), which may have been published before the subscription.
    follow: str | None = None
    since: str | None = None
    #: The user unfollowed this author.
    unfollow: str | None = None
    revoke_sessions: list[str] | None = None


class Resync(msgspec.Struct, forbid_unknown_fields=True):
    """A node's bus link was down from ``since_ms`` to ``until_ms``: what it published then never
    reached the other nodes, so every node fills its connections' gaps from storage."""

    node: str
    since_ms: int
    until_ms: int


def encode_control(message: Control | Resync) -> bytes:
    return orjson.dumps(msgspec.to_builtins(message))


def decode_control(payload: bytes) -> Control:
    return msgspec.convert(orjson.loads(payload), Control)


def decode_resync(payload: bytes) -> Resync:
    return msgspec.convert(orjson.loads(payload), Resync)
