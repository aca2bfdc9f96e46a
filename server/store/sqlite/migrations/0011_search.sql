-- 0011: search for people and posts (issue 17), by substring of the folded text
-- (server/search.py: NFKC, case folding, katakana as hiragana), which works for Japanese.
--
-- People: users.name_key is the folded display name, next to handle_key; search_users scans
-- both with instr (a users table is small next to posts: no index serves a substring).
--
-- Posts: post_search holds each standing post with text, in post id order (seq increases with
-- the id, since the one writer hands out both in commit order; the backfill below keeps that
-- order), with its folded text. Two FTS5 indexes over it, both keyed by seq:
--   post_search_trigrams, the trigram tokenizer over the folded text (external content:
--     post_search.body), for queries of three characters or more (a quoted phrase);
--   post_search_grams, the text's distinct characters and adjacent pairs, each one ASCII word
--     (server/search.py, gram_document), for queries of one or two characters, which the
--     trigram tokenizer cannot match. Contentless with detail=none: only which rows hold a word.
-- The adapter's own writes keep them in step with posts (server/store/sqlite/search.py):
-- create_post adds a post, delete_post takes it out of all three. seq, an INTEGER PRIMARY KEY,
-- survives VACUUM, which the rowids of posts would not.
-- tsudoi_search_fold and tsudoi_search_grams are server/search.py's fold and gram_document,
-- registered for the migrations (engine.py).

ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE users SET name_key = tsudoi_search_fold(display_name);

CREATE TABLE post_search (
    seq      INTEGER PRIMARY KEY,
    post_id  TEXT NOT NULL UNIQUE REFERENCES posts(id),
    body     TEXT NOT NULL
) STRICT;
CREATE VIRTUAL TABLE post_search_trigrams USING fts5(
    body, content='post_search', content_rowid='seq', tokenize='trigram case_sensitive 1'
);
CREATE VIRTUAL TABLE post_search_grams USING fts5(grams, content='', detail='none', tokenize='ascii');

INSERT INTO post_search (post_id, body)
    SELECT id, tsudoi_search_fold(text) FROM posts
    WHERE deleted_pos IS NULL AND tsudoi_search_fold(text) != '' ORDER BY id;
INSERT INTO post_search_trigrams (rowid, body) SELECT seq, body FROM post_search;
INSERT INTO post_search_grams (rowid, grams) SELECT seq, tsudoi_search_grams(body) FROM post_search;
