"""Web Push, the domain's side: a person's devices and preferences (the ``push.*`` ops), and
what is queued for whom when something happens that they would want to know with the app closed.

What is pushed, each kind switchable per person (all on by default): a friend's safety status
(to the author's friends, those whose safety board shows it), an announcement of a certified
community they are a member of, a DM, a mention or a reply (``mention``), the start of an
incident (to everyone who has a device subscribed). The payload (PROTOCOL.md 4.13) carries no
more than a notification shows: a DM's text only with ``previews`` on, a post's first
:data:`TEXT_MAX` characters.

Queueing: each push is one row per subscription in storage's queue (``enqueue_pushes``),
written right after the write that caused it, not in the same one: a crash or a storage
failure between the two loses those pushes (the notification, message or status itself stands
and reaches the person at their next connection). :mod:`server.push.sender` sends the queue.
Whether the person is online is decided when sending, not here.

See ``docs/topics/push.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    Done,
    PushConfigResult,
    PushKinds,
    PushKindSwitches,
    PushSubscribeResult,
    PushSubscriptionInfo,
)

from ..push import check_endpoint, check_keys, endpoint_origin
from ..store.base import (
    AccountStorage,
    CommunityStorage,
    NewPush,
    PushPreferences,
    PushStorage,
    RelationStorage,
    StorageError,
    UserRecord,
)

log = logging.getLogger(__name__)

#: The switchable kinds (``push.config``'s ``kinds``); a reply is switched with ``mention``.
KINDS = ("safety", "announcement", "dm", "mention", "incident")
SWITCH = {"reply": "mention"}
#: The queue's order, lower first: safety and incidents before everything, then announcements,
#: so that during an incident they go out first however long the queue.
PRIORITY = {"safety": 0, "incident": 0, "announcement": 1, "dm": 2, "mention": 2, "reply": 2}
#: RFC 8030 section 5.3: a push service may hold back low-urgency messages to save a phone's
#: battery; safety and incidents must wake it.
URGENCY = {"safety": "high", "incident": "high"}
#: How long a push is worth delivering (its TTL, and the sender gives up after it).
TTL_MS = {
    "safety": 24 * 3600_000,
    "incident": 24 * 3600_000,
    "announcement": 24 * 3600_000,
    "dm": 24 * 3600_000,
    "mention": 6 * 3600_000,
    "reply": 6 * 3600_000,
}
#: A post's or message's text in a push is cut to this many characters (with "…").
TEXT_MAX = 100
#: The largest payload: push services take 4 KiB; a notification needs far less.
PAYLOAD_MAX = 1024
#: The sessions read to name each subscription's device.
SESSIONS_READ = 100


class PushPorts(PushStorage, AccountStorage, RelationStorage, CommunityStorage, Protocol):
    """The storage Pushes uses: subscriptions and the queue, and who is who."""


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _actor(user: UserRecord) -> dict[str, str]:
    return {"handle": user.handle, "display_name": user.display_name}


class Pushes:
    def __init__(
        self, store: PushPorts, clock: Callable[[], int], *, max_subscriptions: int, allow_loopback: bool
    ) -> None:
        self._store = store
        self._now = clock
        self._max = max_subscriptions
        self._allow_loopback = allow_loopback
        #: The VAPID public key (set at start-up, once storage has given it: server.push).
        self.public_key = ""
        #: Called after pushes were queued: the sender on this node looks at once.
        self.on_queued: Callable[[], None] = lambda: None

    # --- the ops ------------------------------------------------------------------------------

    async def config(self, user: UserRecord) -> PushConfigResult:
        prefs = (await self._store.push_preferences([user.id]))[user.id]
        return await self._config(user, prefs)

    async def _config(self, user: UserRecord, prefs: PushPreferences) -> PushConfigResult:
        now = self._now()
        subs = await self._store.push_subscriptions([user.id], now_ms=now)
        sessions = {
            s.id: s.device for s in await self._store.list_sessions(user.id, now, limit=SESSIONS_READ)
        }
        return PushConfigResult(
            public_key=self.public_key,
            kinds=PushKinds(**{kind: kind not in prefs.off for kind in KINDS}),
            previews=prefs.previews,
            subscriptions=[
                PushSubscriptionInfo(
                    id=s.id,
                    origin=endpoint_origin(s.endpoint),
                    device=sessions.get(s.session_id, ""),
                    created_at=s.created_ms,
                )
                for s in subs
            ],
        )

    async def subscribe(
        self,
        user: UserRecord,
        session_id: str,
        endpoint: str,
        p256dh: str,
        auth: str,
        expiration_ms: int | None,
    ) -> PushSubscribeResult:
        check_endpoint(endpoint, allow_loopback=self._allow_loopback)
        check_keys(p256dh, auth)
        saved = await self._store.save_push_subscription(
            user_id=user.id,
            session_id=session_id,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            expiration_ms=expiration_ms,
            now_ms=self._now(),
            limit=self._max,
        )
        if saved is None:
            raise ProtocolError(
                ErrorCode.PUSH_LIMIT, f"at most {self._max} devices receive pushes; unsubscribe one first"
            )
        return PushSubscribeResult(id=saved.id)

    async def unsubscribe(self, user: UserRecord, subscription_id: str) -> Done:
        if not await self._store.delete_push_subscription(subscription_id, user_id=user.id):
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such subscription", path="$.subscription_id")
        return Done()

    async def preferences(
        self, user: UserRecord, kinds: PushKindSwitches | None, previews: bool | None
    ) -> PushConfigResult:
        on = {kind: value for kind in KINDS if kinds and (value := getattr(kinds, kind)) is not None}
        prefs = await self._store.set_push_preferences(user.id, on=on, previews=previews)
        return await self._config(user, prefs)

    # --- what is pushed -----------------------------------------------------------------------

    async def safety(self, author: UserRecord, status_id: str, state: str, at_ms: int) -> None:
        """A safety status: to the author's friends (whose safety board shows it)."""
        payload = {
            "kind": "safety",
            "id": status_id,
            "at": at_ms,
            "urgent": state == "need_help",
            "actor": _actor(author),
            "status": state,
            "url": "/#/safety",
        }
        await self._queue("safety", await self._store.friend_ids(author.id), lambda prefs: payload)

    async def announcement(
        self,
        author: UserRecord,
        community_id: str,
        name: str,
        post_id: str,
        notice_id: str,
        text: str,
        at_ms: int,
    ) -> None:
        """An announcement: to the community's members but its author."""
        members = [m for m in await self._store.member_ids(community_id) if m != author.id]
        payload = {
            "kind": "announcement",
            "id": notice_id,
            "at": at_ms,
            "urgent": False,
            "actor": _actor(author),
            "community": {"id": community_id, "name": name},
            "post_id": post_id,
            "text": _cut(text),
            "url": f"/#/post/{post_id}",
        }
        await self._queue("announcement", members, lambda prefs: payload)

    async def message(
        self,
        author: UserRecord,
        conversation_id: str,
        message_id: str,
        text: str,
        recipients: Iterable[str],
        at_ms: int,
    ) -> None:
        """A DM: to the conversation's other members; its text only to those with previews."""
        base = {
            "kind": "dm",
            "id": message_id,
            "at": at_ms,
            "urgent": False,
            "actor": _actor(author),
            "conversation_id": conversation_id,
            "url": f"/#/dm/{conversation_id}",
        }

        def build(prefs: PushPreferences) -> dict[str, Any]:
            return {**base, "text": _cut(text)} if prefs.previews and text else base

        await self._queue("dm", [r for r in recipients if r != author.id], build)

    async def mentioned(
        self, kind: str, user_id: str, notice_id: str, actor: UserRecord, post_id: str, text: str, at_ms: int
    ) -> None:
        """A mention or a reply (``kind``), once its notification is stored."""
        payload = {
            "kind": kind,
            "id": notice_id,
            "at": at_ms,
            "urgent": False,
            "actor": _actor(actor),
            "post_id": post_id,
            "text": _cut(text),
            "url": f"/#/post/{post_id}",
        }
        await self._queue(kind, [user_id], lambda prefs: payload)

    async def incident(self, incident_id: str, title: str, at_ms: int) -> None:
        """The start of an incident: to everyone with a device subscribed."""
        payload = {
            "kind": "incident",
            "id": incident_id,
            "at": at_ms,
            "urgent": False,  # the contract: true only for a need_help status
            "text": title,
            "url": "/#/safety",
        }
        await self._queue("incident", None, lambda prefs: payload)

    async def _queue(
        self, kind: str, user_ids: list[str] | None, build: Callable[[PushPreferences], dict[str, Any]]
    ) -> None:
        """Queue one push per subscription of these users (None: everyone's) who want ``kind``.
        A storage failure here is logged, not raised: what caused the push is stored already,
        and the person will see it at their next connection."""
        if user_ids is not None and not user_ids:
            return
        try:
            now = self._now()
            subs = await self._store.push_subscriptions(user_ids, now_ms=now)
            if not subs:
                return
            prefs = await self._store.push_preferences(sorted({s.user_id for s in subs}))
            switch = SWITCH.get(kind, kind)
            payloads: dict[str, bytes] = {}
            queued: list[NewPush] = []
            for sub in subs:
                mine = prefs[sub.user_id]
                if switch in mine.off:
                    continue
                if sub.user_id not in payloads:
                    payloads[sub.user_id] = _encode(build(mine))
                queued.append(
                    NewPush(
                        subscription_id=sub.id,
                        kind=kind,
                        priority=PRIORITY[kind],
                        urgency=URGENCY.get(kind, "normal"),
                        payload=payloads[sub.user_id],
                        deadline_ms=now + TTL_MS[kind],
                    )
                )
            await self._store.enqueue_pushes(queued, now_ms=now)
        except StorageError as exc:
            log.warning("%s pushes not queued: %s", kind, exc)
            return
        if queued:
            self.on_queued()


def _encode(payload: dict[str, Any]) -> bytes:
    """The payload's JSON; if a long name pushes it past :data:`PAYLOAD_MAX`, without its text."""
    body = orjson.dumps({"v": 1, **payload})
    if len(body) > PAYLOAD_MAX:
        body = orjson.dumps({"v": 1, **{k: v for k, v in payload.items() if k != "text"}})
    return body
