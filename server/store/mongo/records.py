"""MongoDB documents read back as the port's records (:mod:`server.store.base`).

A field added at a later schema is absent from documents written before it: it reads as the
port's default (see :mod:`server.store.mongo`), so nothing is rewritten on upgrade.
"""

from __future__ import annotations

from ..base import (
    CommunityRecord,
    ConversationMemberRecord,
    ConversationRecord,
    IncidentRecord,
    InviteRecord,
    MembershipRecord,
    MessageRecord,
    NotificationRecord,
    PostRecord,
    ReportRecord,
    SafetyRecord,
    SessionRecord,
    UserRecord,
)
from .driver import Document


def user_record(doc: Document) -> UserRecord:
    return UserRecord(
        id=doc["_id"],
        handle=doc["handle"],
        display_name=doc["display_name"],
        password_hash=doc["password_hash"],
        birth_date=doc["birth_date"],
        created_ms=doc["created_ms"],
        invited_by=doc["invited_by"],
        operator=doc["operator"],
        verified=doc["verified"],
        bot=doc["bot"],
        # Absent from users made before schema 2 (dm_policy) or 3 (the other two).
        dm_policy=doc.get("dm_policy", "everyone"),
        presence_visibility=doc.get("presence_visibility", "friends"),
        last_seen_ms=doc.get("last_seen_ms"),
    )


def invite_record(doc: Document) -> InviteRecord:
    return InviteRecord(
        code_hash=bytes.fromhex(doc["_id"]),
        code_prefix=doc["code_prefix"],
        inviter_id=doc["inviter_id"],
        created_ms=doc["created_ms"],
        expires_ms=doc["expires_ms"],
        used_by=doc["used_by"],
        used_ms=doc["used_ms"],
        grants_operator=doc["grants_operator"],
    )


def session_record(doc: Document) -> SessionRecord:
    return SessionRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        created_ms=doc["created_ms"],
        expires_ms=doc["expires_ms"],
        revoked_ms=doc["revoked_ms"],
    )


def post_record(doc: Document) -> PostRecord:
    return PostRecord(
        id=doc["_id"],
        author_id=doc["author_id"],
        text=doc["text"],
        emotext=doc["emotext"],
        reply_to=doc["reply_to"],
        created_ms=doc["created_ms"],
        deleted_pos=doc["deleted_pos"],
        # Absent from posts made at schema 1.
        community_id=doc.get("community_id"),
        repost_of=doc.get("repost_of"),
        quote_of=doc.get("quote_of"),
        announcement=doc.get("announcement", False),
    )


def community_record(doc: Document) -> CommunityRecord:
    return CommunityRecord(
        id=doc["_id"],
        name=doc["name"],
        description=doc["description"],
        tags=tuple(doc["tags"]),
        approval_required=doc["approval_required"],
        certified=doc["certified"],
        owner_id=doc["owner_id"],
        created_ms=doc["created_ms"],
        member_count=doc["member_count"],
    )


def membership_record(doc: Document) -> MembershipRecord:
    return MembershipRecord(
        id=doc["_id"],
        community_id=doc["community_id"],
        user_id=doc["user_id"],
        role=doc["role"],
        joined_ms=doc["joined_ms"],
    )


def conversation_record(doc: Document) -> ConversationRecord:
    return ConversationRecord(
        id=doc["_id"],
        kind=doc["kind"],
        title=doc["title"],
        owner_id=doc["owner_id"],
        created_ms=doc["created_ms"],
        last_message_id=doc["last_message_id"],
    )


def conversation_member_record(doc: Document) -> ConversationMemberRecord:
    return ConversationMemberRecord(
        conversation_id=doc["conversation_id"],
        user_id=doc["user_id"],
        joined_ms=doc["joined_ms"],
        last_read=doc["last_read"],
    )


def message_record(doc: Document) -> MessageRecord:
    return MessageRecord(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        author_id=doc["author_id"],
        kind=doc["kind"],
        text=doc["text"],
        subject_id=doc["subject_id"],
        created_ms=doc["created_ms"],
    )


def notification_record(doc: Document) -> NotificationRecord:
    return NotificationRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        kind=doc["kind"],
        actor_id=doc["actor_id"],
        post_id=doc["post_id"],
        community_id=doc["community_id"],
        emoji=doc["emoji"],
        created_ms=doc["created_ms"],
        read=doc["read"],
    )


def announcement_record(doc: Document, user_id: str, *, read: bool) -> NotificationRecord:
    """A ``community_notifications`` document: the notification ``user_id`` finds for the
    announcement, ``read`` by them or not (see :mod:`.notifications`)."""
    return NotificationRecord(
        id=doc["_id"],
        user_id=user_id,
        kind=doc["kind"],
        actor_id=doc["actor_id"],
        post_id=doc["post_id"],
        community_id=doc["community_id"],
        emoji=None,
        created_ms=doc["created_ms"],
        read=read,
    )


def report_record(doc: Document) -> ReportRecord:
    return ReportRecord(
        id=doc["_id"],
        reporter_id=doc["reporter_id"],
        post_id=doc["post_id"],
        user_id=doc["user_id"],
        reason=doc["reason"],
        created_ms=doc["created_ms"],
        resolved_ms=doc["resolved_ms"],
    )


def safety_record(doc: Document) -> SafetyRecord:
    return SafetyRecord(
        id=doc["_id"],
        user_id=doc["user_id"],
        state=doc["state"],
        note=doc["note"],
        area=doc["area"],
        audience=doc["audience"],
        created_ms=doc["created_ms"],
    )


def incident_record(doc: Document) -> IncidentRecord:
    return IncidentRecord(
        id=doc["_id"],
        title=doc["title"],
        area=doc["area"],
        started_by=doc["started_by"],
        started_ms=doc["started_ms"],
        ended_ms=doc["ended_ms"],
    )
