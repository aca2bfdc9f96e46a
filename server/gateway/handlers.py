"""The table of request handlers: one entry per op, each a thin call into the domain.

A handler receives the connection's :class:`Context` and the decoded frame, and returns the
result struct the protocol names for that op (``protocol.messages.RESULT_TYPES``); refusals are
``ProtocolError``\\s raised by the domain. ``Gateway`` checks at start-up that every op has one.

See ``docs/adding.md`` for everything a new op touches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol import messages as m

from ..domain import Domain
from ..store.base import UserRecord
from .connection import Connection


@dataclass
class Context:
    """What a request handler knows about the connection it serves."""

    conn: Connection
    user: UserRecord


Handler = Callable[[Context, Any], Awaitable[msgspec.Struct]]


def handlers(d: Domain, heartbeat: Handler) -> dict[type[m.Request], Handler]:
    social, communities, direct, notices, relations = (
        d.social,
        d.communities,
        d.direct,
        d.notices,
        d.relations,
    )

    async def post_create(c: Context, f: m.PostCreate) -> m.PostResult:
        post = await social.create_post(
            c.user,
            f.text,
            f.emotext,
            f.reply_to,
            quote_of=f.quote_of,
            community_id=f.community_id,
            nonce=f.nonce,
        )
        return m.PostResult(post=post)

    async def post_delete(c: Context, f: m.PostDelete) -> m.PostDeleteResult:
        await social.delete_post(c.user, f.post_id)
        return m.PostDeleteResult(post_id=f.post_id)

    async def post_repost(c: Context, f: m.PostRepost) -> m.PostResult:
        return m.PostResult(post=await social.repost(c.user, f.post_id))

    async def post_get(c: Context, f: m.PostGet) -> m.PostResult:
        return m.PostResult(post=await social.get(c.user, f.post_id))

    async def follow(c: Context, f: m.Follow) -> m.ProfileResult:
        return m.ProfileResult(user=await social.follow(c.user, f.user_id))

    async def unfollow(c: Context, f: m.Unfollow) -> m.ProfileResult:
        return m.ProfileResult(user=await social.unfollow(c.user, f.user_id))

    async def user_get(c: Context, f: m.UserGet) -> m.ProfileResult:
        return m.ProfileResult(user=await social.profile(c.user, f.handle))

    async def invite_create(c: Context, f: m.InviteCreate) -> m.InviteResult:
        return m.InviteResult(invite=await d.accounts.create_invite(c.user))

    async def invite_list(c: Context, f: m.InviteList) -> m.InviteListResult:
        return m.InviteListResult(invites=await d.accounts.list_invites(c.user))

    async def announce(c: Context, f: m.CommunityAnnounce) -> m.PostResult:
        return m.PostResult(post=await communities.announce(c.user, f.community_id, f.text, f.emotext))

    async def block_add(c: Context, f: m.BlockAdd) -> m.ProfileResult:
        return m.ProfileResult(user=await relations.block(c.user, f.user_id))

    async def block_remove(c: Context, f: m.BlockRemove) -> m.ProfileResult:
        return m.ProfileResult(user=await relations.unblock(c.user, f.user_id))

    async def mute_add(c: Context, f: m.MuteAdd) -> m.ProfileResult:
        return m.ProfileResult(user=await relations.mute(c.user, f.user_id))

    async def mute_remove(c: Context, f: m.MuteRemove) -> m.ProfileResult:
        return m.ProfileResult(user=await relations.unmute(c.user, f.user_id))

    async def presence_get(c: Context, f: m.PresenceGet) -> m.PresenceResult:
        users = await d.store.get_users(list(dict.fromkeys(f.user_ids)))
        visible = await d.presence.visible(c.user, list(users.values()))
        return m.PresenceResult(presences=[visible[i] for i in dict.fromkeys(f.user_ids) if i in visible])

    table: dict[type[m.Request], Handler] = {
        m.Heartbeat: heartbeat,
        # posts and timelines
        m.PostCreate: post_create,
        m.PostDelete: post_delete,
        m.PostRepost: post_repost,
        m.PostGet: post_get,
        m.PostThread: lambda c, f: social.thread(c.user, f.post_id, f.after, f.limit),
        m.PostReact: lambda c, f: social.react(c.user, f.post_id, f.emoji, add=True),
        m.PostUnreact: lambda c, f: social.react(c.user, f.post_id, f.emoji, add=False),
        m.TimelineFollowing: lambda c, f: social.timeline(c.user, f.before, f.limit),
        m.TimelineDiscover: lambda c, f: social.discover(c.user, f.cursor, f.limit),
        m.TimelineUser: lambda c, f: social.user_timeline(c.user, f.user_id, f.before, f.limit),
        # people
        m.Follow: follow,
        m.Unfollow: unfollow,
        m.UserGet: user_get,
        m.InviteCreate: invite_create,
        m.InviteList: invite_list,
        # communities
        m.CommunityCreate: lambda c, f: communities.create(
            c.user, f.name, f.description, f.tags, f.approval_required
        ),
        m.CommunityGet: lambda c, f: communities.get(c.user, f.community_id),
        m.CommunitySearch: lambda c, f: communities.search(c.user, f.query, f.tag, f.cursor, f.limit),
        m.CommunityMine: lambda c, f: communities.mine(c.user, f.cursor, f.limit),
        m.CommunityJoin: lambda c, f: communities.join(c.user, f.community_id),
        m.CommunityLeave: lambda c, f: communities.leave(c.user, f.community_id),
        m.CommunityRequests: lambda c, f: communities.requests(c.user, f.community_id),
        m.CommunityApprove: lambda c, f: communities.approve(c.user, f.community_id, f.user_id),
        m.CommunityDecline: lambda c, f: communities.decline(c.user, f.community_id, f.user_id),
        m.CommunityMembers: lambda c, f: communities.members(c.user, f.community_id, f.cursor, f.limit),
        m.CommunitySetRole: lambda c, f: communities.set_role(c.user, f.community_id, f.user_id, f.role),
        m.CommunityTransfer: lambda c, f: communities.transfer(c.user, f.community_id, f.user_id),
        m.CommunityBan: lambda c, f: communities.ban(c.user, f.community_id, f.user_id),
        m.CommunityUnban: lambda c, f: communities.unban(c.user, f.community_id, f.user_id),
        m.CommunityTimeline: lambda c, f: social.community_timeline(
            c.user, f.community_id, f.before, f.limit
        ),
        m.CommunityAnnounce: announce,
        # direct messages and settings
        m.DmOpen: lambda c, f: direct.open(c.user, f.user_ids, f.title),
        m.DmList: lambda c, f: direct.conversations(c.user, f.cursor, f.limit),
        m.DmGet: lambda c, f: direct.get(c.user, f.conversation_id),
        m.DmSend: lambda c, f: direct.send(c.user, f.conversation_id, f.text, f.nonce),
        m.DmHistory: lambda c, f: direct.history(c.user, f.conversation_id, f.before, f.limit),
        m.DmTyping: lambda c, f: direct.typing(c.user, f.conversation_id),
        m.DmRead: lambda c, f: direct.read(c.user, f.conversation_id, f.message_id),
        m.DmLeave: lambda c, f: direct.leave(c.user, f.conversation_id),
        m.DmAdd: lambda c, f: direct.add(c.user, f.conversation_id, f.user_ids),
        m.DmRemove: lambda c, f: direct.remove(c.user, f.conversation_id, f.user_id),
        m.SettingsGet: lambda c, f: direct.settings(c.user),
        m.SettingsUpdate: lambda c, f: direct.update_settings(c.user, f.dm_policy, f.presence_visibility),
        # notifications
        m.NotificationList: lambda c, f: notices.page(c.user, f.before, f.limit),
        m.NotificationRead: lambda c, f: notices.read(c.user, f.notification_id),
        m.NotificationReadAll: lambda c, f: notices.read_all(c.user),
        # blocks, mutes, reports
        m.BlockAdd: block_add,
        m.BlockRemove: block_remove,
        m.BlockList: lambda c, f: relations.blocked(c.user),
        m.MuteAdd: mute_add,
        m.MuteRemove: mute_remove,
        m.MuteList: lambda c, f: relations.muted(c.user),
        m.ReportCreate: lambda c, f: relations.report(c.user, f.post_id, f.user_id, f.reason),
        # presence, safety, incidents
        m.PresenceGet: presence_get,
        m.SafetySet: lambda c, f: d.safety.set(c.user, f.state, f.note, f.area, f.audience),
        m.SafetyBoard: lambda c, f: d.safety.board(c.user, f.cursor, f.limit),
        m.SafetyHistory: lambda c, f: d.safety.history(c.user, f.user_id, f.before, f.limit),
        m.IncidentStart: lambda c, f: d.incidents.start(c.user, f.title, f.area),
        m.IncidentEnd: lambda c, f: d.incidents.end(c.user),
    }
    return table
