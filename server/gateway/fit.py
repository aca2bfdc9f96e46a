"""Pages cut to the largest server frame.

Most answers are small, and a bounded one is bounded by the text rules (protocol/text.py) and the
page limits. A page of posts each with four pictures and their alt texts, quoting posts with as
many, is not: at the code-point limits, a hundred of them would be a frame of several megabytes,
past ``MAX_SERVER_FRAME_BYTES``, which a client sets as its receive limit. PROTOCOL.md allows a
page to hold fewer items than ``limit`` while ``next`` is not null, so such a page is cut: the
longest prefix that fits is sent, with ``next`` pointing after its last item. Nothing is lost;
the client asks for the rest as for any next page.

Only the answers whose list is paged by the id of its last item (or, for Discover, by an offset)
are cut; every other answer fits by construction (tests/unit/test_codec.py checks each kind at
its limits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import protocol.messages as m
from protocol.codec import MAX_SERVER_FRAME_BYTES, ok_frame

from ..domain import rules


def _cutter(frame: m.Request, result: Any) -> Callable[[int], Any] | None:
    """A function giving ``result`` cut to its first ``n`` items with ``next`` after them, or None
    if this kind of answer is not cut."""
    if isinstance(result, m.TimelinePage):
        return lambda n: m.TimelinePage(posts=result.posts[:n], next=result.posts[n - 1].id)
    if isinstance(result, m.ThreadResult):
        return lambda n: m.ThreadResult(
            ancestors=result.ancestors,
            post=result.post,
            replies=result.replies[:n],
            next=result.replies[n - 1].id,
        )
    if isinstance(result, m.MessagePage):
        return lambda n: m.MessagePage(messages=result.messages[:n], next=result.messages[n - 1].id)
    if isinstance(result, m.DiscoverPage) and isinstance(frame, m.TimelineDiscover):
        # Ranked by offset: the next page starts after the n posts sent. Posts hidden from this
        # viewer were left out of the page after ranking, so it may show a few again; Discover's
        # ranking moves between requests anyway.
        offset = rules.page_offset(frame.cursor)
        return lambda n: m.DiscoverPage(posts=result.posts[:n], next=rules.page_cursor(offset + n))
    return None


def _length(result: Any) -> int:
    for name in ("posts", "replies", "messages"):
        if hasattr(result, name):
            return len(getattr(result, name))
    return 0  # pragma: no cover - _cutter answers None for every other kind


def ok_frame_within_bound(frame: m.Request, result: Any) -> bytes:
    """The ``ok`` frame of ``result``, its page cut so that the frame fits the bound."""
    data = ok_frame(frame.id, result)
    if len(data) <= MAX_SERVER_FRAME_BYTES:
        return data
    cut = _cutter(frame, result)
    if cut is None or _length(result) < 2:
        return data  # nothing to cut: the text rules keep these within the bound
    # The longest prefix that fits, by bisection: a handful of encodings, only for such pages.
    low, high, best = 1, _length(result) - 1, ok_frame(frame.id, cut(1))
    while low <= high:
        middle = (low + high) // 2
        candidate = ok_frame(frame.id, cut(middle))
        if len(candidate) <= MAX_SERVER_FRAME_BYTES:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best
