"""The domain: Tsudoi's rules, and the services that apply them over the storage and bus ports.

Pure rules live in :mod:`.rules` (no I/O). Services follow one pattern: check, write to storage,
then publish to the bus with no ``await`` in between, so the bus sees events in commit order.
They never import an adapter. :class:`Domain` builds them all, wired to one another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..passwords import Passwords
    from ..publisher import Publisher
    from ..store.base import Storage
    from .accounts import Accounts
    from .communities import Communities
    from .direct import Direct
    from .notices import Notices
    from .relations import Relations
    from .social import Social
    from .streams import Streams


@dataclass(frozen=True)
class Domain:
    store: Storage
    accounts: Accounts
    social: Social
    communities: Communities
    direct: Direct
    notices: Notices
    relations: Relations
    streams: Streams

    @classmethod
    def build(
        cls,
        store: Storage,
        publisher: Publisher,
        passwords: Passwords,
        settings: Settings,
        clock: Callable[[], int],
    ) -> Domain:
        from .accounts import Accounts
        from .communities import Communities
        from .direct import Direct
        from .notices import Notices
        from .relations import Relations
        from .social import Social
        from .streams import Streams

        notices = Notices(store, publisher, clock)
        social = Social(store, publisher, notices, clock)
        direct = Direct(store, publisher, clock)
        return cls(
            store=store,
            accounts=Accounts(store, passwords, publisher, settings, clock),
            social=social,
            communities=Communities(store, publisher, notices, social, clock),
            direct=direct,
            notices=notices,
            relations=Relations(store, publisher, social, clock),
            streams=Streams(store, social, direct, notices),
        )
