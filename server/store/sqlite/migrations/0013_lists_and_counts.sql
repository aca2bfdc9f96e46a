-- 0013: follower and following lists, share counts on every card, report categories (issue 17).

-- followers_page: one user's followers, most recent follow first, paged by (created_ms, follower).
CREATE INDEX follows_by_followee_newest ON follows(followee_id, created_ms, follower_id);
-- following_page: whom one user follows, the same order. (The primary key orders by followee.)
CREATE INDEX follows_by_follower_newest ON follows(follower_id, created_ms, followee_id);

-- share_counts: the standing reposts and quotes of a page of posts, counted on read, each count
-- one range of these. Replies are counted by posts_standing_replies (0002).
CREATE INDEX posts_standing_reposts_of ON posts(repost_of)
    WHERE repost_of IS NOT NULL AND deleted_pos IS NULL;
CREATE INDEX posts_standing_quotes_of ON posts(quote_of)
    WHERE quote_of IS NOT NULL AND deleted_pos IS NULL;

-- A report's kind: spam, harassment, misinformation or other; NULL for none (and older reports).
ALTER TABLE reports ADD COLUMN category TEXT
    CHECK (category IN ('spam', 'harassment', 'misinformation', 'other'));
