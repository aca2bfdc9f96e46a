"""The domain: Tsudoi's rules, and the services that apply them over the storage and bus ports.

Pure rules live in :mod:`.rules` (no I/O). Services follow one pattern: check, write to storage,
then publish to the bus with no ``await`` in between, so the bus sees events in commit order.
They never import an adapter. :class:`Domain` builds them all, wired to one another.

See ``docs/architecture.md`` for the layers, and ``docs/adding.md`` for the files a change touches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..passwords import Passwords
    from ..presence.base import PresenceStore
    from ..publisher import Publisher
    from ..store.base import Storage
    from .accounts import Accounts
    from .communities import Communities
    from .conversations import Conversations
    from .disaster_page import DisasterPages
    from .notices import Notices
    from .onboarding import Guide
    from .presence import PresenceService
    from .pushes import Pushes
    from .relations import Relations
    from .safety import Incidents, Safety
    from .search import Search
    from .social import Social
    from .streams import Streams


@dataclass(frozen=True)
class Domain:
    """Every service, wired to one another. It holds no storage of its own on purpose: callers
    (the gateway, the HTTP routes, ``tsudoi admin``) reach storage only through a service."""

    accounts: Accounts
    social: Social
    communities: Communities
    conversations: Conversations
    notices: Notices
    relations: Relations
    streams: Streams
    presence: PresenceService
    safety: Safety
    incidents: Incidents
    search: Search
    guide: Guide
    disaster_page: DisasterPages
    pushes: Pushes

    @classmethod
    def build(
        cls,
        store: Storage,
        publisher: Publisher,
        passwords: Passwords,
        settings: Settings,
        clock: Callable[[], int],
        presence_store: PresenceStore,
    ) -> Domain:
        from .accounts import Accounts
        from .communities import Communities
        from .conversations import Conversations
        from .disaster_page import DisasterPages
        from .notices import Notices
        from .onboarding import Guide
        from .presence import PresenceService, PresenceTiming
        from .pushes import Pushes
        from .relations import Relations
        from .safety import Incidents, Safety
        from .search import Search
        from .social import Social
        from .streams import Streams

        timing = PresenceTiming(
            idle_after_ms=settings.idle_after_ms,
            offline_grace_ms=settings.offline_grace_ms,
            tick_ms=settings.presence_tick_ms,
            ttl_ms=settings.presence_ttl_ms,
        )
        presence = PresenceService(store, presence_store, publisher, timing, clock)
        notices = Notices(store, publisher, clock)
        pushes = Pushes(
            store,
            clock,
            max_subscriptions=settings.push_max_subscriptions,
            allow_loopback=settings.push_allow_loopback,
        )
        social = Social(store, publisher, notices, clock, pushes)
        conversations = Conversations(store, publisher, clock, pushes)
        return cls(
            accounts=Accounts(store, passwords, publisher, settings, clock, notices),
            social=social,
            communities=Communities(store, publisher, notices, social, clock),
            conversations=conversations,
            notices=notices,
            relations=Relations(store, publisher, social, clock),
            streams=Streams(store, social, conversations, notices),
            presence=presence,
            safety=Safety(store, publisher, notices, presence, clock, pushes),
            incidents=Incidents(store, publisher, clock, settings.operator_poll_ms, pushes),
            search=Search(store),
            guide=Guide(store),
            disaster_page=DisasterPages(store, clock),
            pushes=pushes,
        )
