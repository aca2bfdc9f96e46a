-- 0012: hashtags (issue 17). A post's hashtags, normalised (protocol.text.hashtags: NFKC, then
-- case-folded), one row each, written with the post (Posts._insert_post) so that a tag's posts
-- can be paged newest first (timeline.tag). The entities a post shows are found again in its
-- text whenever it is presented; this table is only the index of the tags.
--
-- Numbered 0012, not 0011: issue 17's search works on a migration of its own in parallel.
CREATE TABLE post_tags (
    tag      TEXT NOT NULL,
    -- Posts are marked deleted, not removed; should a post row ever be removed (an account's
    -- erasure), its tags go with it.
    post_id  TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    PRIMARY KEY (tag, post_id)
) STRICT, WITHOUT ROWID;
-- The primary key serves tag_timeline: one tag's posts, walked by id from the newest back.

-- The posts written before: the grammar is Python's (tsudoi_hashtags, registered by
-- Engine._migrate), and only a text with a "#" or a full-width "＃" can hold a tag.
INSERT OR IGNORE INTO post_tags (tag, post_id)
SELECT found.value, posts.id FROM posts, json_each(tsudoi_hashtags(posts.text)) AS found
WHERE instr(posts.text, '#') > 0 OR instr(posts.text, '＃') > 0;
