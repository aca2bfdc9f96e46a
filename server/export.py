"""One's own data as a JSON archive (``GET /api/export``, PROTOCOL.md section 11.13).

Contract: :func:`archive` yields the bytes of one JSON object, section by section, each list
page by page (at most :data:`PAGE` items read and encoded at a time, so memory stays bounded
whatever the account holds). Every section is read through the same domain service, with the
user as the viewer, as the op that shows it on a connection (``timeline.user``,
``user.followers``, ``dm.history``...): the archive holds exactly what the user could already
read, shaped as the protocol's objects, and nothing more: no other person's private data, no
session token, no password hash. Each list stops at :data:`MAX_ITEMS` items (a list cut there
is named in ``truncated``), so one request has bounded work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import msgspec

from protocol.codec import format_timestamp

from .domain import Domain
from .store.base import UserRecord

#: Items read and encoded at a time.
PAGE = 100
#: The most items of one list in one archive: far beyond what a person writes by hand (a post
#: every ten minutes for five years), so only scripts meet it.
MAX_ITEMS = 250_000
FORMAT = "tsudoi.export.v1"

_encode = msgspec.json.Encoder().encode

#: A page reader: given the cursor (None for the first page), the page's items and the next
#: cursor (None after the last page).
Pages = Callable[[str | None], Awaitable[tuple[Sequence[Any], str | None]]]


async def archive(domain: Domain, user: UserRecord, now_ms: int) -> AsyncIterator[bytes]:
    """The archive of ``user``'s data as JSON, in pieces (see the module's contract)."""
    truncated: list[str] = []
    profile = await domain.social.profile_of(user, user)
    settings = await domain.accounts.settings(user)
    yield b'{"format":"' + FORMAT.encode() + b'","exported_at":' + _encode(format_timestamp(now_ms))
    yield b',"profile":' + _encode(profile) + b',"settings":' + _encode(settings.settings)

    async def posts(cursor: str | None) -> tuple[Sequence[Any], str | None]:
        page = await domain.social.user_timeline(user, user.id, cursor, PAGE)
        return page.posts, page.next

    async def followers(cursor: str | None) -> tuple[Sequence[Any], str | None]:
        page = await domain.relations.followers(user, user.id, cursor, PAGE)
        return page.users, page.next

    async def following(cursor: str | None) -> tuple[Sequence[Any], str | None]:
        page = await domain.relations.following(user, user.id, cursor, PAGE)
        return page.users, page.next

    async def communities(cursor: str | None) -> tuple[Sequence[Any], str | None]:
        page = await domain.communities.mine(user, cursor, PAGE)
        return page.communities, page.next

    async def statuses(cursor: str | None) -> tuple[Sequence[Any], str | None]:
        page = await domain.safety.history(user, user.id, cursor, PAGE)
        return page.statuses, page.next

    for name, pages in (
        ("posts", posts),
        ("followers", followers),
        ("following", following),
        ("communities", communities),
        ("safety_statuses", statuses),
    ):
        yield b',"' + name.encode() + b'":'
        async for piece in _list(pages, name, truncated):
            yield piece
    yield b',"blocks":' + _encode((await domain.relations.blocked(user)).users)
    yield b',"mutes":' + _encode((await domain.relations.muted(user)).users)
    yield b',"invites":' + _encode(await domain.accounts.list_invites(user))

    # Direct messages: each conversation of the user's, with every message in it they can read
    # (theirs and the other members'), newest first as dm.history gives them.
    yield b',"conversations":['
    cursor: str | None = None
    first = True
    count = 0
    while True:
        page = await domain.conversations.conversations(user, cursor, PAGE)
        for conversation in page.conversations:
            yield (b"" if first else b",") + b'{"conversation":' + _encode(conversation) + b',"messages":'
            first = False

            async def messages(
                before: str | None, cid: str = conversation.id
            ) -> tuple[Sequence[Any], str | None]:
                found = await domain.conversations.history(user, cid, before, PAGE)
                return found.messages, found.next

            async for piece in _list(messages, f"conversations/{conversation.id}", truncated):
                yield piece
            yield b"}"
            count += 1
        cursor = page.next
        if cursor is None:
            break
        if count >= MAX_ITEMS:
            truncated.append("conversations")
            break
    yield b'],"truncated":' + _encode(truncated) + b"}"


async def _list(pages: Pages, name: str, truncated: list[str]) -> AsyncIterator[bytes]:
    """A JSON array of every page's items, one page encoded at a time."""
    yield b"["
    cursor: str | None = None
    count = 0
    while True:
        items, cursor = await pages(cursor)
        if items:
            body = _encode(list(items))[1:-1]  # the items without their brackets
            yield (b"," if count else b"") + body
            count += len(items)
        if cursor is None:
            break
        if count >= MAX_ITEMS:
            truncated.append(name)
            break
    yield b"]"
