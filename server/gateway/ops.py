"""The table of ops: each request type declared once, with its handler and its policy.

Like Starlette's ``routes``, :data:`OPS` is a flat list the gateway reads at start-up; an
:class:`Op` says everything the server decides about one request type:

- ``handler``: a thin call into the domain. It receives the connection's :class:`Context` and the
  decoded frame, and returns the result struct the protocol names for that op
  (``protocol.messages.RESULT_TYPES``); refusals are ``ProtocolError``\\s raised by the domain.
- ``bucket``: the per-user rate bucket it draws on, if any (PROTOCOL.md section 8.3), with the
  message of its ``rate_limited`` error (``too_fast``).
- ``shed``: answered ``shed`` while an incident is active (PROTOCOL.md section 8.5).
- ``activity``: whether it counts as the user doing something.

Which ops exist, their frames and their results are the protocol's (``protocol.messages``);
:func:`index`, called by the gateway at start-up, checks that every request type there has
exactly one entry here. PROTOCOL.md's rate-limit table and its disaster-mode section are checked
against this table (``tests/test_protocol_doc.py``).

See ``docs/adding.md`` for everything a new op touches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import msgspec

from protocol import messages as m
from protocol.codec import format_timestamp
from protocol.errors import ErrorCode, ProtocolError

from .. import channels
from ..domain import rules
from ..store.base import UserRecord
from .connection import Connection
from .hub import Hub

if TYPE_CHECKING:
    from ..domain import Domain


@dataclass(slots=True)
class Context:
    """What a request handler knows: the connection it serves, its user as stored at the last
    request that counts as activity, the domain services and the clock."""

    conn: Connection
    user: UserRecord
    domain: Domain
    clock: Callable[[], int]
    #: The node's hub: ops that change what this connection listens to (``timeline.tag``).
    hub: Hub | None = None
    #: The hashtags this connection watches live, the longest watched first (at most
    #: :data:`MAX_WATCHED_TAGS`).
    watching: list[str] = field(default_factory=list)


#: The hashtags one connection watches at once: a screen or two of them. Watching one more
#: stops watching the one watched longest, so a client that forgets to unwatch as it moves
#: between tags is never refused.
MAX_WATCHED_TAGS = 10


#: The per-user rate buckets (``limits.post_*`` and ``limits.message_*``; ``limits.bot_*`` for bots).
Bucket = Literal["post", "message"]
R = TypeVar("R", bound=m.Request)


@dataclass(frozen=True, slots=True)
class Op(Generic[R]):
    """One request type and everything the server decides about it (see the module docstring)."""

    request: type[R]
    handler: Callable[[Context, R], Awaitable[msgspec.Struct]]
    #: The rate bucket the op draws on, per user; ``too_fast`` is the message when it is empty.
    bucket: Bucket | None = None
    too_fast: str | None = None
    #: Refused with ``shed`` during an incident: non-essential work, left out in a disaster.
    shed: bool = False
    #: The user doing something: it marks them active for presence, and the handler sees the
    #: user as stored now (operators verify people, users change settings, while connected).
    #: Only the heartbeat is not: it proves the connection, not the person, and reads nothing.
    activity: bool = True

    def __post_init__(self) -> None:
        if (self.bucket is None) != (self.too_fast is None):
            raise TypeError(f"{self.request.__name__}: a bucket and its too_fast message go together")

    @property
    def name(self) -> str:
        return m.op_of(self.request)


def index(ops: Iterable[Op[Any]]) -> dict[type[m.Request], Op[Any]]:
    """The table by request type. Raises ``TypeError`` unless every request type of the protocol
    has exactly one entry, and nothing else has one."""
    table: dict[type[m.Request], Op[Any]] = {}
    for op in ops:
        if op.request in table:
            raise TypeError(f"two entries for {op.request.__name__}")
        table[op.request] = op
    missing = set(m.REQUEST_TYPES) - set(table)
    if missing:
        raise TypeError(f"no entry for {sorted(t.__name__ for t in missing)}")
    unknown = set(table) - set(m.REQUEST_TYPES)
    if unknown:
        raise TypeError(f"entries for requests the protocol lacks: {sorted(t.__name__ for t in unknown)}")
    return table


# --- handlers that do more than one call ------------------------------------------------------


async def heartbeat(c: Context, f: m.Heartbeat) -> m.HeartbeatResult:
    return m.HeartbeatResult(server_time=format_timestamp(c.clock()))


async def post_create(c: Context, f: m.PostCreate) -> m.PostResult:
    post = await c.domain.social.create_post(
        c.user,
        f.text,
        f.emotext,
        f.reply_to,
        quote_of=f.quote_of,
        community_id=f.community_id,
        nonce=f.nonce,
        media=f.media,
    )
    return m.PostResult(post=post)


async def post_delete(c: Context, f: m.PostDelete) -> m.PostDeleteResult:
    await c.domain.social.delete_post(c.user, f.post_id)
    return m.PostDeleteResult(post_id=f.post_id)


async def post_repost(c: Context, f: m.PostRepost) -> m.PostResult:
    return m.PostResult(post=await c.domain.social.repost(c.user, f.post_id))


async def post_get(c: Context, f: m.PostGet) -> m.PostResult:
    return m.PostResult(post=await c.domain.social.get(c.user, f.post_id))


async def follow(c: Context, f: m.Follow) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.social.follow(c.user, f.user_id))


async def unfollow(c: Context, f: m.Unfollow) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.social.unfollow(c.user, f.user_id))


async def user_get(c: Context, f: m.UserGet) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.social.profile(c.user, f.handle))


async def profile_update(c: Context, f: m.ProfileUpdate) -> m.ProfileResult:
    user = await c.domain.accounts.update_profile(
        c.user,
        display_name=f.display_name,
        bio=f.bio,
        avatar=f.avatar,
        remove_avatar=f.remove_avatar,
        interests=f.interests,
    )
    c.user = user
    return m.ProfileResult(user=await c.domain.social.profile(user, user.handle))


async def account_handle(c: Context, f: m.AccountHandle) -> m.ProfileResult:
    user = await c.domain.accounts.change_handle(c.user, f.handle, f.password)
    c.user = user
    return m.ProfileResult(user=await c.domain.social.profile_of(user, user))


async def invite_create(c: Context, f: m.InviteCreate) -> m.InviteResult:
    return m.InviteResult(invite=await c.domain.accounts.create_invite(c.user))


async def invite_list(c: Context, f: m.InviteList) -> m.InviteListResult:
    return m.InviteListResult(invites=await c.domain.accounts.list_invites(c.user))


async def announce(c: Context, f: m.CommunityAnnounce) -> m.PostResult:
    post = await c.domain.communities.announce(c.user, f.community_id, f.text, f.emotext, f.media)
    return m.PostResult(post=post)


async def block_add(c: Context, f: m.BlockAdd) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.relations.block(c.user, f.user_id))


async def block_remove(c: Context, f: m.BlockRemove) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.relations.unblock(c.user, f.user_id))


async def mute_add(c: Context, f: m.MuteAdd) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.relations.mute(c.user, f.user_id))


async def mute_remove(c: Context, f: m.MuteRemove) -> m.ProfileResult:
    return m.ProfileResult(user=await c.domain.relations.unmute(c.user, f.user_id))


async def presence_get(c: Context, f: m.PresenceGet) -> m.PresenceResult:
    return m.PresenceResult(presences=await c.domain.presence.visible(c.user, f.user_ids))


async def timeline_tag(c: Context, f: m.TimelineTag) -> m.TimelinePage:
    """With ``live``, subscribe first, then read the page: a post made meanwhile is in the page
    or comes as an event after the answer (section 3.1), and perhaps both."""
    tag = rules.hashtag(f.tag)
    if f.live and c.hub is not None:
        await watch_tag(c, c.hub, tag)
    return await c.domain.social.tag_timeline(c.user, tag, f.before, f.limit)


async def watch_tag(c: Context, hub: Hub, tag: str) -> None:
    """Listen to the tag's channel on this connection; past :data:`MAX_WATCHED_TAGS`, stop
    listening to the one watched longest (asking again counts as watching anew)."""
    if tag in c.watching:
        c.watching.remove(tag)
    elif len(c.watching) >= MAX_WATCHED_TAGS:
        hub.remove_channel(c.conn, channels.tag(c.watching.pop(0)))
    c.watching.append(tag)
    await hub.add_channels(c.conn, [channels.tag(tag)])


async def tag_unwatch(c: Context, f: m.TagUnwatch) -> m.Done:
    tag = rules.hashtag(f.tag)
    if tag in c.watching and c.hub is not None:
        c.watching.remove(tag)
        c.hub.remove_channel(c.conn, channels.tag(tag))
    return m.Done()


async def push_subscribe(c: Context, f: m.PushSubscribe) -> msgspec.Struct:
    """Bound to this connection's session: signing it out ends the subscription."""
    if c.conn.session_id is None:  # every authenticated connection has one; said, not assumed
        raise ProtocolError(ErrorCode.FORBIDDEN, "this connection has no session to bind pushes to")
    return await c.domain.pushes.subscribe(
        c.user, c.conn.session_id, f.endpoint, f.keys.p256dh, f.keys.auth, f.expiration_time
    )


# --- the table ---------------------------------------------------------------------------------

POSTING = "posting too fast"

#: Every op, grouped by area. Left unannotated on purpose: each entry is then typed by its own
#: request, so mypy checks every handler against the frame it receives.
OPS = (
    Op(m.Heartbeat, heartbeat, activity=False),
    # posts and timelines
    Op(m.PostCreate, post_create, bucket="post", too_fast=POSTING),
    Op(m.PostDelete, post_delete),
    Op(m.PostRepost, post_repost, bucket="post", too_fast=POSTING),
    Op(m.PostGet, post_get),
    Op(m.PostThread, lambda c, f: c.domain.social.thread(c.user, f.post_id, f.after, f.limit)),
    Op(m.PostReact, lambda c, f: c.domain.social.react(c.user, f.post_id, f.emoji, add=True)),
    Op(m.PostUnreact, lambda c, f: c.domain.social.react(c.user, f.post_id, f.emoji, add=False)),
    Op(m.TimelineFollowing, lambda c, f: c.domain.social.timeline(c.user, f.before, f.limit)),
    Op(m.TimelineDiscover, lambda c, f: c.domain.social.discover(c.user, f.cursor, f.limit), shed=True),
    Op(m.TimelineUser, lambda c, f: c.domain.social.user_timeline(c.user, f.user_id, f.before, f.limit)),
    # Never shed: during an incident a hashtag is how people follow local information.
    Op(m.TimelineTag, timeline_tag),
    Op(m.TagUnwatch, tag_unwatch),
    # people: follows, accounts, invites, settings
    Op(m.Follow, follow),
    Op(m.Unfollow, unfollow),
    Op(m.UserGet, user_get),
    Op(m.UserFollowers, lambda c, f: c.domain.relations.followers(c.user, f.user_id, f.cursor, f.limit)),
    Op(m.UserFollowing, lambda c, f: c.domain.relations.following(c.user, f.user_id, f.cursor, f.limit)),
    Op(m.ProfileUpdate, profile_update, bucket="post", too_fast="changing your profile too fast"),
    Op(m.AccountHandle, account_handle, bucket="post", too_fast="changing your profile too fast"),
    Op(m.InviteCreate, invite_create),
    Op(m.InviteList, invite_list),
    Op(m.SessionList, lambda c, f: c.domain.accounts.list_sessions(c.user, c.conn.session_id)),
    Op(
        m.SessionRevoke,
        lambda c, f: c.domain.accounts.revoke_session(c.user, f.session_id, c.conn.session_id),
    ),
    Op(m.SettingsGet, lambda c, f: c.domain.accounts.settings(c.user)),
    Op(
        m.SettingsUpdate,
        lambda c, f: c.domain.accounts.update_settings(c.user, f.dm_policy, f.presence_visibility),
    ),
    # communities
    Op(
        m.CommunityCreate,
        lambda c, f: c.domain.communities.create(c.user, f.name, f.description, f.tags, f.approval_required),
        bucket="post",
        too_fast="creating communities too fast",
    ),
    Op(m.CommunityGet, lambda c, f: c.domain.communities.get(c.user, f.community_id)),
    Op(
        m.CommunitySearch,
        lambda c, f: c.domain.communities.search(c.user, f.query, f.tag, f.cursor, f.limit),
    ),
    # search: people and posts (communities: community.search above)
    Op(m.SearchUsers, lambda c, f: c.domain.search.users(c.user, f.query, f.cursor, f.limit)),
    Op(m.SearchPosts, lambda c, f: c.domain.search.posts(c.user, f.query, f.cursor, f.limit)),
    # first run: the guide on a newcomer's empty Following (reads only)
    Op(m.OnboardingGet, lambda c, f: c.domain.guide.get(c.user, f.limit)),
    Op(m.CommunityMine, lambda c, f: c.domain.communities.mine(c.user, f.cursor, f.limit)),
    Op(m.CommunityJoin, lambda c, f: c.domain.communities.join(c.user, f.community_id)),
    Op(m.CommunityLeave, lambda c, f: c.domain.communities.leave(c.user, f.community_id)),
    Op(m.CommunityRequests, lambda c, f: c.domain.communities.requests(c.user, f.community_id)),
    Op(m.CommunityApprove, lambda c, f: c.domain.communities.approve(c.user, f.community_id, f.user_id)),
    Op(m.CommunityDecline, lambda c, f: c.domain.communities.decline(c.user, f.community_id, f.user_id)),
    Op(
        m.CommunityMembers,
        lambda c, f: c.domain.communities.members(c.user, f.community_id, f.cursor, f.limit),
    ),
    Op(
        m.CommunitySetRole,
        lambda c, f: c.domain.communities.set_role(c.user, f.community_id, f.user_id, f.role),
    ),
    Op(m.CommunityTransfer, lambda c, f: c.domain.communities.transfer(c.user, f.community_id, f.user_id)),
    Op(m.CommunityBan, lambda c, f: c.domain.communities.ban(c.user, f.community_id, f.user_id)),
    Op(m.CommunityUnban, lambda c, f: c.domain.communities.unban(c.user, f.community_id, f.user_id)),
    Op(
        m.CommunityTimeline,
        lambda c, f: c.domain.social.community_timeline(c.user, f.community_id, f.before, f.limit),
    ),
    Op(m.CommunityAnnounce, announce, bucket="post", too_fast=POSTING),
    # direct messages
    Op(
        m.DmOpen,
        lambda c, f: c.domain.conversations.open(c.user, f.user_ids, f.title),
        bucket="message",
        too_fast="opening conversations too fast",
    ),
    Op(m.DmList, lambda c, f: c.domain.conversations.conversations(c.user, f.cursor, f.limit)),
    Op(m.DmGet, lambda c, f: c.domain.conversations.get(c.user, f.conversation_id)),
    Op(
        m.DmSend,
        lambda c, f: c.domain.conversations.send(c.user, f.conversation_id, f.text, f.nonce, f.media),
        bucket="message",
        too_fast="sending messages too fast",
    ),
    Op(
        m.DmHistory, lambda c, f: c.domain.conversations.history(c.user, f.conversation_id, f.before, f.limit)
    ),
    Op(m.DmTyping, lambda c, f: c.domain.conversations.typing(c.user, f.conversation_id)),
    Op(m.DmRead, lambda c, f: c.domain.conversations.read(c.user, f.conversation_id, f.message_id)),
    Op(m.DmLeave, lambda c, f: c.domain.conversations.leave(c.user, f.conversation_id)),
    Op(m.DmAdd, lambda c, f: c.domain.conversations.add(c.user, f.conversation_id, f.user_ids)),
    Op(m.DmRemove, lambda c, f: c.domain.conversations.remove(c.user, f.conversation_id, f.user_id)),
    # notifications
    Op(m.NotificationList, lambda c, f: c.domain.notices.page(c.user, f.before, f.limit)),
    Op(m.NotificationRead, lambda c, f: c.domain.notices.read(c.user, f.notification_id)),
    Op(m.NotificationReadAll, lambda c, f: c.domain.notices.read_all(c.user)),
    # blocks, mutes, reports
    Op(m.BlockAdd, block_add),
    Op(m.BlockRemove, block_remove),
    Op(m.BlockList, lambda c, f: c.domain.relations.blocked(c.user)),
    Op(m.MuteAdd, mute_add),
    Op(m.MuteRemove, mute_remove),
    Op(m.MuteList, lambda c, f: c.domain.relations.muted(c.user)),
    Op(
        m.ReportCreate,
        lambda c, f: c.domain.relations.report(c.user, f.post_id, f.user_id, f.reason, f.category),
    ),
    # presence, safety, incidents
    Op(m.PresenceGet, presence_get),
    Op(
        m.SafetySet,
        lambda c, f: c.domain.safety.set(c.user, f.state, f.note, f.area, f.audience),
        bucket="post",
        too_fast="setting your status too fast",
    ),
    Op(m.SafetyBoard, lambda c, f: c.domain.safety.board(c.user, f.cursor, f.limit)),
    Op(m.SafetyHistory, lambda c, f: c.domain.safety.history(c.user, f.user_id, f.before, f.limit)),
    Op(m.IncidentStart, lambda c, f: c.domain.incidents.start(c.user, f.title, f.area)),
    Op(m.IncidentEnd, lambda c, f: c.domain.incidents.end(c.user)),
    # Web Push: a device's subscription and what is pushed
    Op(m.PushConfig, lambda c, f: c.domain.pushes.config(c.user)),
    Op(m.PushSubscribe, push_subscribe),
    Op(m.PushUnsubscribe, lambda c, f: c.domain.pushes.unsubscribe(c.user, f.subscription_id)),
    Op(m.PushPreferencesSet, lambda c, f: c.domain.pushes.preferences(c.user, f.kinds, f.previews)),
)
