-- 0015: Web Push (issue 19). Browsers' push subscriptions, each bound to the session that
-- subscribed (deleted with it); one endpoint belongs to one account at a time.
CREATE TABLE push_subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    expiration_ms INTEGER,
    created_ms INTEGER NOT NULL
);
-- push_subscriptions (one person's devices at fan-out), save_push_subscription's bound.
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id, id);
-- The session revocations' deletes.
CREATE INDEX push_subscriptions_by_session ON push_subscriptions(session_id);
-- Preferences of those who changed them: the kinds switched off, as a JSON array.
CREATE TABLE push_preferences (
    user_id TEXT PRIMARY KEY,
    off TEXT NOT NULL DEFAULT '[]',
    previews INTEGER NOT NULL DEFAULT 0
);
-- The queue of pushes to send: one row per (event, subscription), taken out once sent, given
-- up or dropped.
CREATE TABLE push_queue (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    urgency TEXT NOT NULL,
    payload BLOB NOT NULL,
    due_ms INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
-- due_pushes: the sender's next page, most urgent first; due_ms is filtered within a priority.
CREATE INDEX push_queue_by_priority ON push_queue(priority, id);
-- The cluster's one push lease (the sending node).
CREATE TABLE push_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
