"""Keeping people safe from one another: blocks, mutes and reports.

A block ends follows either way and hides each from the other everywhere (timelines, live
events, notifications, mentions, direct messages). A mute is one-way and silent: the muted user's
posts and doings leave the muter's timelines and notifications. Both take effect on the user's
open connections at once (control messages ``hide``/``unhide``, applied by the hub).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import RELATION_LIST_MAX, Profile, ReportResult, UserList, UserPage

from .. import channels
from ..publisher import Publisher
from ..store.base import (
    AccountStorage,
    FollowEdge,
    ModerationStorage,
    PostStorage,
    RelationStorage,
    ReportRecord,
    UserRecord,
)
from . import present, rules
from .social import Social


class RelationsPorts(AccountStorage, RelationStorage, PostStorage, ModerationStorage, Protocol):
    """The storage Relations uses: it writes blocks, mutes and reports, and reads the users and
    posts they concern."""


class Relations:
    def __init__(
        self, store: RelationsPorts, publisher: Publisher, social: Social, clock: Callable[[], int]
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._social = social
        self._now = clock

    async def block(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        outcome = await self._store.block(user.id, target.id, self._now())
        if outcome.created:
            for follower, followee in outcome.unfollowed:
                self._publisher.control(follower, channels.Control(unlisten=[channels.posts(followee)]))
            self._publisher.control(user.id, channels.Control(hide=[target.id]))
            self._publisher.control(target.id, channels.Control(hide=[user.id]))
        return await self._social.profile_of(user, target)

    async def unblock(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if await self._store.unblock(user.id, target.id):
            await self._show_again(user.id, target.id)
            await self._show_again(target.id, user.id)
        return await self._social.profile_of(user, target)

    async def mute(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if await self._store.mute(user.id, target.id, self._now()):
            self._publisher.control(user.id, channels.Control(hide=[target.id]))
        return await self._social.profile_of(user, target)

    async def unmute(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if await self._store.unmute(user.id, target.id):
            await self._show_again(user.id, target.id)
        return await self._social.profile_of(user, target)

    async def hidden(self, user_id: str) -> set[str]:
        """Users whose posts and doings ``user_id`` must not see: those they mute or block, and
        those who block them. A connection hides these from the moment it is set up."""
        return await self._store.hidden_ids(user_id)

    async def _show_again(self, user_id: str, other_id: str) -> None:
        """Unhide ``other_id`` for ``user_id`` unless another mute or block still hides them."""
        if other_id not in await self.hidden(user_id):
            self._publisher.control(user_id, channels.Control(unhide=[other_id]))

    async def blocked(self, user: UserRecord) -> UserList:
        return await self._users(await self._store.blocked_ids(user.id))

    async def muted(self, user: UserRecord) -> UserList:
        return await self._users(await self._store.muted_ids(user.id))

    async def followers(self, viewer: UserRecord, user_id: str, cursor: str | None, limit: int) -> UserPage:
        """Who follows ``user_id``, most recent follow first (``user.followers``)."""
        before = await self._list_start(viewer, user_id, cursor)
        edges = await self._store.followers_page(user_id, before=before, limit=limit)
        return await self._page(viewer, edges, limit)

    async def following(self, viewer: UserRecord, user_id: str, cursor: str | None, limit: int) -> UserPage:
        """Whom ``user_id`` follows, most recent follow first (``user.following``)."""
        before = await self._list_start(viewer, user_id, cursor)
        edges = await self._store.following_page(user_id, before=before, limit=limit)
        return await self._page(viewer, edges, limit)

    async def _list_start(
        self, viewer: UserRecord, user_id: str, cursor: str | None
    ) -> tuple[int, str] | None:
        """A block either way answers ``not_found``, as ``timeline.user`` does: the lists of
        someone you block, or who blocks you, are not yours to read."""
        before = rules.edge_position(cursor)
        if await self._store.get_user(user_id) is None or await self._store.blocks_between(
            viewer.id, user_id
        ):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        return before

    async def _page(self, viewer: UserRecord, edges: list[FollowEdge], limit: int) -> UserPage:
        """The users of a page of edges, without those the viewer hides (mutes, blocks either
        way): a page may be shorter than ``limit`` and still have a ``next``."""
        hidden = await self._store.hidden_ids(viewer.id)
        users = await self._store.get_users([e.user_id for e in edges if e.user_id not in hidden])
        listed = [present.user(users[e.user_id]) for e in edges if e.user_id in users]
        last = edges[-1] if len(edges) == limit else None
        return UserPage(users=listed, next=rules.edge_cursor(last.created_ms, last.user_id) if last else None)

    async def report(
        self,
        user: UserRecord,
        post_id: str | None,
        user_id: str | None,
        reason: str | None,
        category: str | None = None,
    ) -> ReportResult:
        if (post_id is None) == (user_id is None):
            raise ProtocolError(
                ErrorCode.INVALID_FRAME, "name exactly one of post_id and user_id", path="$.post_id"
            )
        note = (reason or "").strip()
        if not note and category is None:
            raise ProtocolError(ErrorCode.INVALID_FRAME, "give a category, a reason or both", path="$.reason")
        if post_id is not None:
            # A post the reporter cannot read answers exactly as a made-up id does: otherwise
            # report.create would tell anyone which ids name posts hidden from them.
            await self._social.visible_post(user, post_id)
        if user_id is not None and await self._store.get_user(user_id) is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        record = await self._store.create_report(
            reporter_id=user.id,
            post_id=post_id,
            user_id=user_id,
            reason=note,
            now_ms=self._now(),
            category=category,
        )
        return ReportResult(report_id=record.id)

    async def reports(
        self, *, open_only: bool, limit: int
    ) -> list[tuple[ReportRecord, UserRecord | None, UserRecord | None]]:
        """For operators (``tsudoi admin reports``): the newest reports, each with its reporter
        and the user it is about (None: a post's report, or an account since gone)."""
        found = await self._store.reports(open_only=open_only, limit=limit)
        ids = {r.reporter_id for r in found} | {r.user_id for r in found if r.user_id}
        users = await self._store.get_users(sorted(ids))
        return [(r, users.get(r.reporter_id), users.get(r.user_id) if r.user_id else None) for r in found]

    async def resolve_report(self, report_id: str) -> bool:
        """Mark an open report resolved; False if there is no such open report."""
        return await self._store.resolve_report(report_id, self._now())

    async def _target(self, user: UserRecord, target_id: str) -> UserRecord:
        if target_id == user.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "not yourself", path="$.user_id")
        target = await self._store.get_user(target_id)
        if target is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        return target

    async def _users(self, ids: list[str]) -> UserList:
        ids = ids[:RELATION_LIST_MAX]
        users = await self._store.get_users(ids)
        return UserList(users=[present.user(users[i]) for i in ids if i in users])
