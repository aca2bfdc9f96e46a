"""Posts, reactions, follows and the timelines (Following, a community's, Discover), live and
resumable."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from protocol import text as protocol_text
from protocol.codec import event_tail
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    DiscoverPage,
    FollowEvent,
    MediaAttachment,
    NotificationEvent,
    Post,
    PostCountsEvent,
    PostCreatedEvent,
    PostDeletedEvent,
    PostReactionsEvent,
    Profile,
    ReactionsResult,
    TagPostCreatedEvent,
    TagPostDeletedEvent,
    ThreadResult,
    TimelinePage,
    UnfollowEvent,
)
from protocol.text import Emotext

from .. import channels
from ..ids import floor_id
from ..publisher import Publisher
from ..store.base import (
    AccountStorage,
    CommunityStorage,
    MediaStorage,
    MediaUnavailable,
    NewNotification,
    NonceTaken,
    NotificationStorage,
    PostRecord,
    PostStorage,
    RelationStorage,
    StreamItem,
    Surroundings,
    UserRecord,
)
from . import present, rules
from .notices import Notices
from .pushes import Pushes
from .views import EventPresenter, Views

#: Discover looks at this many of the newest candidate posts from this far back.
DISCOVER_WINDOW_MS = 7 * 24 * 3600_000
DISCOVER_CANDIDATES = 500
#: Ranking (PROTOCOL.md, "Discover"): interest weights, and the half-life of recency in hours.
SHARED_TAG_WEIGHT = 2.0
FRIEND_REACTION_WEIGHT = 1.5
HALF_LIFE_HOURS = 12.0
THREAD_MAX_DEPTH = 50


@dataclass(frozen=True)
class Backlog:
    """What a resuming connection missed on one stream: event tails oldest first, or
    ``recovered=False`` when there is more than the bound."""

    recovered: bool
    tails: list[bytes]
    positions: list[str]
    #: Every position read, oldest first, shown or not (hidden authors and deleted posts are
    #: skipped): a page's items before skipping.
    scanned: Sequence[str] = ()

    @property
    def last(self) -> str | None:
        """The last position read: where the next page starts. None when nothing was read."""
        return self.scanned[-1] if self.scanned else None

    @property
    def read(self) -> int:
        """How many stored items were read."""
        return len(self.scanned)


NOT_RECOVERED = Backlog(recovered=False, tails=[], positions=[])


def post_channel(record: PostRecord) -> str:
    """The bus channel a post's events go to."""
    return (
        channels.community(record.community_id) if record.community_id else channels.posts(record.author_id)
    )


class SocialPorts(
    AccountStorage,
    RelationStorage,
    PostStorage,
    CommunityStorage,
    NotificationStorage,
    MediaStorage,
    Protocol,
):
    """The storage Social uses: it writes posts and reactions and follows, reads circles,
    communities and the notification stream (and is what :class:`.views.Views` reads), and
    detaches a deleted post's pictures."""


class Social:
    def __init__(
        self,
        store: SocialPorts,
        publisher: Publisher,
        notices: Notices,
        clock: Callable[[], int],
        pushes: Pushes | None = None,
    ) -> None:
        self._store = store
        self._pushes = pushes
        self._publisher = publisher
        self._notices = notices
        self._views = Views(store)
        #: Backlogs' posts, presented once for all the resumes that ask at the same time.
        self._events = EventPresenter(self._views)
        self._now = clock

    # --- posts --------------------------------------------------------------------------------

    async def create_post(
        self,
        author: UserRecord,
        text: str,
        emotext: Emotext | None,
        reply_to: str | None,
        *,
        quote_of: str | None = None,
        community_id: str | None = None,
        announcement: bool = False,
        nonce: str | None = None,
        media: Sequence[MediaAttachment] = (),
    ) -> Post:
        """Store and publish a post, with ``media`` (the author's uploads) attached. With
        ``nonce``, a retry of a post already stored (by an earlier request, or a concurrent one
        that won) answers that post, checks nothing else and publishes nothing (PROTOCOL.md
        4.3.1)."""
        if nonce is not None and (earlier := await self._store.post_by_nonce(author.id, nonce)):
            return await self._retried(author, earlier)
        text = rules.post_text(text)
        pictures = rules.attachments(media)
        hidden = await self._store.hidden_ids(author.id) if reply_to or quote_of else set()
        parent = None
        if reply_to is not None:
            parent = await self._visible(author, reply_to, hidden, "$.reply_to")
            if parent.community_id is not None:
                if community_id not in (None, parent.community_id):
                    raise ProtocolError(
                        ErrorCode.FORBIDDEN,
                        "a reply belongs to its parent's community",
                        path="$.community_id",
                    )
                community_id = parent.community_id
        quoted = embedded = None
        if quote_of is not None:
            quoted = await self._visible(author, quote_of, hidden, "$.quote_of")
            await self._shareable(quoted, "$.quote_of")
            embedded = await self._views.post(None, quoted, embedded=True)
        if community_id is not None:
            await self.check_can_post(author.id, community_id)
        # Watchers of its hashtags may be anyone: a post in a community that requires approval
        # reaches them only through its community's channel (decided before the write, so no
        # await comes between the commit and the publishes).
        tags = protocol_text.hashtags(text)
        if tags and community_id is not None:
            community = await self._store.get_community(community_id)
            if community is None or community.approval_required:
                tags = []
        announced = None
        try:
            if announcement and community_id is not None:
                announced = await self._store.create_announcement(
                    author_id=author.id,
                    community_id=community_id,
                    text=text,
                    emotext=emotext.value if emotext else None,
                    now_ms=self._now(),
                    media=pictures,
                )
                record = announced.post
            else:
                record = await self._store.create_post(
                    author_id=author.id,
                    text=text,
                    emotext=emotext.value if emotext else None,
                    reply_to=reply_to,
                    now_ms=self._now(),
                    community_id=community_id,
                    quote_of=quote_of,
                    nonce=nonce,
                    media=pictures,
                )
        except MediaUnavailable as exc:
            raise rules.media_not_found(pictures, exc.media_id) from None
        except NonceTaken:  # a concurrent request with the same nonce stored it first
            earlier = await self._store.post_by_nonce(author.id, nonce) if nonce is not None else None
            if earlier is None:
                raise
            return await self._retried(author, earlier)
        # No await between the commit above and these publishes: delivery follows commit order.
        post = present.post(record, author, quote_of=embedded)
        if announced is not None and record.community_id is not None:
            # Its notification first, on the priority lane: published once to the community, as
            # it is stored once (Storage.create_announcement). Its author is not notified, and
            # muting staff does not hide it, in storage as here.
            self._publisher.event(
                [channels.community(record.community_id)],
                NotificationEvent(notification=present.announcement(announced, author)),
                announced.notification_id,
                origin=author.id,
                by_origin_only=True,
            )
        self._publisher.event(
            [post_channel(record)], PostCreatedEvent(post=post), record.id, origin=author.id
        )
        for shared in (parent, quoted):
            if shared is not None:
                await self._publish_shares(shared, origin=author.id)
        for tag in tags:  # one event per tag: each says which watched tag brought it
            self._publisher.event(
                [channels.tag(tag)], TagPostCreatedEvent(tag=tag, post=post), origin=author.id
            )
        await self._notify_about(record, author, parent, quoted)
        if announced is not None and record.community_id is not None and self._pushes is not None:
            community = await self._store.get_community(record.community_id)
            await self._pushes.announcement(
                author,
                record.community_id,
                community.name if community else "",
                record.id,
                announced.notification_id,
                record.text,
                record.created_ms,
            )
        return post

    async def _publish_shares(self, record: PostRecord, *, origin: str) -> None:
        """Tell who receives ``record``'s events its reply, repost and quote counts now
        (``post.counts``), after one of its replies, reposts or quotes was stored or deleted.
        Counted after the write: of two changes at once, both events carry the later counts
        or the last one does."""
        c = (await self._store.share_counts([record.id])).get(record.id, (0, 0, 0))
        event = PostCountsEvent(post_id=record.id, replies_count=c[0], reposts_count=c[1], quotes_count=c[2])
        self._publisher.event([post_channel(record)], event, origin=origin)

    async def _retried(self, author: UserRecord, earlier: PostRecord) -> Post:
        """The answer to a retried ``post.create``: the post its nonce made, as it is now. Once
        deleted, the nonce stays taken and a retry is ``not_found``: the post is gone, and
        making it again would undo the deletion."""
        if earlier.deleted_pos is not None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "the post with this nonce was deleted", path="$.nonce")
        return await self._views.post(author.id, earlier)

    async def check_can_post(self, user_id: str, community_id: str) -> None:
        if await self._store.get_community(community_id) is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such community", path="$.community_id")
        if await self._store.membership(community_id, user_id) is None:
            if await self._store.is_banned(community_id, user_id):
                raise ProtocolError(ErrorCode.BANNED)
            raise ProtocolError(ErrorCode.NOT_MEMBER, path="$.community_id")

    async def _notify_about(
        self, record: PostRecord, author: UserRecord, parent: PostRecord | None, quoted: PostRecord | None
    ) -> None:
        handles = rules.mentions(record.text)
        if parent is None and quoted is None and not handles:
            return
        new: list[NewNotification] = []
        if parent is not None:
            new.append(NewNotification(parent.author_id, "reply", actor_id=author.id, post_id=record.id))
        if quoted is not None:
            new.append(NewNotification(quoted.author_id, "quote", actor_id=author.id, post_id=record.id))
        notified = {n.user_id for n in new}
        community = await self._store.get_community(record.community_id) if record.community_id else None
        for handle in handles:
            target = await self._store.get_user_by_handle(handle)
            if target is None or target.id in notified:
                continue
            closed = community is not None and community.approval_required
            if closed and community and await self._store.membership(community.id, target.id) is None:
                continue  # they could not read it
            notified.add(target.id)
            new.append(NewNotification(target.id, "mention", actor_id=author.id, post_id=record.id))
        stored = await self._notices.notify(new)
        if self._pushes is not None:
            for notice in stored:
                if notice.kind in ("mention", "reply"):
                    await self._pushes.mentioned(
                        notice.kind,
                        notice.user_id,
                        notice.id,
                        author,
                        record.id,
                        record.text,
                        notice.created_ms,
                    )

    async def repost(self, user: UserRecord, post_id: str) -> Post:
        hidden = await self._store.hidden_ids(user.id)
        original = await self._visible(user, post_id, hidden, "$.post_id")
        if original.repost_of is not None:  # reposting a repost reposts its original
            original = await self._visible(user, original.repost_of, hidden, "$.post_id")
        await self._shareable(original)
        existing = await self._store.find_repost(user.id, original.id)
        if existing is not None:  # reposting twice changes nothing, as on Mastodon
            return await self._views.post(user.id, existing)
        embedded = await self._views.post(None, original, embedded=True)
        record = await self._store.create_post(
            author_id=user.id, text="", emotext=None, reply_to=None, now_ms=self._now(), repost_of=original.id
        )
        post = present.post(record, user, repost_of=embedded)  # no await before the publish
        self._publisher.event([post_channel(record)], PostCreatedEvent(post=post), record.id, origin=user.id)
        await self._publish_shares(original, origin=user.id)
        await self._notices.notify(
            [NewNotification(original.author_id, "repost", actor_id=user.id, post_id=original.id)]
        )
        return post

    async def _shareable(self, record: PostRecord, path: str = "$.post_id") -> None:
        """Only posts everyone may read can be reposted or quoted to one's followers."""
        if record.community_id is None:
            return
        community = await self._store.get_community(record.community_id)
        if community is None or community.approval_required:
            raise ProtocolError(ErrorCode.FORBIDDEN, "posts in closed communities stay there", path=path)

    async def delete_post(self, user: UserRecord, post_id: str) -> None:
        record = await self._store.get_post(post_id)
        if record is None or record.deleted_pos is not None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such post", path="$.post_id")
        if record.author_id != user.id and not await self._moderates(user.id, record.community_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "you can delete only your own posts")
        deleted = await self._store.delete_post(post_id)
        if deleted is None or deleted.deleted_pos is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such post", path="$.post_id")
        event = PostDeletedEvent(
            post_id=deleted.id, author_id=deleted.author_id, community_id=deleted.community_id
        )
        self._publisher.event([post_channel(deleted)], event, deleted.deleted_pos, origin=deleted.author_id)
        for shared_id in dict.fromkeys(
            i for i in (deleted.reply_to, deleted.repost_of, deleted.quote_of) if i
        ):
            shared = await self._store.get_post(shared_id)
            if shared is not None and shared.deleted_pos is None:
                await self._publish_shares(shared, origin=deleted.author_id)
        await self._untag(deleted)
        if deleted.media:
            # Its pictures go with it: the collector releases their bytes (Pictures.collect).
            await self._store.detach_media(f"post:{deleted.id}", now_ms=self._now())

    async def _untag(self, deleted: PostRecord) -> None:
        """Tell the watchers of a deleted post's hashtags, as its creation was told them."""
        tags = protocol_text.hashtags(deleted.text)
        if not tags:
            return
        if deleted.community_id is not None:
            community = await self._store.get_community(deleted.community_id)
            if community is None or community.approval_required:
                return
        for tag in tags:
            event = TagPostDeletedEvent(tag=tag, post_id=deleted.id)
            self._publisher.event([channels.tag(tag)], event, origin=deleted.author_id)

    async def _moderates(self, user_id: str, community_id: str | None) -> bool:
        if community_id is None:
            return False
        membership = await self._store.membership(community_id, user_id)
        return membership is not None and membership.role in ("owner", "moderator")

    async def get(self, viewer: UserRecord, post_id: str) -> Post:
        hidden = await self._store.hidden_ids(viewer.id)
        record = await self._visible(viewer, post_id, hidden, "$.post_id")
        return (await self._views.posts(viewer.id, [record], hidden=hidden))[0]

    async def thread(self, viewer: UserRecord, post_id: str, after: str | None, limit: int) -> ThreadResult:
        hidden = await self._store.hidden_ids(viewer.id)
        record = await self._visible(viewer, post_id, hidden, "$.post_id")
        chain: list[PostRecord] = []
        parent_id = record.reply_to
        while parent_id is not None and len(chain) < THREAD_MAX_DEPTH:
            parent = await self._store.get_post(parent_id)
            if parent is None:
                break
            chain.append(parent)
            parent_id = parent.reply_to
        chain.reverse()
        replies = await self._store.replies(record.id, after=after, limit=limit)
        presented = await self._views.posts(viewer.id, [*chain, record, *replies], hidden=hidden)
        by_id = {p.id: p for p in presented}
        return ThreadResult(
            ancestors=[by_id[r.id] for r in chain if r.id in by_id],
            post=by_id[record.id],
            replies=[by_id[r.id] for r in replies if r.id in by_id],
            next=replies[-1].id if len(replies) == limit else None,
        )

    async def visible_post(self, viewer: UserRecord, post_id: str, path: str = "$.post_id") -> PostRecord:
        """The post if the viewer may read it (as ``post.get`` decides); else ``not_found``,
        the same error a made-up id gets, so the answer reveals nothing about posts the viewer
        cannot read (deleted, by someone hidden either way, in a closed community)."""
        return await self._visible(viewer, post_id, await self._store.hidden_ids(viewer.id), path)

    async def _visible(
        self, viewer: UserRecord, post_id: str, hidden: Collection[str], path: str
    ) -> PostRecord:
        record = await self._store.get_post(post_id)
        if record is None or not await self._views.can_see(viewer, record, hidden):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such post", path=path)
        return record

    # --- reactions ----------------------------------------------------------------------------

    async def react(self, user: UserRecord, post_id: str, emoji: str, *, add: bool) -> ReactionsResult:
        emoji = rules.reaction(emoji)
        hidden = await self._store.hidden_ids(user.id)
        record = await self._visible(user, post_id, hidden, "$.post_id")
        if add:
            changed = await self._store.add_reaction(record.id, user.id, emoji, self._now())
        else:
            changed = await self._store.remove_reaction(record.id, user.id, emoji)
        counts = (await self._store.reaction_counts([record.id])).get(record.id, [])
        mine = (await self._store.my_reactions(user.id, [record.id])).get(record.id, [])
        if changed:
            event = PostReactionsEvent(
                post_id=record.id,
                user_id=user.id,
                emoji=emoji,
                added=add,
                reactions=present.reactions(counts),
            )
            self._publisher.event([post_channel(record)], event, origin=user.id)
            if add:
                notice = NewNotification(
                    record.author_id, "reaction", actor_id=user.id, post_id=record.id, emoji=emoji
                )
                await self._notices.notify([notice])
        return ReactionsResult(post_id=record.id, reactions=present.reactions(counts), my_reactions=mine)

    # --- follows ------------------------------------------------------------------------------

    async def follow(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if target.deleted:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        if await self._store.blocks_between(user.id, target.id):
            raise ProtocolError(ErrorCode.BLOCKED, path="$.user_id")
        if not await self._store.follow(user.id, target.id, self._now()):
            raise ProtocolError(ErrorCode.ALREADY_FOLLOWING)
        # Every device of the user subscribes, and backfills what the author posts from now on
        # until its subscription is in place (see Gateway.listen_live).
        since = floor_id(self._now())
        self._publisher.control(user.id, channels.Control(listen=channels.posts(target.id), since=since))
        event = FollowEvent(follower=present.user(user), followee=present.user(target))
        self._publisher.event([channels.user(target.id), channels.user(user.id)], event, origin=user.id)
        await self._notices.notify([NewNotification(target.id, "follow", actor_id=user.id)])
        return await self.profile_of(user, target)

    async def unfollow(self, user: UserRecord, target_id: str) -> Profile:
        target = await self._target(user, target_id)
        if not await self._store.unfollow(user.id, target.id):
            raise ProtocolError(ErrorCode.NOT_FOLLOWING)
        self._publisher.control(user.id, channels.Control(unlisten=[channels.posts(target.id)]))
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

    async def profile(self, viewer: UserRecord, handle: str) -> Profile:
        record = await self._store.get_user_by_handle(handle)
        if record is None or record.deleted:  # a deleted account has no profile page
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.handle")
        return await self.profile_of(viewer, record)

    async def profile_of(self, viewer: UserRecord, record: UserRecord) -> Profile:
        counts = await self._store.follow_counts(record.id)
        state = relation = (False, False)
        if viewer.id != record.id:
            state = await self._store.follow_state(viewer.id, record.id)
            relation = await self._store.relation(viewer.id, record.id)
        return present.profile(record, counts=counts, state=state, relation=relation)

    async def timeline(self, user: UserRecord, before: str | None, limit: int) -> TimelinePage:
        records = await self._store.following_timeline(user.id, before=before, limit=limit)
        hidden = await self._store.hidden_ids(user.id)
        posts = await self._views.posts(user.id, records, hidden=hidden)
        return TimelinePage(posts=posts, next=records[-1].id if len(records) == limit else None)

    async def user_timeline(
        self, viewer: UserRecord, user_id: str, before: str | None, limit: int
    ) -> TimelinePage:
        """A user's own posts for their profile page. A block either way hides the user as
        every read does (``not_found``); a mute does not, since the viewer opened this page
        on purpose, though what the muted author reposts from others the viewer hides stays
        hidden. Community posts come only from communities the viewer may read."""
        author = await self._store.get_user(user_id)
        if author is None or await self._store.blocks_between(viewer.id, user_id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such user", path="$.user_id")
        records = await self._store.user_timeline(author.id, viewer_id=viewer.id, before=before, limit=limit)
        hidden = await self._store.hidden_ids(viewer.id) - {author.id}
        posts = await self._views.posts(viewer.id, records, hidden=hidden)
        return TimelinePage(posts=posts, next=records[-1].id if len(records) == limit else None)

    async def tag_timeline(
        self, viewer: UserRecord, tag: str, before: str | None, limit: int
    ) -> TimelinePage:
        """A hashtag's standing posts that the viewer may see, newest first: outside
        communities and in communities the viewer may read, minus those by users the viewer
        hides. ``tag`` is normalised already (:func:`rules.hashtag`)."""
        records = await self._store.tag_timeline(tag, viewer_id=viewer.id, before=before, limit=limit)
        hidden = await self._store.hidden_ids(viewer.id)
        posts = await self._views.posts(viewer.id, records, hidden=hidden)
        return TimelinePage(posts=posts, next=records[-1].id if len(records) == limit else None)

    async def community_timeline(
        self, user: UserRecord, community_id: str, before: str | None, limit: int
    ) -> TimelinePage:
        community = await self._store.get_community(community_id)
        if community is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such community", path="$.community_id")
        if not await self._views.can_read_community(user.id, community):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only members read this community")
        records = await self._store.community_timeline(community_id, before=before, limit=limit)
        hidden = await self._store.hidden_ids(user.id)
        posts = await self._views.posts(user.id, records, hidden=hidden)
        return TimelinePage(posts=posts, next=records[-1].id if len(records) == limit else None)

    async def discover(self, user: UserRecord, cursor: str | None, limit: int) -> DiscoverPage:
        """Posts from outside the user's circle, ranked by interest and recency (PROTOCOL.md).
        Nothing is written: no view or footprint is ever recorded."""
        offset = rules.page_offset(cursor)
        now = self._now()
        candidates = await self._store.discover_candidates(
            user.id, since_ms=now - DISCOVER_WINDOW_MS, limit=DISCOVER_CANDIDATES
        )
        hidden = await self._store.hidden_ids(user.id)
        candidates = [c for c in candidates if c.author_id not in hidden and c.author_id != user.id]
        ranked = await self.rank(user.id, candidates, now)
        page = ranked[offset : offset + limit]
        posts = await self._views.posts(user.id, page, hidden=hidden)
        more = offset + limit < len(ranked)
        return DiscoverPage(posts=posts, next=rules.page_cursor(offset + limit) if more else None)

    async def surroundings(self, user_id: str) -> Surroundings:
        """What a connection of the user is set up from, as storage says now, in one read."""
        return await self._store.surroundings(user_id)

    @staticmethod
    def channels_of(user_id: str, around: Surroundings) -> set[str]:
        """Every bus channel a connection of the user listens to: their own, their followees'
        posts and their communities' (:func:`server.channels.for_user`)."""
        return channels.for_user(user_id, around.followee_ids, around.community_ids)

    @staticmethod
    def own_profile(user: UserRecord, around: Surroundings) -> Profile:
        """The user's profile as they see it themselves (what :meth:`profile_of` gives for
        ``(user, user)``), from their surroundings."""
        return present.profile(user, counts=(around.followers, around.following), state=(False, False))

    async def rank(self, user_id: str, candidates: list[PostRecord], now_ms: int) -> list[PostRecord]:
        """Best first: (1 + 2 × shared tags + 1.5 × friends who reacted) × ½^(age in hours / 12)."""
        mine = {m.community_id for m in await self._store.memberships_of(user_id)}
        my_tags = {t for c in (await self._store.get_communities(list(mine))).values() for t in c.tags}
        their_ids = list({c.community_id for c in candidates if c.community_id})
        theirs = await self._store.get_communities(their_ids) if their_ids else {}
        friends = await self._store.followee_ids(user_id)
        reacted = await self._store.reaction_counts_by(friends, [c.id for c in candidates]) if friends else {}

        def score(post: PostRecord) -> float:
            community = theirs.get(post.community_id or "")
            shared = len(my_tags.intersection(community.tags)) if community else 0
            interest = 1 + SHARED_TAG_WEIGHT * shared + FRIEND_REACTION_WEIGHT * reacted.get(post.id, 0)
            age_hours = max(0, now_ms - post.created_ms) / 3600_000
            return interest * math.pow(0.5, age_hours / HALF_LIFE_HOURS)

        return sorted(candidates, key=lambda post: (score(post), post.id), reverse=True)

    # --- resuming -----------------------------------------------------------------------------

    async def following_backlog(
        self, user_id: str, after: str, limit: int, hidden: Collection[str] = ()
    ) -> Backlog:
        """Everything on the user's following stream after ``after``, as the live events were."""
        items = await self._store.following_stream_after(user_id, after=after, limit=limit + 1)
        if len(items) > limit:
            return NOT_RECOVERED
        return await self._stream_backlog([i for i in items if i.post.author_id not in hidden])

    async def following_page(
        self,
        user_id: str,
        after: str,
        limit: int,
        hidden: Collection[str] = (),
        *,
        wanted: Callable[[str], bool] | None = None,
    ) -> Backlog:
        """The first ``limit`` entries of the following stream after ``after``, however many
        more there are (a webhook reads its streams page by page); with ``wanted``, only those
        at the positions it accepts are presented (``last`` and ``read`` count them all)."""
        items = await self._store.following_stream_after(user_id, after=after, limit=limit)
        backlog = await self._stream_backlog(
            [i for i in items if i.post.author_id not in hidden and (wanted is None or wanted(i.pos))]
        )
        return replace(backlog, scanned=[i.pos for i in items])

    async def channel_backlog(
        self, channel: str, after: str, limit: int, hidden: Collection[str] = (), *, user_id: str
    ) -> Backlog:
        """What a newly listened ``posts:`` or ``community:`` channel carried after ``after``
        for ``user_id``: the posts, and a community's announcement notifications to them."""
        kind, _, key = channel.partition(":")
        if kind == "community":
            records = await self._store.community_posts_after(key, after=after, limit=limit)
        else:
            records = await self._store.posts_by_author_after(key, after=after, limit=limit)
        backlog = await self._stream_backlog(
            [StreamItem(r.id, r, False) for r in records if r.author_id not in hidden]
        )
        if kind == "community":
            # An announcement's notification goes out on its community's channel (create_post):
            # those made since joining are in the user's notification stream, and in this gap.
            noticed = await self._store.notifications_after(user_id, after=after, limit=limit)
            announced = [r for r in noticed if r.kind == "announcement" and r.community_id == key]
            for notification in await self._notices.present(announced):
                backlog.tails.append(
                    event_tail(NotificationEvent(notification=notification), notification.id)
                )
                backlog.positions.append(notification.id)
        return backlog

    async def _stream_backlog(self, items: list[StreamItem]) -> Backlog:
        created = await self._events.posts([i.post for i in items if not i.deleted])
        by_id = {presented.post.id: presented for presented in created}
        tails, positions = [], []
        for item in items:
            post = item.post
            if item.deleted:
                deleted = PostDeletedEvent(
                    post_id=post.id, author_id=post.author_id, community_id=post.community_id
                )
                tails.append(event_tail(deleted, item.pos))
            elif post.id in by_id:
                presented = by_id[post.id]
                # A post's item is at the post's id (storage's streams): the shared tail is it.
                same = item.pos == post.id
                tails.append(
                    presented.tail if same else event_tail(PostCreatedEvent(post=presented.post), item.pos)
                )
            else:
                continue
            positions.append(item.pos)
        return Backlog(recovered=True, tails=tails, positions=positions)
