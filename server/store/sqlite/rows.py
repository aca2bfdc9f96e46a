"""Where tables meet records: each area's column list, the functions that turn its rows into
records (reading the columns in the list's order), and the helpers every area binds with."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..base import (
    CommunityRecord,
    IncidentRecord,
    InviteRecord,
    NotificationRecord,
    PostRecord,
    SafetyRecord,
    SessionRecord,
    UserRecord,
)

_USER_COLUMNS = (
    "id, handle, display_name, password_hash, birth_date, created_ms, invited_by, operator, verified, bot, "
    "dm_policy, presence_visibility, last_seen_ms"
)
_POST_COLUMNS = (
    "id, author_id, text, emotext, reply_to, created_ms, deleted_pos, community_id, repost_of, quote_of, "
    "announcement"
)
_INVITE_COLUMNS = "code, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator"
_SESSION_COLUMNS = "id, user_id, created_ms, expires_ms, revoked_ms"
_COMMUNITY_COLUMNS = (
    "id, name, description, tags, approval_required, certified, owner_id, created_ms, member_count"
)
_MEMBERSHIP_COLUMNS = "id, community_id, user_id, role, joined_ms"
_CONVERSATION_COLUMNS = "id, kind, title, owner_id, created_ms, last_message_id"
_CONVERSATION_MEMBER_COLUMNS = "conversation_id, user_id, joined_ms, last_read"
_MESSAGE_COLUMNS = "id, conversation_id, author_id, kind, text, subject_id, created_ms"
_NOTIFICATION_COLUMNS = "id, user_id, kind, actor_id, post_id, community_id, emoji, created_ms, read"
_REPORT_COLUMNS = "id, reporter_id, post_id, user_id, reason, created_ms, resolved_ms"
_SAFETY_COLUMNS = "id, user_id, state, note, area, audience, created_ms"
_INCIDENT_COLUMNS = "id, title, area, started_by, started_ms, ended_ms"

# Bounds for optional cursors: every id (Crockford base32, upper case) sorts after "" and before "~".
_BELOW_EVERY_ID = ""
_ABOVE_EVERY_ID = "~"


def _user(row: sqlite3.Row) -> UserRecord:
    return UserRecord(
        id=row[0],
        handle=row[1],
        display_name=row[2],
        password_hash=row[3],
        birth_date=row[4],
        created_ms=row[5],
        invited_by=row[6],
        operator=bool(row[7]),
        verified=bool(row[8]),
        bot=bool(row[9]),
        dm_policy=row[10],
        presence_visibility=row[11],
        last_seen_ms=row[12],
    )


def _post(row: sqlite3.Row | tuple[Any, ...]) -> PostRecord:
    return PostRecord(
        id=row[0],
        author_id=row[1],
        text=row[2],
        emotext=row[3],
        reply_to=row[4],
        created_ms=row[5],
        deleted_pos=row[6],
        community_id=row[7],
        repost_of=row[8],
        quote_of=row[9],
        announcement=bool(row[10]),
    )


def _invite(row: sqlite3.Row) -> InviteRecord:
    code, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator = row
    return InviteRecord(code, inviter_id, created_ms, expires_ms, used_by, used_ms, bool(grants_operator))


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(*row)


def _community(row: tuple[Any, ...]) -> CommunityRecord:
    return CommunityRecord(
        id=row[0],
        name=row[1],
        description=row[2],
        tags=tuple(json.loads(row[3])),
        approval_required=bool(row[4]),
        certified=bool(row[5]),
        owner_id=row[6],
        created_ms=row[7],
        member_count=row[8],
    )


def _notification(row: tuple[Any, ...]) -> NotificationRecord:
    return NotificationRecord(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        actor_id=row[3],
        post_id=row[4],
        community_id=row[5],
        emoji=row[6],
        created_ms=row[7],
        read=bool(row[8]),
    )


def _safety(row: tuple[Any, ...]) -> SafetyRecord:
    return SafetyRecord(*row)


def _incident(row: tuple[Any, ...]) -> IncidentRecord:
    return IncidentRecord(*row)


def _json(values: Iterable[str]) -> str:
    """A list of ids or names, bound as one parameter and read with ``json_each``."""
    return json.dumps(list(values))
