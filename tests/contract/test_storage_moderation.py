"""The Storage contract of the moderation area (:class:`server.store.base.ModerationStorage`):
reports, newest first, resolved once.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

from server.store.base import Storage
from tests.contract.storage_helpers import NOW, UNKNOWN_ID, make_users, say


async def test_reports_newest_first_and_resolved_once(storage: Storage) -> None:
    reporter, target = await make_users(storage, "reporter", "target")
    post = await say(storage, target, "rude")
    about_post = await storage.create_report(
        reporter_id=reporter.id, post_id=post.id, user_id=None, reason="rude", now_ms=NOW + 1
    )
    about_user = await storage.create_report(
        reporter_id=reporter.id, post_id=None, user_id=target.id, reason="spam", now_ms=NOW + 2
    )
    assert (about_post.reporter_id, about_post.post_id, about_post.user_id, about_post.reason) == (
        reporter.id,
        post.id,
        None,
        "rude",
    )
    assert (about_post.created_ms, about_post.resolved_ms) == (NOW + 1, None)
    assert (about_user.post_id, about_user.user_id) == (None, target.id)
    assert await storage.reports(open_only=True, limit=10) == [about_user, about_post]
    assert await storage.reports(open_only=False, limit=1) == [about_user]

    assert await storage.resolve_report(about_user.id, NOW + 3) is True
    assert await storage.resolve_report(about_user.id, NOW + 4) is False
    assert await storage.resolve_report(UNKNOWN_ID, NOW + 4) is False
    assert await storage.reports(open_only=True, limit=10) == [about_post]
    everything = await storage.reports(open_only=False, limit=10)
    assert [r.id for r in everything] == [about_user.id, about_post.id]
    assert everything[0].resolved_ms == NOW + 3


async def test_a_reports_category_is_kept_and_none_by_default(storage: Storage) -> None:
    reporter, target = await make_users(storage, "reporter", "target")
    post = await say(storage, target, "the water is poisoned")
    kinded = await storage.create_report(
        reporter_id=reporter.id,
        post_id=post.id,
        user_id=None,
        reason="",
        now_ms=NOW,
        category="misinformation",
    )
    plain = await storage.create_report(
        reporter_id=reporter.id, post_id=None, user_id=target.id, reason="spam", now_ms=NOW + 1
    )
    assert (kinded.category, kinded.reason, plain.category) == ("misinformation", "", None)
    assert await storage.reports(open_only=True, limit=10) == [plain, kinded]
