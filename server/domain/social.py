"""Posts, follows and the Following timeline, live and resumable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.codec import event_tail
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    FollowEvent,
    Post,
    PostCreated,
    PostDeleted,
    Profile,
    TimelinePage,
    UnfollowEvent,
)
from protocol.text import Emotext

from .. import channels
from ..ids import floor_id
from ..publisher import Publisher
from ..store.base import PostRecord, Storage, StreamItem, UserRecord
from . import present, rules


@dataclass(frozen=True)
class Backlog:
    """What a resuming connection missed: event tails oldest first, or ``recovered=False``."""

    recovered: bool
    tails: list[bytes]
    positions: list[str]


class Social:
    def __init__(self, store: Storage, publisher: Publisher, clock: Callable[[], int]) -> None:
        self._store = store
        self._publisher = publisher
        self._now = clock

    # --- posts --------------------------------------------------------------------------------

    async def create_post(
        self, author: UserRecord, text: str, emotext: Emotext | None, reply_to: str | None
    ) -> Post:
        text = rules.post_text(text)
        if reply_to is not None:
            parent = await self._store.get_post(reply_to)
            if parent is None or parent.deleted_pos is not None:
                raise ProtocolError(ErrorCode.NOT_FOUND, "no such post to reply to", path="$.reply_to")
        record = await self._store.create_post(
            author_id=author.id,
            text=text,
            emotext=emotext.value if emotext else None,
            reply_to=reply_to,
            now_ms=self._now(),
        )
        post = present.post(record, author)
        # No await between the commit above and this publish: delivery follows commit order.
        self._publisher.event([channels.posts(author.id)], PostCreated(post=post), record.id)
        return post

    async def delete_post(self, user: UserRecord, post_id: str) -> None:
        record = await self._store.get_post(post_id)
        if record is None or record.deleted_pos is not None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such post", path="$.post_id")
        if record.author_id != user.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you can delete only your own posts")
        deleted = await self._store.delete_post(post_id)
        if deleted is None or deleted.deleted_pos is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such post", path="$.post_id")
        event = PostDeleted(post_id=deleted.id, author_id=deleted.author_id)
        self._publisher.event([channels.posts(user.id)], event, deleted.deleted_pos)

    # --- follows ------------------------------------------------------------------------------

    async def follow(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if not await self._store.follow(user.id, target.id, self._now()):
            raise ProtocolError(ErrorCode.ALREADY_FOLLOWING)
        # Every device of the user subscribes, and backfills what the author posts from now on
        # until its subscription is in place (see Gateway.follow_live).
        since = floor_id(self._now())
        self._publisher.control(user.id, channels.Control(follow=target.id, since=since))
        event = FollowEvent(follower=present.user(user), followee=present.user(target))
        self._publisher.event([channels.user(target.id), channels.user(user.id)], event)
        return await self.profile_of(user, target)

    async def unfollow(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if not await self._store.unfollow(user.id, target.id):
            raise ProtocolError(ErrorCode.NOT_FOLLOWING)
        self._publisher.control(user.id, channels.Control(unfollow=target.id))
        event = UnfollowEvent(follower=present.user(user), followee=present.user(target))
        self._publisher.event([channels.user(user.id)], event)
        return await self.profile_of(user, target)

    async def _target(self, user: UserRecord, target_id: str) -> UserRecord:
        if target_id == user.id:
            raise ProtocolError(ErrorCode.CANNOT_FOLLOW_SELF, path="$.user_id")
        target = await self._store.get_user(target_id)
        if target is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        return target

    # --- reading ------------------------------------------------------------------------------

    async def followee_ids(self, user_id: str) -> list[str]:
        return await self._store.followee_ids(user_id)

    async def profile(self, viewer: UserRecord, handle: str) -> Profile:
        record = await self._store.get_user_by_handle(handle)
        if record is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.handle")
        return await self.profile_of(viewer, record)

    async def profile_of(self, viewer: UserRecord, record: UserRecord) -> Profile:
        counts = await self._store.follow_counts(record.id)
        state = (False, False)
        if viewer.id != record.id:
            state = await self._store.follow_state(viewer.id, record.id)
        return present.profile(record, counts=counts, state=state)

    async def timeline(self, user: UserRecord, before: str | None, limit: int) -> TimelinePage:
        records = await self._store.following_timeline(user.id, before=before, limit=limit)
        posts = await self._present_posts(records)
        return TimelinePage(posts=posts, next=records[-1].id if len(records) == limit else None)

    async def _present_posts(self, records: list[PostRecord]) -> list[Post]:
        authors = await self._store.get_users([r.author_id for r in records])
        return [present.post(r, authors[r.author_id]) for r in records if r.author_id in authors]

    async def following_backlog(self, user_id: str, after: str, limit: int) -> Backlog:
        """Everything on the user's following stream after ``after``, as the live events were."""
        items = await self._store.following_stream_after(user_id, after=after, limit=limit + 1)
        if len(items) > limit:
            return Backlog(recovered=False, tails=[], positions=[])
        authors = await self._store.get_users([item.post.author_id for item in items])
        tails = [self._stream_tail(item, authors) for item in items]
        return Backlog(recovered=True, tails=tails, positions=[item.pos for item in items])

    async def author_backlog(self, author_id: str, after: str, limit: int) -> Backlog:
        """One author's standing posts after ``after``, as the live events were."""
        records = await self._store.posts_by_author_after(author_id, after=after, limit=limit)
        author = await self._store.get_user(author_id)
        if author is None:
            return Backlog(recovered=True, tails=[], positions=[])
        items = [StreamItem(record.id, record, False) for record in records]
        tails = [self._stream_tail(item, {author_id: author}) for item in items]
        return Backlog(recovered=True, tails=tails, positions=[record.id for record in records])

    @staticmethod
    def _stream_tail(item: StreamItem, authors: dict[str, UserRecord]) -> bytes:
        post = item.post
        if item.deleted:
            return event_tail(PostDeleted(post_id=post.id, author_id=post.author_id), item.pos)
        return event_tail(PostCreated(post=present.post(post, authors[post.author_id])), item.pos)
