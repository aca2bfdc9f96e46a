"""Records from storage to the payloads of the protocol."""

from __future__ import annotations

from protocol.codec import format_timestamp
from protocol.messages import Invite, Post, Profile, User
from protocol.text import Emotext

from ..store.base import InviteRecord, PostRecord, UserRecord


def user(record: UserRecord) -> User:
    return User(
        id=record.id,
        handle=record.handle,
        display_name=record.display_name,
        verified=record.verified,
        bot=record.bot,
    )


def profile(record: UserRecord, *, counts: tuple[int, int], state: tuple[bool, bool]) -> Profile:
    return Profile(
        id=record.id,
        handle=record.handle,
        display_name=record.display_name,
        verified=record.verified,
        bot=record.bot,
        created_at=format_timestamp(record.created_ms),
        followers_count=counts[0],
        following_count=counts[1],
        following=state[0],
        followed_by=state[1],
    )


def post(record: PostRecord, author: UserRecord) -> Post:
    return Post(
        id=record.id,
        author=user(author),
        text=record.text,
        emotext=Emotext(record.emotext) if record.emotext else None,
        reply_to=record.reply_to,
        created_at=format_timestamp(record.created_ms),
    )


def invite(record: InviteRecord, base_url: str, used_by: UserRecord | None) -> Invite:
    return Invite(
        code=record.code,
        url=invite_url(base_url, record.code),
        created_at=format_timestamp(record.created_ms),
        expires_at=format_timestamp(record.expires_ms),
        used_by=user(used_by) if used_by else None,
        used_at=format_timestamp(record.used_ms) if record.used_ms is not None else None,
    )


def invite_url(base_url: str, code: str) -> str:
    return f"{base_url}/i/{code}"
