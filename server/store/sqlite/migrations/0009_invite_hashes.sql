-- 0009: invite codes are stored as hashes, as session tokens are: a copy of the database (a
-- backup, a leaked file) must not hand out usable invites. An invite is found by the SHA-256 of
-- its code (token_hash, server/store/records.py); its first four characters stay in the clear
-- so that an inviter can tell their invites apart in a list. Existing codes are hashed in place
-- by tsudoi_sha256(), the same function, which the engine provides to migrations; they keep
-- working. The table is rebuilt (its primary key changes), its rows copied in rowid order so
-- that list_invites' tie-break (rowid) is unchanged. Migrations run with secure_delete on (see
-- Engine._migrate), so the old table's pages are zeroed as they are freed: no copy of a code
-- stays in the file.

CREATE TABLE invites_hashed (
    code_hash         BLOB PRIMARY KEY,
    code_prefix       TEXT NOT NULL,
    inviter_id        TEXT REFERENCES users(id),
    created_ms        INTEGER NOT NULL,
    expires_ms        INTEGER NOT NULL,
    used_by           TEXT REFERENCES users(id),
    used_ms           INTEGER,
    grants_operator   INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO invites_hashed
    (code_hash, code_prefix, inviter_id, created_ms, expires_ms, used_by, used_ms, grants_operator)
SELECT tsudoi_sha256(code), substr(code, 1, 4), inviter_id, created_ms, expires_ms, used_by,
       used_ms, grants_operator
FROM invites ORDER BY rowid;

DROP TABLE invites;
ALTER TABLE invites_hashed RENAME TO invites;
CREATE INDEX invites_by_inviter ON invites(inviter_id, created_ms);
