"""The embedded default Storage: one SQLite file in WAL mode, driven from worker threads.

Threads: SQLite calls block, so none runs on the event loop. All writes go through one writer
thread (SQLite admits one writer at a time anyway) with its own connection; this also makes the
writer the single source of ids, so ids are handed out in commit order and "everything after
cursor X" is exact. Reads run on a small pool of reader threads, each with its own connection;
WAL lets them read while the writer writes.

Durability: ``synchronous=FULL`` by default, so a write has reached the disk when the method
returns. ``TSUDOI_SQLITE_SYNCHRONOUS=normal`` trades the last transactions on power loss (never
on a process crash) for fewer fsyncs.

Schema changes are numbered files in ``migrations/``; ``PRAGMA user_version`` records
the last one applied. Each index there says which query it serves; the following stream and
timeline read, per source (an author outside communities, a community), only the newest or next
few entries of a partial index, which SQLite's ORDER BY ... LIMIT over an IN list does by itself.

Lists of ids are bound as one JSON array and read with ``json_each``, so no query has a
variable number of parameters.

Layout: :mod:`.engine` holds the connections, threads, transactions and migrations;
:mod:`.rows` the column lists and row-to-record functions the areas share; each area of the
port (:mod:`server.store.base`) is one module of the same name (:mod:`.accounts`,
:mod:`.relations`, :mod:`.posts`, :mod:`.communities`, :mod:`.conversations`,
:mod:`.notifications`, :mod:`.safety`, :mod:`.moderation`, :mod:`.webhooks`, :mod:`.signals`,
:mod:`.media`, :mod:`.search`, :mod:`.push`),
and :class:`SqliteStorage` is their sum.
"""

from __future__ import annotations

from .accounts import Accounts
from .communities import Communities
from .conversations import Conversations
from .media import Media
from .moderation import Moderation
from .notifications import Notifications
from .posts import Posts
from .push import Push
from .relations import Relations
from .safety import Safety
from .search import Search
from .signals import Signals
from .webhooks import Webhooks

__all__ = ["SqliteStorage"]


# Each area is a mixin over the one Engine rather than an object of its own: they share its
# connections, writer thread and id generator, and none of the port's methods needs forwarding.
class SqliteStorage(
    Accounts,
    Relations,
    Posts,
    Communities,
    Conversations,
    Notifications,
    Safety,
    Moderation,
    Webhooks,
    Signals,
    Media,
    Search,
    Push,
):
    """Storage on one SQLite file. Build with :meth:`open`."""
