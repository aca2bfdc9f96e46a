"""What the Storage contract modules (test_storage_<area>.py) share: times, the marks of where
the nx-27017 stand-in diverges from MongoDB, and helpers that make users, posts, communities
and conversations through the port. Nothing here asserts, and every helper uses the port only,
so it works on every adapter."""

from __future__ import annotations

import pytest

from server.store.base import (
    AnnouncementRecord,
    CommunityRecord,
    ConversationRecord,
    IncidentRecord,
    IssuedInvite,
    MessageRecord,
    NewUser,
    NotificationRecord,
    PostRecord,
    SafetyRecord,
    Storage,
    UserRecord,
)

NOW = 1_800_000_000_000

DAY = 24 * 3600_000

WEEK = 7 * DAY

SMALLEST_ID = "0" * 26

# Where the nx-27017 stand-in diverges from MongoDB (each reproduced with plain pymongo in
# tests/support/mongo.py). Marked tests are expected to fail on nx-27017 only: the same assertions
# hold on SQLite and on a real MongoDB.
NX_ID_INDEX = pytest.mark.nx27017_diverges(
    "with a compound index that includes _id (posts by (author_id, _id)) every insert into the "
    "collection fails with 'JSON path error near _id'"
)

NX_SET_ON_INSERT = pytest.mark.nx27017_diverges(
    "find_one_and_update with upsert=True inserts without the fields of $setOnInsert"
)

NX_BINARY = pytest.mark.nx27017_diverges("an equality filter on a binary (bytes) field finds nothing")

NX_ARRAY = pytest.mark.nx27017_diverges(
    "$push stores a subdocument as a JSON string, and {'array.N': {$exists: False}} matches "
    "whatever the array's length (the conditional push of the invite quota)"
)

UNKNOWN_ID = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"

NX_GROUP_KEY = pytest.mark.nx27017_diverges(
    "$group by a document _id ({post_id: '$post_id', ...}) does not evaluate its field paths: one group"
)

NX_BOOL_SET = pytest.mark.nx27017_diverges("$set stores a boolean as the integer 1 or 0")

MINUTE = 60_000

ALL_AUDIENCES = ("friends", "followers", "everyone")

START = "01M7Z3MWDW88G9C4QTT0N7GYSQ"

LATER = "01M7Z3MWDW88G9C4QTT0N7GYSZ"

LATEST = "01M7Z4000000000000000000AA"


def new_user(handle: str, display_name: str | None = None) -> NewUser:
    return NewUser(
        handle=handle,
        display_name=display_name or handle.title(),
        password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        birth_date="1990-01-01",
    )


async def bootstrap_invite(storage: Storage, now_ms: int = NOW, **kwargs: bool) -> IssuedInvite:
    return await storage.create_invite(inviter_id=None, now_ms=now_ms, ttl_ms=WEEK, max_unused=None, **kwargs)


async def make_user(
    storage: Storage, handle: str, *, inviter: UserRecord | None = None, now_ms: int = NOW
) -> UserRecord:
    """A user through a fresh invite: a bootstrap one (no follow) unless ``inviter`` is given."""
    invite = await storage.create_invite(
        inviter_id=inviter.id if inviter else None, now_ms=now_ms, ttl_ms=WEEK, max_unused=None
    )
    return await storage.create_user(new_user(handle), invite_code=invite.code, now_ms=now_ms)


async def post(storage: Storage, author: UserRecord, text: str, now_ms: int = NOW) -> PostRecord:
    return await storage.create_post(
        author_id=author.id, text=text, emotext=None, reply_to=None, now_ms=now_ms
    )


async def make_users(storage: Storage, *handles: str) -> list[UserRecord]:
    return [await make_user(storage, handle) for handle in handles]


async def say(
    storage: Storage,
    author: UserRecord,
    text: str,
    now_ms: int = NOW,
    *,
    community: CommunityRecord | None = None,
    reply_to: PostRecord | None = None,
    repost_of: PostRecord | None = None,
    quote_of: PostRecord | None = None,
    announcement: bool = False,
) -> PostRecord:
    if announcement:
        assert community is not None
        announced = await storage.create_announcement(
            author_id=author.id, community_id=community.id, text=text, emotext=None, now_ms=now_ms
        )
        return announced.post
    return await storage.create_post(
        author_id=author.id,
        text=text,
        emotext=None,
        reply_to=reply_to.id if reply_to else None,
        now_ms=now_ms,
        community_id=community.id if community else None,
        repost_of=repost_of.id if repost_of else None,
        quote_of=quote_of.id if quote_of else None,
    )


async def make_community(
    storage: Storage,
    owner: UserRecord,
    name: str = "Tea",
    *,
    tags: tuple[str, ...] = (),
    approval_required: bool = False,
    now_ms: int = NOW,
) -> CommunityRecord:
    return await storage.create_community(
        owner_id=owner.id,
        name=name,
        description=f"about {name}",
        tags=list(tags),
        approval_required=approval_required,
        now_ms=now_ms,
    )


async def join(storage: Storage, community: CommunityRecord, *users: UserRecord, now_ms: int = NOW) -> None:
    for user in users:
        assert await storage.add_member(community.id, user.id, role="member", now_ms=now_ms) is not None


async def stream(storage: Storage, user: UserRecord, after: str = SMALLEST_ID) -> list[tuple[str, bool]]:
    """The user's following stream after ``after`` as (post id, deleted) pairs."""
    items = await storage.following_stream_after(user.id, after=after, limit=1000)
    return [(item.post.id, item.deleted) for item in items]


async def timeline(storage: Storage, user: UserRecord) -> list[str]:
    return [p.id for p in await storage.following_timeline(user.id, before=None, limit=1000)]


async def member_count(storage: Storage, community: CommunityRecord) -> int:
    found = await storage.get_community(community.id)
    assert found is not None
    return found.member_count


async def user_timeline(storage: Storage, author: UserRecord, viewer: UserRecord) -> list[str]:
    found = await storage.user_timeline(author.id, viewer_id=viewer.id, before=None, limit=1000)
    return [p.id for p in found]


async def open_direct(
    storage: Storage, a: UserRecord, b: UserRecord, now_ms: int = NOW
) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="direct", owner_id=a.id, member_ids=[a.id, b.id], title=None, now_ms=now_ms
    )
    return record


async def open_group(
    storage: Storage, owner: UserRecord, *others: UserRecord, title: str = "group", now_ms: int = NOW
) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="group",
        owner_id=owner.id,
        member_ids=[owner.id, *(o.id for o in others)],
        title=title,
        now_ms=now_ms,
    )
    return record


async def text(
    storage: Storage, conversation: ConversationRecord, author: UserRecord, body: str, now_ms: int
) -> str:
    message = await storage.add_message(
        conversation.id, author_id=author.id, kind="text", text=body, subject_id=None, now_ms=now_ms
    )
    return message.id


async def stored(storage: Storage, user: UserRecord) -> UserRecord:
    found = await storage.get_user(user.id)
    assert found is not None
    return found


async def befriend(storage: Storage, a: UserRecord, b: UserRecord) -> None:
    assert await storage.follow(a.id, b.id, NOW)
    assert await storage.follow(b.id, a.id, NOW)


async def status(
    storage: Storage,
    user: UserRecord,
    now_ms: int,
    *,
    state: str = "safe",
    audience: str = "friends",
    note: str = "",
    area: str | None = None,
) -> SafetyRecord:
    return await storage.add_safety_status(
        user_id=user.id, state=state, note=note, area=area, audience=audience, now_ms=now_ms
    )


async def start(storage: Storage, title: str = "Quake", now_ms: int = NOW) -> IncidentRecord | None:
    return await storage.start_incident(title=title, area=None, started_by=None, now_ms=now_ms)


async def announce(
    storage: Storage, author: UserRecord, text: str, now_ms: int, community: CommunityRecord
) -> AnnouncementRecord:
    announced = await storage.create_announcement(
        author_id=author.id, community_id=community.id, text=text, emotext=None, now_ms=now_ms
    )
    post = announced.post
    assert (post.author_id, post.text, post.community_id, post.announcement) == (
        author.id,
        text,
        community.id,
        True,
    )
    assert announced.notification_id > post.id
    assert await storage.get_post(post.id) == post
    return announced


def announced(record: AnnouncementRecord, reader: UserRecord, *, read: bool = False) -> NotificationRecord:
    """The notification ``reader`` finds for the announcement."""
    return NotificationRecord(
        id=record.notification_id,
        user_id=reader.id,
        kind="announcement",
        actor_id=record.post.author_id,
        post_id=record.post.id,
        community_id=record.post.community_id,
        emoji=None,
        created_ms=record.post.created_ms,
        read=read,
    )


async def say_with_nonce(
    storage: Storage, author: UserRecord, text: str, nonce: str | None, now_ms: int = NOW
) -> PostRecord:
    return await storage.create_post(
        author_id=author.id, text=text, emotext=None, reply_to=None, now_ms=now_ms, nonce=nonce
    )


async def send_with_nonce(
    storage: Storage, conversation: ConversationRecord, author: UserRecord, text: str, nonce: str | None
) -> MessageRecord:
    return await storage.add_message(
        conversation.id,
        author_id=author.id,
        kind="text",
        text=text,
        subject_id=None,
        now_ms=NOW + 1,
        nonce=nonce,
    )


async def direct_conversation(storage: Storage, one: UserRecord, other: UserRecord) -> ConversationRecord:
    record, _ = await storage.create_conversation(
        kind="direct", owner_id=one.id, member_ids=[one.id, other.id], title=None, now_ms=NOW
    )
    return record
