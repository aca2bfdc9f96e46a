"""The Storage contract of search (:class:`server.store.base.SearchStorage`): people by handle
and display name, posts by text, by substring of the folded text (server/search.py), with what
the viewer may not read left out.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. Queries are passed folded, as the port says.
"""

from __future__ import annotations

from server.search import fold
from server.store.base import Storage, UserRecord
from tests.contract.storage_helpers import NOW, join, make_community, make_user, new_user, say


async def found(storage: Storage, query: str, viewer: UserRecord, **kwargs: object) -> list[str]:
    """The texts of the posts ``viewer`` finds for ``query`` (folded here), newest first."""
    options: dict[str, object] = {"hidden": (), "before": None, "limit": 50, "scan": 1000, **kwargs}
    page = await storage.search_posts(fold(query), viewer_id=viewer.id, **options)  # type: ignore[arg-type]
    return [p.text for p in page.posts]


async def test_posts_are_found_by_any_substring_japanese_included(storage: Storage) -> None:
    author = await make_user(storage, "author")
    await say(storage, author, "公園で炊き出しがあります", NOW)
    await say(storage, author, "昨夜の地震、みんな無事？", NOW + 1)
    await say(storage, author, "Sendai station is open", NOW + 2)
    assert await found(storage, "炊き出し", author) == ["公園で炊き出しがあります"]
    # Control characters are dropped (a NUL would end an FTS5 query string).
    assert await found(storage, "炊き\x00出し", author) == ["公園で炊き出しがあります"]
    # Two characters and one: shorter than a trigram.
    assert await found(storage, "地震", author) == ["昨夜の地震、みんな無事？"]
    assert await found(storage, "震", author) == ["昨夜の地震、みんな無事？"]
    assert await found(storage, "ion is", author) == ["Sendai station is open"]
    # Three characters without a pair free of spaces.
    assert await found(storage, "n i", author) == ["Sendai station is open"]
    assert await found(storage, "n x", author) == []
    assert await found(storage, "震が", author) == []
    assert await found(storage, "炊き出しが無い", author) == []


async def test_width_case_and_kana_are_folded_on_both_sides(storage: Storage) -> None:
    author = await make_user(storage, "author")
    await say(storage, author, "ＳＥＮＤＡＩ ｶﾞｽ 復旧", NOW)
    await say(storage, author, "ジシン速報", NOW + 1)
    assert await found(storage, "sendai", author) == ["ＳＥＮＤＡＩ ｶﾞｽ 復旧"]
    assert await found(storage, "Sendai  ガス", author) == ["ＳＥＮＤＡＩ ｶﾞｽ 復旧"]
    assert await found(storage, "がす", author) == ["ＳＥＮＤＡＩ ｶﾞｽ 復旧"]
    assert await found(storage, "じしん", author) == ["ジシン速報"]
    # A pair across a space is not a pair of the text.
    assert await found(storage, "ig", author) == []


async def test_newest_first_paged_by_before(storage: Storage) -> None:
    author = await make_user(storage, "author")
    posts = [await say(storage, author, f"給水 {n}", NOW + n) for n in range(5)]
    await say(storage, author, "ほかの話", NOW + 9)

    async def page(query: str, before: str | None, limit: int) -> tuple[list[str], str | None]:
        found = await storage.search_posts(
            query, viewer_id=author.id, hidden=(), before=before, limit=limit, scan=1000
        )
        return [p.id for p in found.posts], found.resume

    assert await page("給水", None, 2) == ([posts[4].id, posts[3].id], posts[3].id)
    assert await page("給水", posts[3].id, 2) == ([posts[2].id, posts[1].id], posts[1].id)
    # The post a page ended on was deleted meanwhile: the next page still starts below it.
    await storage.delete_post(posts[1].id)
    assert await page("給水", posts[1].id, 2) == ([posts[0].id], None)
    assert await page("給", posts[3].id, 9) == ([posts[2].id, posts[0].id], None)
    assert await page("給水", posts[0].id, 2) == ([], None)


async def test_a_page_looks_at_no_more_than_scan_posts(storage: Storage) -> None:
    author, viewer = await make_user(storage, "author"), await make_user(storage, "viewer")
    closed = await make_community(storage, author, "閉じた", approval_required=True)
    seen = await say(storage, author, "配給 だれでも", NOW)
    unseen = [await say(storage, author, f"配給 会員 {n}", NOW + 1 + n, community=closed) for n in range(3)]

    async def page(before: str | None, scan: int) -> tuple[list[str], str | None]:
        found = await storage.search_posts(
            "配給", viewer_id=viewer.id, hidden=(), before=before, limit=5, scan=scan
        )
        return [p.id for p in found.posts], found.resume

    # Two of the three closed posts looked at, none readable: an empty page, resumed below them.
    assert await page(None, 2) == ([], unseen[1].id)
    # Scan used up with the last match: nothing tells there is none below, hence a resume.
    assert await page(unseen[1].id, 2) == ([seen.id], seen.id)
    assert await page(seen.id, 2) == ([], None)
    assert await page(unseen[1].id, 3) == ([seen.id], None)


async def test_deleted_hidden_and_closed_community_posts_are_not_found(storage: Storage) -> None:
    author, hidden, viewer, member = [
        await make_user(storage, handle) for handle in ("author", "hidden", "viewer", "member")
    ]
    gone = await say(storage, author, "避難所 消した", NOW)
    await storage.delete_post(gone.id)
    await say(storage, hidden, "避難所 見えない", NOW + 1)
    closed = await make_community(storage, author, "閉じた", approval_required=True)
    open_ = await make_community(storage, author, "開いた")
    await join(storage, closed, member)
    await say(storage, author, "避難所 会員だけ", NOW + 2, community=closed)
    await say(storage, author, "避難所 だれでも", NOW + 3, community=open_)
    await say(storage, author, "避難所 ふつう", NOW + 4)
    everyone = ["避難所 ふつう", "避難所 だれでも"]
    assert await found(storage, "避難所", viewer, hidden=[hidden.id]) == everyone
    assert await found(storage, "避難", viewer, hidden=[hidden.id]) == everyone
    assert await found(storage, "避難所", member, hidden=[hidden.id]) == [*everyone, "避難所 会員だけ"]
    assert await found(storage, "避難所", viewer) == [*everyone, "避難所 見えない"]
    assert await found(storage, "消した", viewer) == []
    assert await found(storage, "消", viewer) == []


async def test_a_repost_without_text_is_not_found(storage: Storage) -> None:
    author, other = await make_user(storage, "author"), await make_user(storage, "other")
    original = await say(storage, author, "停電の情報", NOW)
    await say(storage, other, "", NOW + 1, repost_of=original)
    assert await found(storage, "停電", other) == ["停電の情報"]


async def test_people_by_handle_or_display_name_exact_handle_first(storage: Storage) -> None:
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=60_000, max_unused=None)
    taro_k = await storage.create_user(new_user("taro_k", "川口 太郎"), invite_code=invite.code, now_ms=NOW)
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=60_000, max_unused=None)
    taro = await storage.create_user(new_user("Taro", "タロウ"), invite_code=invite.code, now_ms=NOW)
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=60_000, max_unused=None)
    hana = await storage.create_user(
        new_user("hana", "花子 (taro's sister)"), invite_code=invite.code, now_ms=NOW
    )

    async def people(query: str, **kwargs: object) -> list[str]:
        options: dict[str, object] = {"hidden": (), "offset": 0, "limit": 10, **kwargs}
        users = await storage.search_users(fold(query), **options)  # type: ignore[arg-type]
        return [u.handle for u in users]

    assert await people("ＴＡＲＯ") == ["Taro", taro_k.handle, hana.handle]
    assert await people("taro", offset=1) == [taro_k.handle, hana.handle]
    assert await people("taro", offset=1, limit=1) == [taro_k.handle]
    assert await people("taro", limit=1) == ["Taro"]
    assert await people("太郎") == ["taro_k"]
    assert await people("たろう") == ["Taro"]
    assert await people("taro", hidden=[taro.id]) == [taro_k.handle, hana.handle]
    # A new display name is found, the old one no longer.
    await storage.update_profile(hana.id, display_name="Hanako")
    assert await people("sister") == []
    assert await people("hanako") == ["hana"]


async def test_a_changed_handle_is_found_and_the_old_one_no_more(storage: Storage) -> None:
    invite = await storage.create_invite(inviter_id=None, now_ms=NOW, ttl_ms=60_000, max_unused=None)
    user = await storage.create_user(new_user("kumo_sendai", "雲"), invite_code=invite.code, now_ms=NOW)

    async def people(query: str) -> list[str]:
        return [u.handle for u in await storage.search_users(fold(query), hidden=(), offset=0, limit=10)]

    await storage.change_handle(user.id, "Sora_Aoba", now_ms=NOW, changed_before_ms=NOW)
    assert await people("sora_aoba") == ["Sora_Aoba"]  # the exact handle, first
    assert await people("aoba") == ["Sora_Aoba"]
    # Search finds people by what they are called now; a former handle finds them by lookup only.
    assert await people("kumo") == []
    found = await storage.get_user_by_handle("kumo_sendai")
    assert found is not None and found.id == user.id
