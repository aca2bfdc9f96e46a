-- 0017 (issue 17): handle changes, and deletions that survive a crash.
-- When the handle was last changed: the cooldown between changes is counted from it.
ALTER TABLE users ADD COLUMN handle_changed_ms INTEGER;
-- An account's former handles, its own for good (PROTOCOL.md 4.1.x account.handle): nobody else
-- may take one, and a lookup by one finds the account, so old mentions still lead to it.
-- get_user_by_handle and the taken checks read it by primary key.
CREATE TABLE former_handles (
    handle_key TEXT PRIMARY KEY,              -- lower-cased, as users.handle_key
    handle     TEXT NOT NULL,                 -- as it was written
    user_id    TEXT NOT NULL REFERENCES users(id),
    until_ms   INTEGER NOT NULL               -- when the account stopped using it
) WITHOUT ROWID;
-- An account deletion not finished yet (server/domain/farewell.py): NULL when there is none,
-- else until when a node has claimed it (0: unclaimed). Set with the tombstone, cleared when
-- every step has run; the sweep finds the rest through the partial index.
ALTER TABLE users ADD COLUMN deletion_lease_ms INTEGER;
CREATE INDEX users_unfinished_deletions ON users(deletion_lease_ms) WHERE deletion_lease_ms IS NOT NULL;
-- Tombstones of before may have been left half-way (a node stopped mid-deletion): run their
-- steps again; on a finished one they find nothing left to do.
UPDATE users SET deletion_lease_ms = 0 WHERE deleted = 1;
