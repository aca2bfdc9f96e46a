-- 0014: the signed-in sessions list (issue 17): each session's device, described from the
-- User-Agent it was started with, and when it was last used (written behind, about once a
-- minute). Sessions of before read as an unknown device, not used since they started.
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_ms INTEGER;
-- list_sessions: one user's sessions newest first (the old sessions_by_user served only
-- revoke_user_sessions, whose prefix this index also serves).
CREATE INDEX sessions_by_user_newest ON sessions(user_id, id);
DROP INDEX sessions_by_user;
-- Deleted accounts stay as tombstones (PROTOCOL.md 11.14): the handle reserved, the messages
-- they wrote attributed to "a deleted account".
ALTER TABLE users ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
