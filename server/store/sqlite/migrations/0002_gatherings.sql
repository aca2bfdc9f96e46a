-- 0002: communities, reposts and quotes, reactions, direct messages, notifications, blocks,
-- mutes, reports. Each index says which query it serves (the methods of SqliteStorage).

ALTER TABLE users ADD COLUMN dm_policy TEXT NOT NULL DEFAULT 'everyone'
    CHECK (dm_policy IN ('everyone', 'following', 'nobody'));

CREATE TABLE communities (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    name_key          TEXT NOT NULL,                 -- str.casefold() of the name: search compares these
    description       TEXT NOT NULL,
    tags              TEXT NOT NULL,                 -- JSON array, in the creator's order
    approval_required INTEGER NOT NULL,
    certified         INTEGER NOT NULL DEFAULT 0,
    owner_id          TEXT NOT NULL REFERENCES users(id),
    created_ms        INTEGER NOT NULL,
    member_count      INTEGER NOT NULL               -- kept by every write to memberships
) STRICT;
-- Search walks communities biggest first and stops after a page of matches.
CREATE INDEX communities_by_size ON communities(member_count DESC, id);

-- The tag filter of search (tags are never edited, so this copy of communities.tags stays true).
CREATE TABLE community_tags (
    tag               TEXT NOT NULL,
    community_id      TEXT NOT NULL REFERENCES communities(id),
    PRIMARY KEY (tag, community_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE memberships (
    community_id      TEXT NOT NULL REFERENCES communities(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,                 -- issued on joining: members page in this order
    role              TEXT NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    joined_ms         INTEGER NOT NULL,
    PRIMARY KEY (community_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX memberships_in_order ON memberships(community_id, id);
-- A user's communities in joining order; with the primary key's community_id it covers the
-- following stream's "communities I am in".
CREATE INDEX memberships_by_user ON memberships(user_id, id);

CREATE TABLE join_requests (
    community_id      TEXT NOT NULL REFERENCES communities(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,                 -- breaks ties of created_ms: oldest first
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (community_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE bans (
    community_id      TEXT NOT NULL REFERENCES communities(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    by_id             TEXT NOT NULL REFERENCES users(id),
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (community_id, user_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE posts ADD COLUMN community_id TEXT REFERENCES communities(id);
ALTER TABLE posts ADD COLUMN repost_of TEXT REFERENCES posts(id);
ALTER TABLE posts ADD COLUMN quote_of TEXT REFERENCES posts(id);
ALTER TABLE posts ADD COLUMN announcement INTEGER NOT NULL DEFAULT 0;

-- The following stream and timeline read two kinds of source: an author's posts made outside
-- communities, and a community's posts. Standing posts of each are in a partial index of
-- (source, id), which alone answers "which ids, in what order" (no table row is read until
-- the page is chosen); deletions are in a partial index of (source, deleted_pos).
DROP INDEX posts_by_author;
DROP INDEX posts_by_author_deletion;
CREATE INDEX posts_standing_by_author ON posts(author_id, id)
    WHERE community_id IS NULL AND deleted_pos IS NULL;
CREATE INDEX posts_deleted_by_author ON posts(author_id, deleted_pos)
    WHERE community_id IS NULL AND deleted_pos IS NOT NULL;
CREATE INDEX posts_standing_in_community ON posts(community_id, id)
    WHERE community_id IS NOT NULL AND deleted_pos IS NULL;
CREATE INDEX posts_deleted_in_community ON posts(community_id, deleted_pos)
    WHERE community_id IS NOT NULL AND deleted_pos IS NOT NULL;
-- A thread's direct replies, oldest first.
CREATE INDEX posts_standing_replies ON posts(reply_to, id)
    WHERE reply_to IS NOT NULL AND deleted_pos IS NULL;
-- Whether a user has reposted a post already (one repost per user and post).
CREATE INDEX posts_standing_reposts ON posts(author_id, repost_of, id)
    WHERE repost_of IS NOT NULL AND deleted_pos IS NULL;

CREATE TABLE reactions (
    post_id           TEXT NOT NULL REFERENCES posts(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    emoji             TEXT NOT NULL,
    id                TEXT NOT NULL,                 -- the order a user's reactions were added
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji)          -- serves every reaction query: all are by post
) STRICT, WITHOUT ROWID;

CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    title             TEXT,
    owner_id          TEXT REFERENCES users(id),     -- NULL for direct conversations
    created_ms        INTEGER NOT NULL,
    last_message_id   TEXT NOT NULL,
    pair_key          TEXT UNIQUE                    -- direct: '<lower id>:<higher id>', one per pair
) STRICT;

CREATE TABLE conversation_members (
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,                 -- issued on joining: members list in this order
    joined_ms         INTEGER NOT NULL,
    last_read         TEXT,                          -- read marker: a message id, only moves forward
    PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;
-- A user's conversations (the direct stream, the conversation list).
CREATE INDEX conversation_members_by_user ON conversation_members(user_id, conversation_id);

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,              -- also its position in members' direct streams
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    author_id         TEXT NOT NULL REFERENCES users(id),
    kind              TEXT NOT NULL CHECK (kind IN ('text', 'created', 'added', 'removed', 'left')),
    text              TEXT NOT NULL,
    subject_id        TEXT REFERENCES users(id),
    created_ms        INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_in_conversation ON messages(conversation_id, id);

CREATE TABLE notifications (
    id                TEXT PRIMARY KEY,              -- also its position in the notification stream
    user_id           TEXT NOT NULL REFERENCES users(id),
    kind              TEXT NOT NULL,
    actor_id          TEXT REFERENCES users(id),
    post_id           TEXT REFERENCES posts(id),
    community_id      TEXT REFERENCES communities(id),
    emoji             TEXT,
    created_ms        INTEGER NOT NULL,
    read              INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX notifications_by_user ON notifications(user_id, id);
-- Unread counts and "mark all read" touch only the unread ones.
CREATE INDEX notifications_unread ON notifications(user_id, id) WHERE read = 0;

CREATE TABLE blocks (
    blocker_id        TEXT NOT NULL REFERENCES users(id),
    blocked_id        TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,                 -- breaks ties of created_ms: most recent first
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
) STRICT, WITHOUT ROWID;
-- Who blocks a user (hidden from them both ways).
CREATE INDEX blocks_by_blocked ON blocks(blocked_id, blocker_id);

CREATE TABLE mutes (
    user_id           TEXT NOT NULL REFERENCES users(id),
    target_id         TEXT NOT NULL REFERENCES users(id),
    id                TEXT NOT NULL,                 -- breaks ties of created_ms: most recent first
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (user_id, target_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE reports (
    id                TEXT PRIMARY KEY,
    reporter_id       TEXT NOT NULL REFERENCES users(id),
    post_id           TEXT REFERENCES posts(id),
    user_id           TEXT REFERENCES users(id),
    reason            TEXT NOT NULL,
    created_ms        INTEGER NOT NULL,
    resolved_ms       INTEGER
) STRICT;
-- The operators' queue: open reports, newest first.
CREATE INDEX reports_open ON reports(id) WHERE resolved_ms IS NULL;
