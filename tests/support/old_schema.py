"""Databases as earlier versions of Tsudoi left them, for the tests of the migrations."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from server.store.sqlite.engine import _migrations, _split_sql, add_migration_functions


def sqlite_with_plain_invites(path: Path, codes: list[str], *, created_ms: int, expires_ms: int) -> None:
    """A SQLite database at schema 8 (before invite codes were hashed, 0009) holding ``codes`` as
    plain, unused invites without an inviter, each granting operator rights as a bootstrap
    invite does, as that version stored them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        for number, script in _migrations():
            if number <= 8:
                for statement in _split_sql(script):
                    db.execute(statement)
        db.execute("PRAGMA user_version=8")
        for n, code in enumerate(codes):
            db.execute(
                "INSERT INTO invites (code, inviter_id, created_ms, expires_ms, grants_operator) "
                "VALUES (?, NULL, ?, ?, 1)",
                (code, created_ms + n, expires_ms),
            )


def sqlite_before_tags(path: Path, texts: list[str]) -> tuple[str, list[str]]:
    """A SQLite database at schema 11 (before posts' hashtags were indexed, 0012) with one user
    who wrote posts of ``texts``, in order. Returns the user's id and the posts' ids."""
    return _sqlite_with_posts(
        path, 11, [(f"01JD0M7Q5W3K4T9V2X8Y6Z{n:04d}", text) for n, text in enumerate(texts)]
    )


def sqlite_before_search(path: Path) -> tuple[str, list[str]]:
    """A SQLite database at schema 10 (before search, 0011) with a user named 避難 太郎 who wrote
    three posts, "炊き出し 一", "炊き出し 二" (deleted) and "雨". Returns the user's id and the
    posts' ids."""
    texts = ("炊き出し 一", "炊き出し 二", "雨")
    user_id, post_ids = _sqlite_with_posts(
        path, 10, [(f"01JD0M7Q5W3K4T9V2X8Y6Z{n:04d}", text) for n, text in enumerate(texts)], name="避難 太郎"
    )
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE posts SET deleted_pos = ? WHERE id = ?", ("01JD0M7Q5W3K4T9V2X8Y6Z9999", post_ids[1])
        )
    return user_id, post_ids


def _sqlite_with_posts(
    path: Path, schema: int, posts: list[tuple[str, str]], *, name: str = "Old"
) -> tuple[str, list[str]]:

    user_id = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        add_migration_functions(db)
        for number, script in _migrations():
            if number <= schema:
                for statement in _split_sql(script):
                    db.execute(statement)
        db.execute(f"PRAGMA user_version={schema}")
        db.execute(
            "INSERT INTO users (id, handle, handle_key, display_name, password_hash, birth_date, "
            "terms_accepted_ms, created_ms) VALUES (?, 'old', 'old', ?, 'x', '1990-01-01', 0, 0)",
            (user_id, name),
        )
        for n, (post_id, text) in enumerate(posts):
            db.execute(
                "INSERT INTO posts (id, author_id, text, created_ms) VALUES (?, ?, ?, ?)",
                (post_id, user_id, text, n),
            )
    return user_id, [post_id for post_id, _ in posts]


def sqlite_before_share_counts(
    path: Path, posts: list[tuple[str, str | None, str | None, str | None, bool]]
) -> str:
    """A SQLite database at schema 10 (before posts kept their reply, repost and quote counts,
    0013) with one user who wrote ``posts``: (id, reply_to, repost_of, quote_of, deleted), in
    order. Returns the user's id."""

    user_id = "01JD0M7Q5W3K4T9V2X8Y6Z1ABC"
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        add_migration_functions(db)
        for number, script in _migrations():
            if number <= 10:
                for statement in _split_sql(script):
                    db.execute(statement)
        db.execute("PRAGMA user_version=10")
        db.execute(
            "INSERT INTO users (id, handle, handle_key, display_name, password_hash, birth_date, "
            "terms_accepted_ms, created_ms) VALUES (?, 'old', 'old', 'Old', 'x', '1990-01-01', 0, 0)",
            (user_id,),
        )
        for n, (post_id, reply_to, repost_of, quote_of, deleted) in enumerate(posts):
            db.execute(
                "INSERT INTO posts (id, author_id, text, reply_to, created_ms, deleted_pos, repost_of, "
                "quote_of) VALUES (?, ?, 'old', ?, ?, ?, ?, ?)",
                (post_id, user_id, reply_to, n, post_id if deleted else None, repost_of, quote_of),
            )
    return user_id
