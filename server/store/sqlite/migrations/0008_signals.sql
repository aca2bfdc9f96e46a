-- 0008: bus messages relayed through storage (server/relay.py). An operator's command runs in a
-- process of its own; without a shared bus (no Redis) it leaves what it would publish here, and
-- each node reads what is new every operator poll. Ids are time-ordered, so the primary key
-- serves both the read of the recent ones and the deletion of the old ones.

CREATE TABLE signals (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
