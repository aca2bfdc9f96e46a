-- 0005: a user's own posts for their profile page (user_timeline). Each index says which query it
-- serves (the methods of SqliteStorage).

-- user_timeline reads an author's standing posts newest first from two partial indexes, merged:
-- those outside communities from posts_standing_by_author (0002), and those in communities from
-- this one, which leaves out everything but the author's standing community posts.
CREATE INDEX posts_standing_by_author_in_community ON posts(author_id, id)
    WHERE community_id IS NOT NULL AND deleted_pos IS NULL;
