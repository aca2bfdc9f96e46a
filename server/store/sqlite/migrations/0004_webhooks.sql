-- 0004: bots' webhooks and the server's keys (the webhook signing key). Each index says which
-- query it serves (the methods of SqliteStorage's Webhooks).

-- One webhook per bot, keyed by the bot. Cursors: the last position the endpoint acknowledged
-- on each stream, only ever raised. The lease says which node delivers it and until when.
CREATE TABLE webhooks (
    user_id               TEXT PRIMARY KEY REFERENCES users(id),
    url                   TEXT NOT NULL,
    created_ms            INTEGER NOT NULL,
    cursor_following      TEXT NOT NULL,
    cursor_direct         TEXT NOT NULL,
    cursor_notifications  TEXT NOT NULL,
    failures              INTEGER NOT NULL DEFAULT 0,
    last_error            TEXT,
    lease_owner           TEXT,
    lease_until_ms        INTEGER NOT NULL DEFAULT 0
) STRICT;
-- claim_webhooks reads the whole (small) table: there is one row per bot with a webhook.

CREATE TABLE server_keys (
    name                  TEXT PRIMARY KEY,
    value                 BLOB NOT NULL
) STRICT;
