-- 0013: follower and following lists, share counts on every card, report categories (issue 17).

-- followers_page: one user's followers, most recent follow first, paged by (created_ms, follower).
CREATE INDEX follows_by_followee_newest ON follows(followee_id, created_ms, follower_id);
-- following_page: whom one user follows, the same order. (The primary key orders by followee.)
CREATE INDEX follows_by_follower_newest ON follows(follower_id, created_ms, followee_id);

-- share_counts: the standing replies, reposts and quotes of a page of posts, counted on read,
-- each count one range of one of these and covered by it (deleted_pos is in the key, so no row
-- is read: about 4 ms for 100 posts with 7,000 replies, reposts and quotes among them).
CREATE INDEX posts_shares_replies ON posts(reply_to, deleted_pos) WHERE reply_to IS NOT NULL;
CREATE INDEX posts_shares_reposts ON posts(repost_of, deleted_pos) WHERE repost_of IS NOT NULL;
CREATE INDEX posts_shares_quotes ON posts(quote_of, deleted_pos) WHERE quote_of IS NOT NULL;

-- A report's kind: spam, harassment, misinformation or other; NULL for none (and older reports).
ALTER TABLE reports ADD COLUMN category TEXT
    CHECK (category IN ('spam', 'harassment', 'misinformation', 'other'));
