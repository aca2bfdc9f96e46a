"""Backlogs' posts presented once for all the resumes that ask together (EventPresenter), on a
stand-in for Views that records what it was asked and can be held mid-presentation."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from protocol import messages as m
from protocol.sdk.decoding import convert
from server.domain.views import EventPresenter


def ulid(letter: str) -> str:
    """The id of the test's post ``letter``."""
    return "01M7Z5MSYV0S6E0ZYBTQ7CHG0" + letter.upper()


def letters(posts: list[Any]) -> list[str]:
    return [p.post.id[-1].lower() for p in posts]


def post(post_id: str) -> m.Post:
    """A post as events show it, with this id."""
    author = {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子"}
    shown = {
        "id": post_id,
        "author": author,
        "text": "無事です",
        "created_at": "2026-11-21T13:45:00.123Z",
        "replies_count": 0,
        "reposts_count": 0,
        "quotes_count": 0,
    }
    return convert(shown, m.Post)  # the rest at their neutral values


class Presentations:
    """Views.posts as the presenter calls it: no viewer; each standing record presented."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.fail: Exception | None = None

    async def posts(self, viewer_id: str | None, records: list[Any]) -> list[Any]:
        assert viewer_id is None
        self.calls.append([r.id[-1].lower() for r in records])
        await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        return [post(r.id) for r in records if not r.deleted]


async def settle() -> None:
    """Let every task that can run, run (the caller, then the presenter's worker)."""
    for _ in range(5):
        await asyncio.sleep(0)


def records(*ids: str, deleted: bool = False) -> list[Any]:
    return [SimpleNamespace(id=ulid(i), deleted=deleted) for i in ids]


async def test_those_who_ask_during_a_presentation_are_presented_together_after_it() -> None:
    views = Presentations()
    presenter = EventPresenter(views)  # type: ignore[arg-type]
    views.hold.clear()
    first = asyncio.create_task(presenter.posts(records("a", "b")))
    await settle()
    assert views.calls == [["a", "b"]]  # the first is presented at once
    # Three more ask while it is under way: none joins it (it began before they asked).
    later = [
        asyncio.create_task(presenter.posts(records("b", "c"))),
        asyncio.create_task(presenter.posts(records("c", "a"))),
        asyncio.create_task(presenter.posts(records("d") + records("x", deleted=True))),
    ]
    await settle()
    assert views.calls == [["a", "b"]]
    views.hold.set()
    results = await asyncio.gather(first, *later)
    assert views.calls == [["a", "b"], ["b", "c", "a", "d", "x"]]  # then once for all of them
    # Each gets what it would have got alone, in its own order, with its event's tail.
    assert [letters(posts) for posts in results] == [["a", "b"], ["b", "c"], ["c", "a"], ["d"]]
    assert results[1][1] is results[2][0]  # "c", presented once for both, tail and all
    tail = orjson.loads(b"{" + results[3][0].tail)
    assert (tail["type"], tail["stream"], tail["pos"], tail["data"]["post"]["id"]) == (
        "post.created",
        "following",
        ulid("d"),
        ulid("d"),
    )


async def test_a_failure_reaches_every_caller_of_its_batch_and_the_next_batch_is_new() -> None:
    views = Presentations()
    presenter = EventPresenter(views)  # type: ignore[arg-type]
    views.fail = ConnectionError("storage down")
    callers = [presenter.posts(records("a")), presenter.posts(records("b"))]
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    views.fail = None
    assert letters(await presenter.posts(records("c"))) == ["c"]
    assert await presenter.posts([]) == []  # nothing to present: no presentation


async def test_a_caller_that_gives_up_does_not_stop_the_others() -> None:
    views = Presentations()
    presenter = EventPresenter(views)  # type: ignore[arg-type]
    views.hold.clear()
    first = asyncio.create_task(presenter.posts(records("a")))
    await settle()
    leaving = asyncio.create_task(presenter.posts(records("b")))
    staying = asyncio.create_task(presenter.posts(records("c")))
    await settle()
    leaving.cancel()
    views.hold.set()
    assert letters(await first) == ["a"]
    assert letters(await staying) == ["c"]
    with pytest.raises(asyncio.CancelledError):
        await leaving
