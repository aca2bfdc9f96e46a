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
    MediaRecord,
    MediaVariantRecord,
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
        # Absent from users made before schema 8.
        bio=doc.get("bio", ""),
        interests=tuple(doc.get("interests") or ()),
        avatar_id=doc.get("avatar_id"),
        avatar_placeholder=doc.get("avatar_placeholder"),
        # Absent from users of before schema 12.
        deleted=doc.get("deleted", False),
        # Absent from users who never changed their handle (and from before schema 15).
        handle_changed_ms=doc.get("handle_changed_ms"),
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
        device=doc.get("device", ""),
        last_used_ms=doc.get("last_used_ms"),
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
        # Absent from posts made before schema 8.
        media=attached_records(doc.get("media")),
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
        # Absent from messages made before schema 8.
        media=attached_records(doc.get("media")),
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
        category=doc.get("category"),  # reports stored before 1.10.0 have none
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


# --- pictures ------------------------------------------------------------------------------------
# A media record is one document of ``media`` (its id the ``_id``), and the same fields, its id
# under ``id``, as one element of the ``media`` array a post or message keeps of the pictures
# attached to it (what a timeline shows needs no second read; an attached picture never changes).


def media_fields(record: MediaRecord) -> Document:
    """Every field of the record but its id, as stored."""
    return {
        "owner_id": record.owner_id,
        "kind": record.kind,
        "width": record.width,
        "height": record.height,
        "placeholder": record.placeholder,
        "animated": record.animated,
        "display": _variant_fields(record.display),
        "thumbnail": _variant_fields(record.thumbnail),
        "created_ms": record.created_ms,
        "expires_ms": record.expires_ms,
        "subject": record.subject,
        "alt": record.alt,
    }


def _variant_fields(variant: MediaVariantRecord) -> Document:
    return {
        "digest": variant.digest,
        "content_type": variant.content_type,
        "width": variant.width,
        "height": variant.height,
        "size": variant.size,
    }


def _variant_record(doc: Document) -> MediaVariantRecord:
    return MediaVariantRecord(
        digest=doc["digest"],
        content_type=doc["content_type"],
        width=doc["width"],
        height=doc["height"],
        size=doc["size"],
    )


def media_record(doc: Document, media_id: str) -> MediaRecord:
    return MediaRecord(
        id=media_id,
        owner_id=doc["owner_id"],
        kind=doc["kind"],
        width=doc["width"],
        height=doc["height"],
        placeholder=doc["placeholder"],
        animated=doc["animated"],
        display=_variant_record(doc["display"]),
        thumbnail=_variant_record(doc["thumbnail"]),
        created_ms=doc["created_ms"],
        expires_ms=doc["expires_ms"],
        subject=doc["subject"],
        alt=doc["alt"],
    )


def attached_documents(records: tuple[MediaRecord, ...]) -> list[Document]:
    """The ``media`` array of a post or message: its pictures in order."""
    return [{"id": record.id, **media_fields(record)} for record in records]


def attached_records(docs: list[Document] | None) -> tuple[MediaRecord, ...]:
    return tuple(media_record(doc, doc["id"]) for doc in docs or ())
