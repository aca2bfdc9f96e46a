"""Bus channel names, and the control messages that steer a user's live subscriptions.

- ``posts:<user id>``  — posts made and deleted by that user outside communities, reactions
  to them, and changes to the user's card (``user.updated``); followers' connections and the
  author's own connections subscribe to it. One message per post reaches every node once.
- ``community:<id>``   — posts in a community, their deletions and reactions, announcements'
  notifications (stored once for every member) and certification changes; every member's
  connections subscribe to it.
- ``user:<user id>``   — events addressed to one user (someone followed them, direct messages,
  notifications, their standing in a community, ...).
- ``tag:<tag>``        — new posts with that hashtag (normalised), and their deletions, outside
  communities and in open ones; the connections that asked to watch it (``timeline.tag`` with
  ``live``) subscribe to it, for as long as they are open or until they stop watching. Not a
  stream: nothing on it is stored as such or replayed.
- ``ctl:<user id>``    — control messages for the gateway nodes holding that user's connections
  (follows, joins, blocks and mutes made on another device, revoked sessions). Never forwarded
  to clients.

Each event goes to the channels such that a connection receives it through exactly one.

See ``docs/topics/fanout.md``.
"""

from __future__ import annotations

import msgspec
import orjson

CONTROL_PREFIX = "ctl:"
#: Every node listens here, whatever its connections: cluster-wide notices (see Resync).
CLUSTER = "cluster"
#: The cluster notice that asks every node to look for an incident started or ended.
INCIDENT_NUDGE = b"incident"
#: A bus message is a flag byte, the event's stream position and the id of the user who caused
#: it (26 bytes each, or dashes for none), then the event tail: a node learns all of it without
#: parsing the JSON — the lane in the send queue, the position for resuming, and whom the origin
#: leaves out. The flag: ``-`` an ordinary event, ``P`` a priority one, both left out by the
#: recipients who hide the origin; ``a`` and ``A`` the same two lanes, left out by the origin's
#: own connections only (``by_origin_only``: an announcement's notification, published once to
#: its community, which its author is not notified of and which muting does not hide).
POS_WIDTH = 26
_NONE = b"-" * POS_WIDTH
_HEAD = 1 + 2 * POS_WIDTH
_FLAGS = {(False, False): b"-", (True, False): b"P", (False, True): b"a", (True, True): b"A"}
_PRIORITY = frozenset(b"PA")
_BY_ORIGIN_ONLY = frozenset(b"aA")


def envelope(
    tail: bytes,
    pos: str | None,
    origin: str | None = None,
    *,
    priority: bool = False,
    by_origin_only: bool = False,
) -> bytes:
    flag = _FLAGS[priority, by_origin_only]
    return flag + (pos.encode() if pos else _NONE) + (origin.encode() if origin else _NONE) + tail


def open_envelope(payload: bytes) -> tuple[bytes, str | None, str | None, bool, bool]:
    """(tail, position, origin, priority, by_origin_only)."""
    pos, origin = payload[1 : 1 + POS_WIDTH], payload[1 + POS_WIDTH : _HEAD]
    return (
        payload[_HEAD:],
        None if pos == _NONE else pos.decode(),
        None if origin == _NONE else origin.decode(),
        payload[0] in _PRIORITY,
        payload[0] in _BY_ORIGIN_ONLY,
    )


def posts(user_id: str) -> str:
    return f"posts:{user_id}"


def user(user_id: str) -> str:
    return f"user:{user_id}"


def community(community_id: str) -> str:
    return f"community:{community_id}"


TAG_PREFIX = "tag:"


def tag(normalised: str) -> str:
    return f"{TAG_PREFIX}{normalised}"


def control(user_id: str) -> str:
    return f"{CONTROL_PREFIX}{user_id}"


def for_user(user_id: str, followee_ids: list[str], community_ids: list[str]) -> set[str]:
    """Every channel a connection of ``user_id`` listens to."""
    channels = {posts(user_id), user(user_id), control(user_id)}
    channels.update(posts(followee) for followee in followee_ids)
    channels.update(community(community_id) for community_id in community_ids)
    return channels


class Control(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a node should do for the user's local connections."""

    #: Start listening to this channel (a followed author's ``posts:``, a joined ``community:``)
    #: and backfill what it carried after ``since`` (the follow's or join's time), which may have
    #: been published before the subscription took hold.
    listen: str | None = None
    since: str | None = None
    #: Stop listening to this channel (unfollowed, left, banned, blocked).
    unlisten: list[str] | None = None
    #: Users to hide from, or show again to, the user's connections (mutes and blocks).
    hide: list[str] | None = None
    unhide: list[str] | None = None
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
