"""Records from storage to the payloads of the protocol: pure functions, no storage access.

Batch loading (authors, embedded originals, reaction counts) is :mod:`server.domain.views`'s job;
these functions only shape what they are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protocol.codec import format_timestamp
from protocol.messages import (
    Avatar,
    Community,
    Conversation,
    Entity,
    Invite,
    JoinRequest,
    Media,
    MediaVariant,
    Member,
    Message,
    Notification,
    Post,
    Profile,
    ReactionCount,
    User,
)
from protocol.text import Emotext, find_entities

from ..store.base import (
    AnnouncementRecord,
    CommunityRecord,
    ConversationMemberRecord,
    ConversationRecord,
    InviteRecord,
    IssuedInvite,
    JoinRequestRecord,
    MediaRecord,
    MediaVariantRecord,
    MembershipRecord,
    MessageRecord,
    NotificationRecord,
    PostRecord,
    UserRecord,
)


def media_url(media_id: str, variant: str) -> str:
    """Where a picture's variant is served (server/media/serve.py): a path on this server."""
    return f"/media/{media_id}/{variant}"


def avatar(record: UserRecord) -> Avatar | None:
    if record.avatar_id is None:
        return None
    return Avatar(
        url=media_url(record.avatar_id, "display"),
        thumbnail_url=media_url(record.avatar_id, "thumbnail"),
        placeholder=record.avatar_placeholder or "#808080",
    )


def user(record: UserRecord) -> User:
    return User(
        id=record.id,
        handle=record.handle,
        display_name=record.display_name,
        verified=record.verified,
        bot=record.bot,
        avatar=avatar(record),
    )


def _variant(media_id: str, name: str, record: MediaVariantRecord) -> MediaVariant:
    return MediaVariant(
        url=media_url(media_id, name),
        width=record.width,
        height=record.height,
        content_type=record.content_type,
    )


def media(record: MediaRecord) -> Media:
    return Media(
        id=record.id,
        width=record.width,
        height=record.height,
        placeholder=record.placeholder,
        alt=record.alt,
        animated=record.animated,
        display=_variant(record.id, "display", record.display),
        thumbnail=_variant(record.id, "thumbnail", record.thumbnail),
    )


def profile(
    record: UserRecord,
    *,
    counts: tuple[int, int],
    state: tuple[bool, bool],
    relation: tuple[bool, bool] = (False, False),
) -> Profile:
    """``state``: (viewer follows, follows viewer); ``relation``: (viewer blocks, viewer mutes)."""
    return Profile(
        id=record.id,
        handle=record.handle,
        display_name=record.display_name,
        verified=record.verified,
        bot=record.bot,
        avatar=avatar(record),
        bio=record.bio,
        interests=list(record.interests),
        created_at=format_timestamp(record.created_ms),
        followers_count=counts[0],
        following_count=counts[1],
        following=state[0],
        followed_by=state[1],
        blocking=relation[0],
        muting=relation[1],
    )


def reactions(counts: Iterable[tuple[str, int]]) -> list[ReactionCount]:
    return [ReactionCount(emoji=emoji, count=count) for emoji, count in counts]


def post(
    record: PostRecord,
    author: UserRecord,
    *,
    repost_of: Post | None = None,
    quote_of: Post | None = None,
    counts: Iterable[tuple[str, int]] = (),
    mine: Iterable[str] = (),
    shares: tuple[int, int, int] = (0, 0, 0),
) -> Post:
    """``shares``: (replies, reposts, quotes) of the post, standing (``Storage.share_counts``)."""
    return Post(
        id=record.id,
        author=user(author),
        text=record.text,
        emotext=Emotext(record.emotext) if record.emotext else None,
        reply_to=record.reply_to,
        community_id=record.community_id,
        announcement=record.announcement,
        repost_of=repost_of,
        quote_of=quote_of,
        reactions=reactions(counts),
        my_reactions=list(mine),
        media=[media(m) for m in record.media],
        entities=entities(record.text),
        created_at=format_timestamp(record.created_ms),
        replies_count=shares[0],
        reposts_count=shares[1],
        quotes_count=shares[2],
    )


def entities(text: str) -> list[Entity]:
    """A post's hashtags and links, found in its text as it is presented (PROTOCOL.md section
    7.10): derived, never stored, so every post, old ones included, reads by today's grammar."""
    if "#" not in text and "＃" not in text and "://" not in text:
        return []  # most posts have neither: no regex for them
    return [
        Entity(
            kind=found.kind,
            start=found.start,
            end=found.end,
            tag=found.value if found.kind == "tag" else None,
            url=found.value if found.kind == "url" else None,
        )
        for found in find_entities(text)
    ]


def community(
    record: CommunityRecord, owner: UserRecord, *, role: str | None, request_pending: bool
) -> Community:
    return Community(
        id=record.id,
        name=record.name,
        description=record.description,
        tags=list(record.tags),
        approval_required=record.approval_required,
        certified=record.certified,
        owner=user(owner),
        member_count=record.member_count,
        created_at=format_timestamp(record.created_ms),
        my_role=role,  # type: ignore[arg-type]  # the store holds only the three roles
        request_pending=request_pending,
    )


def member(record: MembershipRecord, who: UserRecord) -> Member:
    return Member(user=user(who), role=record.role, joined_at=format_timestamp(record.joined_ms))  # type: ignore[arg-type]


def join_request(record: JoinRequestRecord, who: UserRecord) -> JoinRequest:
    return JoinRequest(user=user(who), requested_at=format_timestamp(record.created_ms))


def message(record: MessageRecord, users: Mapping[str, UserRecord]) -> Message:
    subject = users.get(record.subject_id) if record.subject_id else None
    return Message(
        id=record.id,
        conversation_id=record.conversation_id,
        kind=record.kind,  # type: ignore[arg-type]  # the store holds only the protocol's kinds
        author=user(users[record.author_id]),
        text=record.text,
        subject=user(subject) if subject else None,
        media=[media(m) for m in record.media],
        created_at=format_timestamp(record.created_ms),
    )


def conversation(
    record: ConversationRecord,
    members: list[ConversationMemberRecord],
    users: Mapping[str, UserRecord],
    *,
    viewer_id: str,
    last_message: Message | None,
    unread: int,
    members_limit: int | None = None,
) -> Conversation:
    mine = next((m for m in members if m.user_id == viewer_id), None)
    shown = members if members_limit is None else members[:members_limit]
    return Conversation(
        id=record.id,
        kind=record.kind,  # type: ignore[arg-type]
        title=record.title,
        owner_id=record.owner_id,
        members=[user(users[m.user_id]) for m in shown if m.user_id in users],
        member_count=len(members),
        created_at=format_timestamp(record.created_ms),
        last_message=last_message,
        unread=unread,
        last_read=mine.last_read if mine else None,
    )


def notification(record: NotificationRecord, actor: UserRecord | None) -> Notification:
    return Notification(
        id=record.id,
        kind=record.kind,  # type: ignore[arg-type]
        actor=user(actor) if actor else None,
        post_id=record.post_id,
        community_id=record.community_id,
        emoji=record.emoji,
        created_at=format_timestamp(record.created_ms),
        read=record.read,
    )


def announcement(record: AnnouncementRecord, author: UserRecord) -> Notification:
    """The notification of an announcement, the same for every member (none has read it yet)."""
    return Notification(
        id=record.notification_id,
        kind="announcement",
        actor=user(author),
        post_id=record.post.id,
        community_id=record.post.community_id,
        emoji=None,
        created_at=format_timestamp(record.post.created_ms),
        read=False,
    )


def invite(record: InviteRecord, base_url: str, used_by: UserRecord | None) -> Invite:
    """The code and its link only when the record has it: just made (storage keeps a hash)."""
    code = record.code if isinstance(record, IssuedInvite) else None
    return Invite(
        code=code,
        url=invite_url(base_url, code) if code is not None else None,
        code_prefix=record.code_prefix,
        created_at=format_timestamp(record.created_ms),
        expires_at=format_timestamp(record.expires_ms),
        used_by=user(used_by) if used_by else None,
        used_at=format_timestamp(record.used_ms) if record.used_ms is not None else None,
    )


def invite_url(base_url: str, code: str) -> str:
    return f"{base_url}/i/{code}"
