"""Direct messages: 1:1 and group conversations, live and resumable (the ``direct`` stream).

Who may message whom: each user's ``dm_policy`` says who may start a conversation with them or
add them to a group (everyone, people they follow, nobody), and a block either way rules it out.
Typing indicators are ephemeral and throttled here, never stored; read markers are stored and
only move forward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    CONVERSATION_PREVIEW_MEMBERS,
    Conversation,
    ConversationPage,
    ConversationResult,
    DmMessageEvent,
    DmReadEvent,
    DmTypingEvent,
    Done,
    MediaAttachment,
    Message,
    MessagePage,
    MessageResult,
)
from protocol.text import normalize

from .. import channels
from ..publisher import Publisher
from ..ratelimit import RateLimiter
from ..store.base import (
    AccountStorage,
    ConversationRecord,
    ConversationStorage,
    MediaUnavailable,
    MessageRecord,
    NonceTaken,
    RelationStorage,
    UserRecord,
)
from . import present, rules
from .pushes import Pushes

#: Members of a group, its owner included (as mixi2).
MAX_MEMBERS = 150
TYPING_INTERVAL_MS = 3_000


class ConversationsPorts(AccountStorage, RelationStorage, ConversationStorage, Protocol):
    """The storage Conversations uses: it writes conversations, and reads who may write to whom."""


class Conversations:
    def __init__(
        self,
        store: ConversationsPorts,
        publisher: Publisher,
        clock: Callable[[], int],
        pushes: Pushes | None = None,
    ) -> None:
        self._store = store
        self._pushes = pushes
        self._publisher = publisher
        self._now = clock
        #: One forwarded typing indicator per (conversation, user) per interval.
        self._typing = RateLimiter(1, TYPING_INTERVAL_MS)

    # --- conversations -------------------------------------------------------------------------

    async def open(self, user: UserRecord, user_ids: list[str], title: str | None) -> ConversationResult:
        others = [i for i in dict.fromkeys(user_ids) if i != user.id]
        if not others:
            raise ProtocolError(ErrorCode.INVALID_FRAME, "name at least one other user", path="$.user_ids")
        if len(others) + 1 > MAX_MEMBERS:
            raise ProtocolError(ErrorCode.CONVERSATION_FULL, path="$.user_ids")
        await self._check_may_message(user, others)
        kind = "direct" if len(others) == 1 and title is None else "group"
        title = rules.community_name(title, "$.title") if title is not None else None
        members = [user.id, *others]
        users = await self._store.get_users(members)
        record, created = await self._store.create_conversation(
            kind=kind, owner_id=user.id, member_ids=members, title=title, now_ms=self._now()
        )
        if created is not None:
            self._publish([created], members, users)
        return ConversationResult(conversation=await self._present(user.id, record))

    async def conversations(self, user: UserRecord, cursor: str | None, limit: int) -> ConversationPage:
        records = await self._store.conversations_of(user.id, before=cursor, limit=limit)
        unread = await self._store.unread_counts(user.id, [r.id for r in records])
        conversations = [
            await self._present(
                user.id, r, unread=unread.get(r.id, 0), members_limit=CONVERSATION_PREVIEW_MEMBERS
            )
            for r in records
        ]
        return ConversationPage(
            conversations=conversations, next=records[-1].last_message_id if len(records) == limit else None
        )

    async def get(self, user: UserRecord, conversation_id: str) -> ConversationResult:
        return ConversationResult(
            conversation=await self._present(user.id, await self._conversation(user, conversation_id))
        )

    async def send(
        self,
        user: UserRecord,
        conversation_id: str,
        text: str,
        nonce: str | None = None,
        media: Sequence[MediaAttachment] = (),
    ) -> MessageResult:
        """Store and deliver a message, with ``media`` (the author's uploads) attached; its text
        may be empty when it carries pictures. With ``nonce``, a retry of a message already
        stored in this conversation (by an earlier request, or a concurrent one that won)
        answers that message and delivers nothing (PROTOCOL.md 4.5.4); membership is checked
        first."""
        record = await self._conversation(user, conversation_id)
        if nonce is not None and (earlier := await self._store.message_by_nonce(record.id, user.id, nonce)):
            return MessageResult(message=present.message(earlier, {user.id: user}))
        pictures = rules.attachments(media)
        text = "" if pictures and not normalize(text).strip() else rules.message_text(text)
        members = await self._member_ids(record.id)
        if record.kind == "direct":
            other = next((m for m in members if m != user.id), None)
            if other is not None and await self._store.blocks_between(user.id, other):
                raise ProtocolError(ErrorCode.DM_NOT_ALLOWED)
        try:
            message = await self._store.add_message(
                record.id,
                author_id=user.id,
                kind="text",
                text=text,
                subject_id=None,
                now_ms=self._now(),
                nonce=nonce,
                media=pictures,
            )
        except MediaUnavailable as exc:
            raise rules.media_not_found(pictures, exc.media_id) from None
        except NonceTaken:  # a concurrent request with the same nonce stored it first
            earlier = await self._store.message_by_nonce(record.id, user.id, nonce) if nonce else None
            if earlier is None:
                raise
            return MessageResult(message=present.message(earlier, {user.id: user}))
        presented = self._publish([message], members, {user.id: user})
        if self._pushes is not None:
            await self._pushes.message(user, record.id, message.id, text, members, message.created_ms)
        return MessageResult(message=presented[0])

    async def history(
        self, user: UserRecord, conversation_id: str, before: str | None, limit: int
    ) -> MessagePage:
        record = await self._conversation(user, conversation_id)
        records = await self._store.messages(record.id, before=before, limit=limit)
        return MessagePage(
            messages=await self.messages(records), next=records[-1].id if len(records) == limit else None
        )

    async def typing(self, user: UserRecord, conversation_id: str) -> Done:
        record = await self._conversation(user, conversation_id)
        if not self._typing.hit(f"{record.id}:{user.id}"):
            event = DmTypingEvent(conversation_id=record.id, user=present.user(user))
            others = [m for m in await self._member_ids(record.id) if m != user.id]
            self._publisher.event([channels.user(m) for m in others], event)
        return Done()

    async def read(self, user: UserRecord, conversation_id: str, message_id: str) -> Done:
        record = await self._conversation(user, conversation_id)
        if message_id > record.last_message_id:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such message", path="$.message_id")
        if await self._store.set_last_read(record.id, user.id, message_id):
            event = DmReadEvent(conversation_id=record.id, user_id=user.id, message_id=message_id)
            self._publisher.event([channels.user(m) for m in await self._member_ids(record.id)], event)
        return Done()

    async def leave(self, user: UserRecord, conversation_id: str) -> Done:
        record = await self._conversation(user, conversation_id)
        if record.kind != "group":
            raise ProtocolError(ErrorCode.FORBIDDEN, "a direct conversation cannot be left")
        before = await self._store.conversation_members(record.id)
        heir = None
        if record.owner_id == user.id:
            heir = next((m.user_id for m in before if m.user_id != user.id), None)
        message = await self._store.remove_conversation_member(
            record.id, user.id, by=user.id, kind="left", now_ms=self._now(), new_owner_id=heir
        )
        if message is not None:
            self._publish([message], [m.user_id for m in before], {user.id: user})
        return Done()

    async def add(self, user: UserRecord, conversation_id: str, user_ids: list[str]) -> ConversationResult:
        record = await self._owned_group(user, conversation_id)
        members = set(await self._member_ids(record.id))
        new = [i for i in dict.fromkeys(user_ids) if i not in members]
        if len(members) + len(new) > MAX_MEMBERS:
            raise ProtocolError(ErrorCode.CONVERSATION_FULL, path="$.user_ids")
        await self._check_may_message(user, new)
        users = await self._store.get_users([user.id, *new])
        messages = await self._store.add_conversation_members(record.id, new, by=user.id, now_ms=self._now())
        self._publish(messages, [*members, *new], users)
        return ConversationResult(conversation=await self._present(user.id, record))

    async def remove(self, user: UserRecord, conversation_id: str, user_id: str) -> ConversationResult:
        record = await self._owned_group(user, conversation_id)
        if user_id == user.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "use dm.leave to leave", path="$.user_id")
        before = await self._member_ids(record.id)
        users = await self._store.get_users([user.id, user_id])
        message = await self._store.remove_conversation_member(
            record.id, user_id, by=user.id, kind="removed", now_ms=self._now()
        )
        if message is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, path="$.user_id")
        self._publish([message], before, users)  # the removed member hears of it too
        return ConversationResult(conversation=await self._present(user.id, record))

    # --- helpers ----------------------------------------------------------------------------------

    async def _check_may_message(self, user: UserRecord, target_ids: list[str]) -> None:
        targets = await self._store.get_users(target_ids)
        for target_id in target_ids:
            target = targets.get(target_id)
            if target is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_ids")
            allowed = target.dm_policy == "everyone" or (
                target.dm_policy == "following" and (await self._store.follow_state(target.id, user.id))[0]
            )
            if not allowed or await self._store.blocks_between(user.id, target.id):
                raise ProtocolError(
                    ErrorCode.DM_NOT_ALLOWED,
                    f"@{target.handle} does not accept messages from you",
                    path="$.user_ids",
                )

    async def _conversation(self, user: UserRecord, conversation_id: str) -> ConversationRecord:
        """The conversation, if the user is a member; else not_found (existence is not revealed)."""
        record = await self._store.get_conversation(conversation_id)
        if record is None or await self._store.conversation_member(record.id, user.id) is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such conversation", path="$.conversation_id")
        return record

    async def _owned_group(self, user: UserRecord, conversation_id: str) -> ConversationRecord:
        record = await self._conversation(user, conversation_id)
        if record.kind != "group" or record.owner_id != user.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only a group's owner adds and removes members")
        return record

    async def _member_ids(self, conversation_id: str) -> list[str]:
        return [m.user_id for m in await self._store.conversation_members(conversation_id)]

    async def messages(self, records: list[MessageRecord]) -> list[Message]:
        ids = {r.author_id for r in records} | {r.subject_id for r in records if r.subject_id}
        users = await self._store.get_users(list(ids))
        return [present.message(r, users) for r in records if r.author_id in users]

    def _publish(
        self, records: list[MessageRecord], recipients: list[str], users: Mapping[str, UserRecord]
    ) -> list[Message]:
        """Deliver messages just committed, in order, to the members' connections. Synchronous,
        so no other publish can come between the commit and this one: ``users`` (authors and
        subjects) are read before the write."""
        presented = [present.message(r, users) for r in records]
        for message in presented:
            self._publisher.event(
                [channels.user(m) for m in recipients], DmMessageEvent(message=message), message.id
            )
        return presented

    async def _present(
        self,
        viewer_id: str,
        record: ConversationRecord,
        *,
        unread: int | None = None,
        members_limit: int | None = None,
    ) -> Conversation:
        record = await self._store.get_conversation(record.id) or record
        members = await self._store.conversation_members(record.id)
        shown = members if members_limit is None else members[:members_limit]
        last = await self._store.messages(record.id, before=None, limit=1)
        users = await self._store.get_users(
            [m.user_id for m in shown] + [i for r in last for i in (r.author_id, r.subject_id) if i]
        )
        if unread is None:
            unread = (await self._store.unread_counts(viewer_id, [record.id])).get(record.id, 0)
        last_message = present.message(last[0], users) if last and last[0].author_id in users else None
        return present.conversation(
            record,
            members,
            users,
            viewer_id=viewer_id,
            last_message=last_message,
            unread=unread,
            members_limit=members_limit,
        )
