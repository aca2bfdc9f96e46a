"""What every area of the MongoDB adapter writes and reads with: driver errors raised as
:class:`~server.store.base.StorageUnavailable`, the undo of a multi-document write (see
"Multi-document operations, without transactions" in :mod:`server.store.mongo`), and query
fragments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Final

from pymongo.errors import PyMongoError

from ..base import StorageUnavailable

Document = dict[str, Any]

#: Ids per ``$in`` query in get_users: well within a 16 MiB command however many are asked for.
IN_CHUNK: Final = 1000
#: "Null or missing", in a filter: ``{field: NULL}``. It is MongoDB's ``{field: null}`` written
#: as the ``$eq`` it abbreviates; the manual's $eq page gives the two forms as equivalent unless
#: the value is a regular expression, and its "Query for Null or Missing Fields" page says the
#: equality matches a null and a missing field alike. The adapter writes the long form because
#: nx-27017, the stand-in the tests run on, gets the short one wrong beside another condition
#: and inside a find's ``$or`` (tests/support/mongo.py) and the long one right. A shared
#: constant: nothing may change it in place.
NULL: Final[Document] = {"$eq": None}
#: How often create_user re-claims an invite that was released while it looked at it, and
#: create_conversation looks again for a pair's conversation whose maker undid it meanwhile.
CLAIM_ATTEMPTS: Final = 5


@contextmanager
def driver_errors() -> Iterator[None]:
    """Raise any driver error left unhandled inside as StorageUnavailable."""
    try:
        yield
    except PyMongoError as exc:
        raise StorageUnavailable(f"mongodb: {exc}") from exc


class Undo:
    """The inverses of the steps a multi-document write has taken, newest last.

    Each step that wrote registers how to take it back; if a later step fails or refuses,
    :func:`all_or_nothing` runs them newest first, each at most once, ignoring failures (the
    database may be gone: what cannot be undone stays, see :mod:`server.store.mongo`).
    """

    def __init__(self) -> None:
        self._steps: list[Callable[[], Awaitable[object]]] = []

    def add(self, step: Callable[[], Awaitable[object]]) -> None:
        self._steps.append(step)

    async def run(self) -> None:
        while self._steps:
            step = self._steps.pop()
            with suppress(PyMongoError):
                await step()


@asynccontextmanager
async def all_or_nothing() -> AsyncIterator[Undo]:
    """Undo the registered steps if the block raises anything (a refusal, a driver error, a
    cancellation), then let it through."""
    undo = Undo()
    try:
        yield undo
    except BaseException:
        await undo.run()
        raise


def chunks(ids: list[str]) -> Iterator[list[str]]:
    """The distinct ids, in ``$in`` lists of at most :data:`IN_CHUNK`."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), IN_CHUNK):
        yield wanted[start : start + IN_CHUNK]


def before_filter(field: str, before: str | None) -> Document:
    return {} if before is None else {field: {"$lt": before}}


def after_filter(field: str, after: str | None) -> Document:
    return {} if after is None else {field: {"$gt": after}}
