-- 0001: accounts, invites, sessions, follows, posts.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    handle            TEXT NOT NULL,
    handle_key        TEXT NOT NULL UNIQUE,          -- lower-cased handle: unique regardless of case
    display_name      TEXT NOT NULL,
    password_hash     TEXT NOT NULL,                 -- argon2id, PHC string
    birth_date        TEXT NOT NULL,                 -- YYYY-MM-DD, checked 18+ at sign-up
    terms_accepted_ms INTEGER NOT NULL,
    created_ms        INTEGER NOT NULL,
    invited_by        TEXT REFERENCES users(id),     -- the invite tree, kept for moderation
    operator          INTEGER NOT NULL DEFAULT 0,
    verified          INTEGER NOT NULL DEFAULT 0,
    bot               INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX users_by_inviter ON users(invited_by);

CREATE TABLE invites (
    code              TEXT PRIMARY KEY,
    inviter_id        TEXT REFERENCES users(id),     -- NULL: made by an operator from the CLI
    created_ms        INTEGER NOT NULL,
    expires_ms        INTEGER NOT NULL,
    used_by           TEXT REFERENCES users(id),
    used_ms           INTEGER,
    grants_operator   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX invites_by_inviter ON invites(inviter_id, created_ms);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    token_hash        BLOB NOT NULL UNIQUE,          -- SHA-256 of the token; the token is never stored
    user_id           TEXT NOT NULL REFERENCES users(id),
    created_ms        INTEGER NOT NULL,
    expires_ms        INTEGER NOT NULL,
    revoked_ms        INTEGER
) STRICT;
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE follows (
    follower_id       TEXT NOT NULL REFERENCES users(id),
    followee_id       TEXT NOT NULL REFERENCES users(id),
    created_ms        INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX follows_by_followee ON follows(followee_id, follower_id);

CREATE TABLE posts (
    id                TEXT PRIMARY KEY,              -- also its position in followers' streams
    author_id         TEXT NOT NULL REFERENCES users(id),
    text              TEXT NOT NULL,
    emotext           TEXT,
    reply_to          TEXT REFERENCES posts(id),
    created_ms        INTEGER NOT NULL,
    deleted_pos       TEXT                           -- stream position of the deletion
) STRICT;
CREATE INDEX posts_by_author ON posts(author_id, id);
CREATE INDEX posts_by_author_deletion ON posts(author_id, deleted_pos) WHERE deleted_pos IS NOT NULL;
