-- 0013: follower and following lists, share counts on every card, report categories (issue 17).

-- followers_page: one user's followers, most recent follow first, paged by (created_ms, follower).
CREATE INDEX follows_by_followee_newest ON follows(followee_id, created_ms, follower_id);
-- following_page: whom one user follows, the same order. (The primary key orders by followee.)
CREATE INDEX follows_by_follower_newest ON follows(follower_id, created_ms, followee_id);

-- share_counts: every post keeps its standing replies, reposts and quotes, changed in the same
-- transaction as the post that replies, reposts or quotes is stored or deleted (posts.py,
-- _count_shares). Kept rather than counted on read: counting a page of 100 posts with 7,000
-- replies, reposts and quotes among them doubled the time to present the page (3 to 6 ms), where
-- reading three columns of 100 rows by primary key costs a fraction of a millisecond.
ALTER TABLE posts ADD COLUMN replies_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN reposts_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN quotes_count INTEGER NOT NULL DEFAULT 0;
-- The posts stored before this migration: counted once, in one pass over the table.
UPDATE posts SET replies_count = tally.replies, reposts_count = tally.reposts, quotes_count = tally.quotes
FROM (
    SELECT parent, sum(kind = 0) AS replies, sum(kind = 1) AS reposts, sum(kind = 2) AS quotes
    FROM (
        SELECT reply_to AS parent, 0 AS kind FROM posts WHERE reply_to IS NOT NULL AND deleted_pos IS NULL
        UNION ALL SELECT repost_of, 1 FROM posts WHERE repost_of IS NOT NULL AND deleted_pos IS NULL
        UNION ALL SELECT quote_of, 2 FROM posts WHERE quote_of IS NOT NULL AND deleted_pos IS NULL
    )
    GROUP BY parent
) AS tally
WHERE posts.id = tally.parent;

-- A report's kind: spam, harassment, misinformation or other; NULL for none (and older reports).
ALTER TABLE reports ADD COLUMN category TEXT
    CHECK (category IN ('spam', 'harassment', 'misinformation', 'other'));
