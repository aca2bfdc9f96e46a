"""How long ``search.posts`` takes on a large database (issue 17: p99 under 100 ms for a million
posts on this machine). A benchmark, not a test: it prints figures for BENCHMARKS.md.

    .venv/bin/python -m loadtest.tools.search [POSTS] [ROUNDS]

A local server on the embedded default (SQLite) is seeded with 200 accounts; then, with the
server stopped, POSTS posts of mixed Japanese and English (made up from the phrases below, 10 to
80 characters, one in twenty in a community that requires approval, which the searcher is not a
member of) are written straight into its database in id order, with their search rows, the way
the adapter's writes make them (server/store/sqlite/search.py), in one transaction per 50,000.
The server is started on it, the searcher mutes ten of the authors, and asks ``search.posts``
(first page of 20) for each of :data:`QUERIES` ROUNDS times, over one connection, one request
at a time: the figure is the round trip of each request, WebSocket hop and JSON included. The
queries span one, two and more characters, common and rare words, words that match nothing,
phrases whose trigrams are common but which are rare as a whole (the FTS5 worst case), and a
word that only the closed community's posts hold (the scan bound's worst case: each page looks
at 1,000 matches and shows none).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import time
from typing import Any

from server.ids import IdGenerator
from server.search import fold, gram_document

from ..client import LoadClient
from ..local import LocalServer

_JA = (
    "地震",
    "余震が続いています",
    "避難所",
    "炊き出し",
    "給水車が来ました",
    "停電",
    "雨",
    "駅前",
    "公園で",
    "仙台",
    "ラーメン食べたい",
    "今日は",
    "ありがとうございました",
    "みんな無事です",
    "電車が止まっています",
    "コンビニ",
    "パン屋さん",
    "週末は",
    "子どもと",
    "散歩",
    "桜がきれい",
    "朝ごはん",
    "仕事おわり",
    "の情報です",
    "気をつけて",
    "広瀬川",
    "ボランティア募集",
    "水と食料",
    "スマホの充電",
    "お疲れさまでした",
)
_EN = (
    "the station",
    "is open",
    "water supply",
    "in Sendai",
    "power is back",
    "stay safe",
    "thank you",
    "coffee",
    "this morning",
    "evacuation center",
    "train delayed",
    "volunteers needed",
    "great ramen",
    "see you",
    "road closed",
)
_SEPARATORS = ("", "", "、", "。", " ", "！", "…")
#: Rare on purpose: how a query for a word few posts hold behaves.
_RARE = ("臨時休業", "xylophone")

#: Only in the closed community's posts: the searcher matches many posts and may read none.
_CLOSED_WORD = "（内輪の連絡）"

#: (label, query): one, two and more characters; common, rare, absent; width and case folded.
QUERIES = (
    ("1 char common", "雨"),
    ("1 char common", "駅"),
    ("1 char absent", "鬱"),
    ("2 chars common", "地震"),
    ("2 chars common", "停電"),
    ("2 chars rare", "臨時"),
    ("2 chars absent", "鬱蒼"),
    ("3+ common", "炊き出し"),
    ("3+ common", "避難所"),
    ("3+ common", "ＳＥＮＤＡＩ"),
    ("3+ common", "water supply"),
    ("3+ rare", "臨時休業"),
    ("3+ rare", "xylophone"),
    ("3+ absent", "存在しない言葉"),
    ("3+ common trigrams, rare phrase", "ました地震"),
    ("3+ common trigrams, rare phrase", "the ramen"),
    ("3+ long", "給水車が来ました"),
    ("3+ only in posts the searcher may not read", "内輪の連絡"),
)
AUTHORS = 200
CLOSED_SHARE = 20  # one post in this many is in the closed community
BATCH = 50_000


def text(rng: random.Random) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < rng.randint(10, 70):
        phrase = rng.choice(_EN) if rng.random() < 0.3 else rng.choice(_JA)
        parts.append(phrase + rng.choice(_SEPARATORS))
    if rng.random() < 0.00005:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(_RARE))
    return "".join(parts)[:80]


def fill(path: str, authors: list[str], posts: int, seed: int = 17) -> str:
    """Write ``posts`` posts into the server's database (stopped); the closed community's id."""
    rng = random.Random(seed)
    ids = IdGenerator()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    now = int(time.time() * 1000)
    start = now - posts * 1000  # a post a second, up to now
    community = ids.new(start - 1)
    owner = authors[-1]
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO communities (id, name, name_key, description, tags, approval_required, owner_id, "
        "created_ms, member_count) VALUES (?, '内輪', '内輪', '', '[]', 1, ?, ?, 1)",
        (community, owner, start - 1),
    )
    db.execute(
        "INSERT INTO memberships (community_id, user_id, id, role, joined_ms) VALUES (?, ?, ?, 'owner', ?)",
        (community, owner, ids.new(start - 1), start - 1),
    )
    db.execute("COMMIT")
    for first in range(0, posts, BATCH):
        rows = []
        for n in range(first, min(posts, first + BATCH)):
            ms = start + n * 1000
            closed = n % CLOSED_SHARE == 0
            rows.append(
                (
                    ids.new(ms),
                    owner if closed else rng.choice(authors),
                    text(rng) + (_CLOSED_WORD if closed else ""),
                    ms,
                    community if closed else None,
                )
            )
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO posts (id, author_id, text, created_ms, community_id, announcement) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            rows,
        )
        searched = [(post_id, fold(body)) for post_id, _, body, _, _ in rows]
        seqs = [
            db.execute(
                "INSERT INTO post_search (post_id, body) VALUES (?, ?) RETURNING seq", item
            ).fetchone()[0]
            for item in searched
        ]
        db.executemany(
            "INSERT INTO post_search_trigrams (rowid, body) VALUES (?, ?)",
            [(seq, body) for seq, (_, body) in zip(seqs, searched, strict=True)],
        )
        db.executemany(
            "INSERT INTO post_search_grams (rowid, grams) VALUES (?, ?)",
            [(seq, gram_document(body)) for seq, (_, body) in zip(seqs, searched, strict=True)],
        )
        db.execute("COMMIT")
        print(f"  {min(posts, first + BATCH):,} posts", flush=True)
    db.execute("PRAGMA optimize")
    db.close()
    return community


async def call(client: LoadClient, op: str, **args: object) -> dict[str, Any]:
    frame = await client.request(op, **args)
    if frame["op"] != "ok":
        raise RuntimeError(f"{op}: {frame}")
    data: dict[str, Any] = frame["data"]
    return data


def percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def main(posts: int, rounds: int) -> None:
    server = LocalServer(env={"TSUDOI_ADMISSION_RATE": "100000"})
    try:
        accounts = server.seed(AUTHORS)["accounts"]
        began = time.perf_counter()
        fill(str(server.folder / "data" / "tsudoi.sqlite3"), [a["id"] for a in accounts], posts)
        built = time.perf_counter() - began
        size = (server.folder / "data" / "tsudoi.sqlite3").stat().st_size
        print(f"wrote {posts:,} posts in {built:.0f} s; database {size / 1e6:,.0f} MB")
        server.start()
        me = await LoadClient.open(server.ws_url, accounts[0]["token"], record=False)
        for account in accounts[1:11]:
            await call(me, "mute.add", user_id=account["id"])
        times: dict[str, list[float]] = {}
        found: dict[str, str] = {}
        for _ in range(rounds):
            for label, query in QUERIES:
                started = time.perf_counter()
                page = await call(me, "search.posts", query=query, limit=20)
                times.setdefault(label, []).append((time.perf_counter() - started) * 1000)
                # "+": the page has a next (a short page may, when the scan bound ended it).
                found[query] = f"{len(page['posts'])}{'+' if page['next'] else ''}"
        every = [t for series in times.values() for t in series]
        print(f"search.posts, {posts:,} posts, first page of 20, {len(every)} calls ({rounds} rounds):")
        print(
            f"  all: p50 {statistics.median(every):.1f} ms, p99 {percentile(every, 0.99):.1f} ms, "
            f"max {max(every):.1f} ms"
        )
        for label, series in times.items():
            print(
                f"  {label}: p50 {statistics.median(series):.1f} ms, p99 {percentile(series, 0.99):.1f} ms, "
                f"max {max(series):.1f} ms"
            )
        print(
            "  posts on the first page (+: with a next): " + ", ".join(f"{q} {n}" for q, n in found.items())
        )
        await me.close()
    finally:
        server.close()  # and its folder, with the seeded tokens


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 20,
        )
    )
