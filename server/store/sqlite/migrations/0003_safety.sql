-- 0003: presence visibility and last seen, safety statuses, incidents. Each index says which
-- query it serves (the methods of SqliteStorage's Accounts and Safety).

ALTER TABLE users ADD COLUMN presence_visibility TEXT NOT NULL DEFAULT 'friends'
    CHECK (presence_visibility IN ('friends', 'nobody'));
-- Written behind by presence (record_last_seen), only ever raised.
ALTER TABLE users ADD COLUMN last_seen_ms INTEGER;

-- friend_ids and follower_ids need no new index: friends walk the user's follows by the primary
-- key and look each one up the other way by it too; followers are follows_by_followee.

-- Every read is by user: the newest status of each of many users (the board: one seek to the end
-- of each user's range) and a user's history newest first, paged by id, filtered by audience
-- (a handful of statuses a user: the filter reads the rows in place). So the primary key
-- (user_id, id) is that index, and the rows of one user lie together.
CREATE TABLE safety_statuses (
    user_id           TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('safe', 'need_help', 'evacuating')),
    note              TEXT NOT NULL,
    area              TEXT,
    audience          TEXT NOT NULL CHECK (audience IN ('friends', 'followers', 'everyone')),
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE incidents (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    area              TEXT,
    started_by        TEXT REFERENCES users(id),     -- NULL: started by an operator from the CLI
    started_ms        INTEGER NOT NULL,
    ended_ms          INTEGER                        -- NULL while active
) STRICT;
-- At most one active incident, whoever writes (another server process, the admin CLI): every
-- active row has the same key (the constant 1) in this unique partial index, so a second active
-- row is a constraint violation, not a race. It also finds the active one.
CREATE UNIQUE INDEX incidents_one_active ON incidents ((1)) WHERE ended_ms IS NULL;
