"""Communities: where people gather around a place or an interest.

Roles: the owner (one), moderators and members. Moderators (the owner included) decide join
requests, remove posts (``post.delete``) and ban; only the owner names moderators, bans them and
hands the community on. Operators certify official communities (``tsudoi admin certify``), whose
staff post announcements that notify every member.

A member's connections listen to the community's channel: joining and leaving steer them with
control messages, as following does (see ``Gateway.listen_live``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from protocol.codec import format_timestamp
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    Community,
    CommunityCertifiedEvent,
    CommunityJoinRequestEvent,
    CommunityMembershipEvent,
    CommunityPage,
    CommunityResult,
    Done,
    JoinRequestList,
    MediaAttachment,
    Member,
    MemberPage,
    MemberResult,
    Post,
)
from protocol.text import Emotext

from .. import channels
from ..ids import floor_id
from ..publisher import Publisher
from ..store.base import (
    AccountStorage,
    CommunityRecord,
    CommunityStorage,
    MembershipRecord,
    NewNotification,
    UserRecord,
)
from . import present, rules
from .notices import Notices
from .social import Social

STAFF = ("owner", "moderator")
REQUESTS_PAGE = 100


class CommunitiesPorts(AccountStorage, CommunityStorage, Protocol):
    """The storage Communities uses: it writes communities and memberships, and reads the users they
    concern."""


class Communities:
    def __init__(
        self,
        store: CommunitiesPorts,
        publisher: Publisher,
        notices: Notices,
        social: Social,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._notices = notices
        self._social = social
        self._now = clock

    # --- operators ------------------------------------------------------------------------------

    async def certify(self, community_id: str, certified: bool) -> CommunityRecord | None:
        """Certify the community (its staff may then announce) or withdraw the certification;
        None if there is no such community. Every member's open connections are told at once
        (``community.certified`` on the community's channel)."""
        if not await self._store.set_certified(community_id, certified):
            return None
        event = CommunityCertifiedEvent(community_id=community_id, certified=certified)
        self._publisher.event([channels.community(community_id)], event)
        return await self._store.get_community(community_id)

    # --- reading --------------------------------------------------------------------------------

    async def get(self, viewer: UserRecord, community_id: str) -> CommunityResult:
        return CommunityResult(community=await self._present(viewer.id, await self._find(community_id)))

    async def search(
        self, viewer: UserRecord, query: str, tag: str | None, cursor: str | None, limit: int
    ) -> CommunityPage:
        offset = rules.page_offset(cursor)
        records = await self._store.search_communities(
            query=query.strip(), tag=rules.tag(tag) if tag else None, offset=offset, limit=limit + 1
        )
        page = [await self._present(viewer.id, record) for record in records[:limit]]
        return CommunityPage(
            communities=page, next=rules.page_cursor(offset + limit) if len(records) > limit else None
        )

    async def mine(self, viewer: UserRecord, cursor: str | None, limit: int) -> CommunityPage:
        """The viewer's communities in the order they joined, with their role; the cursor is
        the last membership's id. A fixed number of reads per page, whatever its length."""
        records = await self._store.memberships_page(viewer.id, after=cursor, limit=limit)
        found = await self._store.get_communities([r.community_id for r in records])
        owners = await self._store.get_users(list({c.owner_id for c in found.values()}))
        page = []
        for record in records:
            community = found.get(record.community_id)
            owner = owners.get(community.owner_id) if community else None
            if community and owner:  # always, as communities and users are never deleted
                page.append(present.community(community, owner, role=record.role, request_pending=False))
        return CommunityPage(communities=page, next=records[-1].id if len(records) == limit else None)

    async def members(
        self, viewer: UserRecord, community_id: str, cursor: str | None, limit: int
    ) -> MemberPage:
        community = await self._find(community_id)
        if community.approval_required and await self._store.membership(community.id, viewer.id) is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only members see who is in this community")
        records = await self._store.members(community.id, after=cursor, limit=limit)
        users = await self._store.get_users([r.user_id for r in records])
        members = [present.member(r, users[r.user_id]) for r in records if r.user_id in users]
        return MemberPage(members=members, next=records[-1].id if len(records) == limit else None)

    async def requests(self, viewer: UserRecord, community_id: str) -> JoinRequestList:
        community = await self._find(community_id)
        await self._require_staff(viewer.id, community)
        records = await self._store.join_requests(community.id, limit=REQUESTS_PAGE)
        users = await self._store.get_users([r.user_id for r in records])
        return JoinRequestList(
            requests=[present.join_request(r, users[r.user_id]) for r in records if r.user_id in users]
        )

    # --- joining and leaving -----------------------------------------------------------------

    async def create(
        self, owner: UserRecord, name: str, description: str, tags: list[str], approval_required: bool
    ) -> CommunityResult:
        record = await self._store.create_community(
            owner_id=owner.id,
            name=rules.community_name(name),
            description=rules.community_description(description),
            tags=rules.tags(tags),
            approval_required=approval_required,
            now_ms=self._now(),
        )
        community = await self._present(owner.id, record)
        self._listen(owner.id, record.id)
        self._tell(owner.id, community, "joined")
        return CommunityResult(community=community)

    async def join(self, user: UserRecord, community_id: str) -> CommunityResult:
        community = await self._find(community_id)
        if await self._store.membership(community.id, user.id) is not None:
            raise ProtocolError(ErrorCode.ALREADY_MEMBER)
        if await self._store.is_banned(community.id, user.id):
            raise ProtocolError(ErrorCode.BANNED)
        if community.approval_required:
            now = self._now()
            if not await self._store.add_join_request(community.id, user.id, now):
                raise ProtocolError(ErrorCode.REQUEST_PENDING)
            staff = await self._store.member_ids(community.id, roles=STAFF)
            self._requests_changed(staff, community.id, user, "requested", requested_ms=now)
            await self._notices.notify(
                [
                    NewNotification(s, "join_request", actor_id=user.id, community_id=community.id)
                    for s in staff
                ]
            )
            presented = await self._present(user.id, community)
            self._tell(user.id, presented, "requested")
            return CommunityResult(community=presented)
        if await self._store.add_member(community.id, user.id, role="member", now_ms=self._now()) is None:
            raise ProtocolError(ErrorCode.ALREADY_MEMBER)
        return CommunityResult(community=await self._joined(user.id, community.id, "joined"))

    async def leave(self, user: UserRecord, community_id: str) -> CommunityResult:
        community = await self._find(community_id)
        membership = await self._store.membership(community.id, user.id)
        if membership is None:
            if not await self._store.remove_join_request(community.id, user.id):
                raise ProtocolError(ErrorCode.NOT_MEMBER)
            await self._tell_staff(community.id, user.id, "withdrawn")
        else:
            if membership.role == "owner":
                raise ProtocolError(ErrorCode.OWNER_MUST_TRANSFER)
            await self._store.remove_member(community.id, user.id)
            self._unlisten(user.id, community.id)
        presented = await self._present(user.id, await self._find(community_id))
        self._tell(user.id, presented, "left")
        return CommunityResult(community=presented)

    async def abandon(self, owner: UserRecord, community_id: str) -> None:
        """The owner of a community with no other member leaves it, on deleting their account
        (server/domain/farewell.py): it is left empty and without owner."""
        community = await self._find(community_id)
        await self._require_owner(owner.id, community)
        await self._store.remove_member(community.id, owner.id)
        self._unlisten(owner.id, community.id)

    async def approve(self, staff: UserRecord, community_id: str, user_id: str) -> MemberResult:
        community = await self._find(community_id)
        await self._require_staff(staff.id, community)
        if not await self._store.has_join_request(community.id, user_id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such join request", path="$.user_id")
        membership = await self._store.add_member(community.id, user_id, role="member", now_ms=self._now())
        if membership is None:
            raise ProtocolError(ErrorCode.ALREADY_MEMBER)
        await self._tell_staff(community.id, user_id, "approved")
        await self._joined(user_id, community.id, "approved")
        await self._notices.notify(
            [NewNotification(user_id, "join_approved", actor_id=staff.id, community_id=community.id)],
            check_hidden=False,
        )
        return MemberResult(member=await self._member(membership))

    async def decline(self, staff: UserRecord, community_id: str, user_id: str) -> Done:
        community = await self._find(community_id)
        await self._require_staff(staff.id, community)
        if not await self._store.remove_join_request(community.id, user_id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such join request", path="$.user_id")
        await self._tell_staff(community.id, user_id, "declined")
        self._tell(user_id, await self._present(user_id, community), "declined")
        return Done()

    # --- roles and bans ----------------------------------------------------------------------

    async def set_role(self, owner: UserRecord, community_id: str, user_id: str, role: str) -> MemberResult:
        community = await self._find(community_id)
        await self._require_owner(owner.id, community)
        target = await self._store.membership(community.id, user_id)
        if target is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, path="$.user_id")
        if target.role == "owner":
            raise ProtocolError(ErrorCode.OWNER_MUST_TRANSFER)
        await self._store.set_role(community.id, user_id, role)
        self._tell(user_id, await self._present(user_id, community), "role")
        updated = await self._store.membership(community.id, user_id)
        return MemberResult(member=await self._member(updated or target))

    async def transfer(self, owner: UserRecord, community_id: str, user_id: str) -> CommunityResult:
        community = await self._find(community_id)
        await self._require_owner(owner.id, community)
        if await self._store.membership(community.id, user_id) is None:
            raise ProtocolError(ErrorCode.NOT_MEMBER, path="$.user_id")
        if not await self._store.transfer_ownership(community.id, owner.id, user_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "ownership changed meanwhile")
        community = await self._find(community_id)
        self._tell(user_id, await self._present(user_id, community), "transferred")
        presented = await self._present(owner.id, community)
        self._tell(owner.id, presented, "transferred")
        return CommunityResult(community=presented)

    async def ban(self, staff: UserRecord, community_id: str, user_id: str) -> Done:
        community = await self._find(community_id)
        actor = await self._require_staff(staff.id, community)
        if user_id == staff.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you cannot ban yourself", path="$.user_id")
        if await self._store.get_user(user_id) is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        target = await self._store.membership(community.id, user_id)
        if target is not None and target.role == "owner":
            raise ProtocolError(ErrorCode.OWNER_MUST_TRANSFER)
        if target is not None and target.role == "moderator" and actor.role != "owner":
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the owner bans a moderator")
        requested = target is None and await self._store.has_join_request(community.id, user_id)
        if await self._store.ban(community.id, user_id, by=staff.id, now_ms=self._now()):
            if requested:  # the ban dropped the request
                await self._tell_staff(community.id, user_id, "banned")
            self._unlisten(user_id, community.id)
            self._tell(user_id, await self._present(user_id, await self._find(community_id)), "banned")
        return Done()

    async def unban(self, staff: UserRecord, community_id: str, user_id: str) -> Done:
        community = await self._find(community_id)
        await self._require_staff(staff.id, community)
        if not await self._store.unban(community.id, user_id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "that user is not banned", path="$.user_id")
        self._tell(user_id, await self._present(user_id, community), "unbanned")
        return Done()

    # --- announcements -----------------------------------------------------------------------

    async def announce(
        self,
        staff: UserRecord,
        community_id: str,
        text: str,
        emotext: Emotext | None,
        media: Sequence[MediaAttachment] = (),
    ) -> Post:
        community = await self._find(community_id)
        await self._require_staff(staff.id, community)
        if not community.certified:
            raise ProtocolError(ErrorCode.NOT_CERTIFIED)
        # Members chose to be in a certified community: its announcements reach each of them
        # as a notification (stored and published once for all: Social.create_post), which
        # muting a moderator does not hide.
        return await self._social.create_post(
            staff, text, emotext, None, community_id=community.id, announcement=True, media=media
        )

    # --- helpers ------------------------------------------------------------------------------

    async def _find(self, community_id: str) -> CommunityRecord:
        record = await self._store.get_community(community_id)
        if record is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such community", path="$.community_id")
        return record

    async def _require_staff(self, user_id: str, community: CommunityRecord) -> MembershipRecord:
        membership = await self._store.membership(community.id, user_id)
        if membership is None or membership.role not in STAFF:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the community's moderators may do this")
        return membership

    async def _require_owner(self, user_id: str, community: CommunityRecord) -> None:
        if community.owner_id != user_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the community's owner may do this")

    async def _present(self, viewer_id: str, record: CommunityRecord) -> Community:
        owner = await self._store.get_user(record.owner_id)
        if owner is None:  # pragma: no cover - users are never deleted
            raise ProtocolError(ErrorCode.INTERNAL)
        membership = await self._store.membership(record.id, viewer_id)
        pending = membership is None and await self._store.has_join_request(record.id, viewer_id)
        return present.community(
            record, owner, role=membership.role if membership else None, request_pending=pending
        )

    async def _member(self, record: MembershipRecord) -> Member:
        user = await self._store.get_user(record.user_id)
        if user is None:  # pragma: no cover - users are never deleted
            raise ProtocolError(ErrorCode.INTERNAL)
        return present.member(record, user)

    async def _joined(self, user_id: str, community_id: str, change: str) -> Community:
        self._listen(user_id, community_id)
        presented = await self._present(user_id, await self._find(community_id))
        self._tell(user_id, presented, change)
        return presented

    def _listen(self, user_id: str, community_id: str) -> None:
        since = floor_id(self._now())
        self._publisher.control(
            user_id, channels.Control(listen=channels.community(community_id), since=since)
        )

    def _unlisten(self, user_id: str, community_id: str) -> None:
        self._publisher.control(user_id, channels.Control(unlisten=[channels.community(community_id)]))

    async def _tell_staff(self, community_id: str, user_id: str, change: str) -> None:
        """A join request is no longer open: every staff member's list drops it."""
        who = await self._store.get_user(user_id)
        if who is not None:
            staff = await self._store.member_ids(community_id, roles=STAFF)
            self._requests_changed(staff, community_id, who, change, requested_ms=None)

    def _requests_changed(
        self, staff: list[str], community_id: str, who: UserRecord, change: str, *, requested_ms: int | None
    ) -> None:
        """``community.join_request`` to the connections of the community's owner and
        moderators, so their open-requests lists stay true without a reload. Not filtered by
        hiding: ``community.requests`` lists everyone who asks, hidden or not."""
        event = CommunityJoinRequestEvent(
            community_id=community_id,
            user=present.user(who),
            change=change,  # type: ignore[arg-type]  # one of the five, named by the callers
            requested_at=format_timestamp(requested_ms) if requested_ms is not None else None,
        )
        self._publisher.event([channels.user(s) for s in staff], event)

    def _tell(self, user_id: str, community: Community, change: str) -> None:
        event = CommunityMembershipEvent(community=community, change=change)  # type: ignore[arg-type]
        self._publisher.event([channels.user(user_id)], event)
