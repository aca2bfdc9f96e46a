-- 0010: faces and pictures (issue 16). A profile gains a bio, interests and a profile picture;
-- posts and messages carry their pictures; uploads wait in `media` until attached or expired.
--
-- A post's or message's pictures are stored with it, as a JSON array of the attached media
-- records (server/store/sqlite/rows.py, _media_json): what a timeline shows needs no second
-- read, and an attached picture never changes. The `media` table is the picture's life: an
-- upload waiting (subject NULL, expires_ms set), then attached ("post:<id>", "message:<c>:<m>",
-- "avatar:<user>"), then detached again when what held it goes (subject NULL, expires_ms the
-- moment), until the collector releases its blobs and deletes it.

ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN interests TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN avatar_id TEXT;
ALTER TABLE users ADD COLUMN avatar_placeholder TEXT;
ALTER TABLE posts ADD COLUMN media TEXT;
ALTER TABLE messages ADD COLUMN media TEXT;

CREATE TABLE media (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL,
    -- width, height, placeholder, animated, display and thumbnail, as JSON (rows._media_json).
    body         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER,
    subject      TEXT,
    alt          TEXT
) STRICT;
-- add_media's bound: an owner's waiting uploads.
CREATE INDEX media_waiting_by_owner ON media(owner_id, expires_ms) WHERE subject IS NULL;
-- expired_media: the collector's walk, earliest first.
CREATE INDEX media_waiting_by_expiry ON media(expires_ms) WHERE subject IS NULL;
-- detach_media: what a deleted post held.
CREATE INDEX media_by_subject ON media(subject) WHERE subject IS NOT NULL;
