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


def encode_control(message: Control) -> bytes:
    return orjson.dumps(msgspec.to_builtins(message))


def decode_control(payload: bytes) -> Control:
    return msgspec.convert(orjson.loads(payload), Control)
