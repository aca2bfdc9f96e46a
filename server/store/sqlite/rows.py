"""Where tables meet records: each area's column list, the functions that turn its rows into
records, and the helpers every area binds with.

Rows are ``sqlite3.Row`` (the engine's row factory) and are read by column name, never by
position: the order of a column list or a SELECT can change without swapping two fields. A
record whose fields are named as its columns and need no conversion is read by :func:`_record`;
the others (booleans stored as integers, JSON, renamed columns) have a function of their own.
Single-column reads (``SELECT count(*)``, ``RETURNING id``) take the one column as it comes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable
from typing import TypeVar

from ..base import (
    CommunityRecord,
    InviteRecord,
    MediaRecord,
    MediaVariantRecord,
    MessageRecord,
    NotificationRecord,
    PostRecord,
    UserRecord,
)

_USER_COLUMNS = (
    "id, handle, display_name, password_hash, birth_date, created_ms, invited_by, operator, verified, bot, "
    "dm_policy, presence_visibility, last_seen_ms, bio, interests, avatar_id, avatar_placeholder, deleted, "
    "handle_changed_ms"
)
_POST_COLUMNS = (
    "id, author_id, text, emotext, reply_to, created_ms, deleted_pos, community_id, repost_of, quote_of, "
    "announcement, media"
)
_INVITE_COLUMNS = (
    "code_hash, code_prefix, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator"
)
_SESSION_COLUMNS = "id, user_id, created_ms, expires_ms, revoked_ms, device, last_used_ms"
_COMMUNITY_COLUMNS = (
    "id, name, description, tags, approval_required, certified, owner_id, created_ms, member_count"
)
_MEMBERSHIP_COLUMNS = "id, community_id, user_id, role, joined_ms"
_CONVERSATION_COLUMNS = "id, kind, title, owner_id, created_ms, last_message_id"
_CONVERSATION_MEMBER_COLUMNS = "conversation_id, user_id, joined_ms, last_read"
_MESSAGE_COLUMNS = "id, conversation_id, author_id, kind, text, subject_id, created_ms, media"
_MEDIA_COLUMNS = "id, owner_id, kind, body, created_ms, expires_ms, subject, alt"
_NOTIFICATION_COLUMNS = "id, user_id, kind, actor_id, post_id, community_id, emoji, created_ms, read"
_REPORT_COLUMNS = "id, reporter_id, post_id, user_id, reason, created_ms, resolved_ms, category"
_SAFETY_COLUMNS = "id, user_id, state, note, area, audience, created_ms"
_INCIDENT_COLUMNS = "id, title, area, started_by, started_ms, ended_ms"

_R = TypeVar("_R")

# Bounds for optional cursors: every id (Crockford base32, upper case) sorts after "" and before "~".
_BELOW_EVERY_ID = ""
_ABOVE_EVERY_ID = "~"


def _record(cls: type[_R], row: sqlite3.Row) -> _R:
    """A record whose fields are all named as the columns they come from, and need no
    conversion, read from ``row`` by name; a field the SELECT left out raises IndexError."""
    return cls(**{name: row[name] for name in _field_names(cls)})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _user(row: sqlite3.Row) -> UserRecord:
    return UserRecord(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        birth_date=row["birth_date"],
        created_ms=row["created_ms"],
        invited_by=row["invited_by"],
        operator=bool(row["operator"]),
        verified=bool(row["verified"]),
        bot=bool(row["bot"]),
        dm_policy=row["dm_policy"],
        presence_visibility=row["presence_visibility"],
        last_seen_ms=row["last_seen_ms"],
        bio=row["bio"],
        interests=tuple(json.loads(row["interests"])),
        avatar_id=row["avatar_id"],
        avatar_placeholder=row["avatar_placeholder"],
        deleted=bool(row["deleted"]),
        handle_changed_ms=row["handle_changed_ms"],
    )


def _post(row: sqlite3.Row) -> PostRecord:
    return PostRecord(
        id=row["id"],
        author_id=row["author_id"],
        text=row["text"],
        emotext=row["emotext"],
        reply_to=row["reply_to"],
        created_ms=row["created_ms"],
        deleted_pos=row["deleted_pos"],
        community_id=row["community_id"],
        repost_of=row["repost_of"],
        quote_of=row["quote_of"],
        announcement=bool(row["announcement"]),
        media=_attached(row["media"]),
    )


def _message(row: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        id=row["id"],
        conversation_id=row["conversation_id"],
        author_id=row["author_id"],
        kind=row["kind"],
        text=row["text"],
        subject_id=row["subject_id"],
        created_ms=row["created_ms"],
        media=_attached(row["media"]),
    )


# --- pictures ------------------------------------------------------------------------------------
# A media record's picture (sizes, placeholder, variants) is one JSON object, ``body``: in the
# media table's column of that name, and, with the rest of the record, in the JSON array a post
# or message keeps of its attached pictures.


def _body(record: MediaRecord) -> dict[str, object]:
    return {
        "width": record.width,
        "height": record.height,
        "placeholder": record.placeholder,
        "animated": record.animated,
        "display": dataclasses.asdict(record.display),
        "thumbnail": dataclasses.asdict(record.thumbnail),
    }


def _media_body_json(record: MediaRecord) -> str:
    return json.dumps(_body(record), separators=(",", ":"))


def _from_body(body: dict[str, object], **rest: object) -> MediaRecord:
    display, thumbnail = body["display"], body["thumbnail"]
    assert isinstance(display, dict) and isinstance(thumbnail, dict)
    return MediaRecord(
        width=body["width"],  # type: ignore[arg-type]
        height=body["height"],  # type: ignore[arg-type]
        placeholder=body["placeholder"],  # type: ignore[arg-type]
        animated=body["animated"],  # type: ignore[arg-type]
        display=MediaVariantRecord(**display),
        thumbnail=MediaVariantRecord(**thumbnail),
        **rest,  # type: ignore[arg-type]
    )


def _media(row: sqlite3.Row) -> MediaRecord:
    return _from_body(
        json.loads(row["body"]),
        id=row["id"],
        owner_id=row["owner_id"],
        kind=row["kind"],
        created_ms=row["created_ms"],
        expires_ms=row["expires_ms"],
        subject=row["subject"],
        alt=row["alt"],
    )


_REST = ("id", "owner_id", "kind", "created_ms", "expires_ms", "subject", "alt")


def _attached_json(records: Iterable[MediaRecord]) -> str | None:
    """The pictures a post or message keeps with it; NULL for none."""
    items = [{**_body(r), **{name: getattr(r, name) for name in _REST}} for r in records]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False) if items else None


def _attached(text: str | None) -> tuple[MediaRecord, ...]:
    if not text:
        return ()
    return tuple(_from_body(item, **{name: item[name] for name in _REST}) for item in json.loads(text))


def _invite(row: sqlite3.Row) -> InviteRecord:
    return InviteRecord(
        code_hash=row["code_hash"],
        code_prefix=row["code_prefix"],
        inviter_id=row["inviter_id"],
        created_ms=row["created_ms"],
        expires_ms=row["expires_ms"],
        used_by=row["used_by"],
        used_ms=row["used_ms"],
        grants_operator=bool(row["grants_operator"]),
    )


def _community(row: sqlite3.Row) -> CommunityRecord:
    return CommunityRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        tags=tuple(json.loads(row["tags"])),
        approval_required=bool(row["approval_required"]),
        certified=bool(row["certified"]),
        owner_id=row["owner_id"],
        created_ms=row["created_ms"],
        member_count=row["member_count"],
    )


def _notification(row: sqlite3.Row) -> NotificationRecord:
    return NotificationRecord(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        actor_id=row["actor_id"],
        post_id=row["post_id"],
        community_id=row["community_id"],
        emoji=row["emoji"],
        created_ms=row["created_ms"],
        read=bool(row["read"]),
    )


def _json(values: Iterable[str]) -> str:
    """A list of ids or names, bound as one parameter and read with ``json_each``."""
    return json.dumps(list(values))
