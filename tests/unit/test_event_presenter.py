"""Backlogs' posts presented once for all the resumes that ask together (EventPresenter), on a
stand-in for Views that records what it was asked and can be held mid-presentation."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from server.domain.views import EventPresenter


class Presentations:
    """Views.posts as the presenter calls it: no viewer; each record presented as (id, "view")."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.fail: Exception | None = None

    async def posts(self, viewer_id: str | None, records: list[Any]) -> list[Any]:
        assert viewer_id is None
        self.calls.append([r.id for r in records])
        await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        return [SimpleNamespace(id=r.id, view=f"view of {r.id}") for r in records if not r.deleted]


async def settle() -> None:
    """Let every task that can run, run (the caller, then the presenter's worker)."""
    for _ in range(5):
        await asyncio.sleep(0)


def records(*ids: str, deleted: bool = False) -> list[Any]:
    return [SimpleNamespace(id=i, deleted=deleted) for i in ids]


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
    # Each gets what it would have got alone, in its own order.
    assert [[p.id for p in posts] for posts in results] == [["a", "b"], ["b", "c"], ["c", "a"], ["d"]]
    assert results[1][1] is results[2][0]  # "c", presented once for both


async def test_a_failure_reaches_every_caller_of_its_batch_and_the_next_batch_is_new() -> None:
    views = Presentations()
    presenter = EventPresenter(views)  # type: ignore[arg-type]
    views.fail = ConnectionError("storage down")
    callers = [presenter.posts(records("a")), presenter.posts(records("b"))]
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    views.fail = None
    assert [p.id for p in await presenter.posts(records("c"))] == ["c"]
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
    assert [p.id for p in await first] == ["a"]
    assert [p.id for p in await staying] == ["c"]
    with pytest.raises(asyncio.CancelledError):
        await leaving
