"""The first-run guide (PROTOCOL.md 4.12): who invited the newcomer, people and communities
drawn from their own circle, and nothing else.

The circle is small and named: the people the inviter follows, the members of the user's
communities, the communities carrying the user's profile interests and the inviter's
communities. A candidate is ranked by how many of those ties it shares with the user, never by
how many followers or members it has across the server: the guide must not become a list of
popular strangers. Every read is bounded by the constants below, whatever the size of the
server, and nothing is written: being suggested, or looking at suggestions, leaves no trace.
"""

from __future__ import annotations

from typing import Protocol

from protocol.messages import Onboarding, SuggestedCommunity, SuggestedUser

from ..store.base import AccountStorage, CommunityRecord, CommunityStorage, RelationStorage, UserRecord
from . import present

#: The inviter's most recent follows looked at: their current circle, not their whole history.
INVITER_FOLLOWS = 200
#: The user's communities (first joined) whose members are looked at.
OWN_COMMUNITIES = 20
#: Members looked at per community, in joining order (its owner and earliest members first).
MEMBERS_PER_COMMUNITY = 100
#: Communities looked at per profile interest, and of the inviter's (first joined).
COMMUNITIES_PER_INTEREST = 20
INVITER_COMMUNITIES = 50


class OnboardingPorts(AccountStorage, RelationStorage, CommunityStorage, Protocol):
    """The storage the guide reads: users, follows and hidden people, communities and members."""


class Guide:
    def __init__(self, store: OnboardingPorts) -> None:
        self._store = store

    async def get(self, viewer: UserRecord, limit: int) -> Onboarding:
        """The guide for ``viewer``: the inviter (null for an operator's invite or someone
        hidden either way), up to ``limit`` people and ``limit`` communities, most ties first."""
        # The connection's record may predate a profile.update of the interests: read it anew.
        viewer = await self._store.get_user(viewer.id) or viewer
        hidden = await self._store.hidden_ids(viewer.id)
        inviter = None
        if viewer.invited_by and viewer.invited_by not in hidden:
            inviter = await self._store.get_user(viewer.invited_by)
        following_inviter = inviter_follows_you = False
        if inviter:
            following_inviter, inviter_follows_you = await self._store.follow_state(viewer.id, inviter.id)
        memberships = await self._store.memberships_of(viewer.id)
        mine = {m.community_id for m in memberships}
        people = await self._people(viewer, inviter, hidden, [m.community_id for m in memberships], limit)
        communities = await self._communities(viewer, inviter, mine, limit)
        return Onboarding(
            inviter=present.user(inviter) if inviter else None,
            following_inviter=following_inviter,
            inviter_follows_you=inviter_follows_you,
            people=people,
            communities=communities,
        )

    async def _people(
        self,
        viewer: UserRecord,
        inviter: UserRecord | None,
        hidden: set[str],
        community_ids: list[str],
        limit: int,
    ) -> list[SuggestedUser]:
        # Ties per candidate; insertion order (the inviter's most recent follows, then members
        # in joining order) breaks equal ties, so no popularity enters the order.
        followed_by_inviter: set[str] = set()
        shared: dict[str, int] = {}
        if inviter:
            edges = await self._store.following_page(inviter.id, before=None, limit=INVITER_FOLLOWS)
            for edge in edges:
                followed_by_inviter.add(edge.user_id)
                shared.setdefault(edge.user_id, 0)
        for community_id in community_ids[:OWN_COMMUNITIES]:
            for member in await self._store.members(community_id, after=None, limit=MEMBERS_PER_COMMUNITY):
                shared[member.user_id] = shared.get(member.user_id, 0) + 1
        excluded = hidden | set(await self._store.followee_ids(viewer.id)) | {viewer.id}
        if inviter:
            excluded.add(inviter.id)
        order = {user_id: i for i, user_id in enumerate(shared)}
        ranked = sorted(
            (user_id for user_id in shared if user_id not in excluded),
            key=lambda user_id: (-(shared[user_id] + (user_id in followed_by_inviter)), order[user_id]),
        )[:limit]
        users = await self._store.get_users(ranked)
        return [
            SuggestedUser(
                user=present.user(users[user_id]),
                inviter_follows=user_id in followed_by_inviter,
                shared_communities=shared[user_id],
            )
            for user_id in ranked
            if user_id in users
        ]

    async def _communities(
        self, viewer: UserRecord, inviter: UserRecord | None, mine: set[str], limit: int
    ) -> list[SuggestedCommunity]:
        found: dict[str, CommunityRecord] = {}
        interests: dict[str, list[str]] = {}
        for interest in viewer.interests:
            records = await self._store.search_communities(
                query="", tag=interest, offset=0, limit=COMMUNITIES_PER_INTEREST
            )
            for record in records:
                found.setdefault(record.id, record)
                interests.setdefault(record.id, []).append(interest)
        inviter_member: set[str] = set()
        if inviter:
            for membership in await self._store.memberships_page(
                inviter.id, after=None, limit=INVITER_COMMUNITIES
            ):
                inviter_member.add(membership.community_id)
            missing = [c for c in inviter_member if c not in found]
            found.update(await self._store.get_communities(missing))
        order = {community_id: i for i, community_id in enumerate(found)}
        ranked = sorted(
            (c for c in found if c not in mine),
            key=lambda c: (-(len(interests.get(c, ())) + (c in inviter_member)), order[c]),
        )
        owners = await self._store.get_users(list({found[c].owner_id for c in ranked[: limit * 2]}))
        suggestions: list[SuggestedCommunity] = []
        for community_id in ranked:
            if len(suggestions) == limit:
                break
            record = found[community_id]
            owner = owners.get(record.owner_id) or await self._store.get_user(record.owner_id)
            # A community that banned the user is no suggestion; one whose owner is gone is not
            # shown anywhere.
            if owner is None or await self._store.is_banned(community_id, viewer.id):
                continue
            pending = record.approval_required and await self._store.has_join_request(community_id, viewer.id)
            suggestions.append(
                SuggestedCommunity(
                    community=present.community(record, owner, role=None, request_pending=pending),
                    interests=interests.get(community_id, []),
                    inviter_member=community_id in inviter_member,
                )
            )
        return suggestions
