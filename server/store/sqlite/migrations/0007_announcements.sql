-- 0007: an announcement is stored once. Until now announcing in a community of 2,000 wrote 2,000
-- notification rows, encoded and published 2,000 events, in the request and on the one writer.
-- Now create_announcement writes its notification once, with the post, and a member's
-- notifications are their own rows and the announcements of the communities they are in now,
-- made after they joined and not by them (notifications.py). Each member's read state of an
-- announcement is theirs: a row here when they read one, and a mark when they read them all.

CREATE TABLE community_notifications (
    id                TEXT PRIMARY KEY,              -- its place in every member's stream
    community_id      TEXT NOT NULL REFERENCES communities(id),
    kind              TEXT NOT NULL,
    actor_id          TEXT REFERENCES users(id),
    post_id           TEXT REFERENCES posts(id),
    created_ms        INTEGER NOT NULL
) STRICT;
CREATE INDEX community_notifications_in_order ON community_notifications(community_id, id);

-- Announcements a user read one by one, after their mark (those at or before it are read).
CREATE TABLE notification_reads (
    user_id           TEXT NOT NULL REFERENCES users(id),
    notification_id   TEXT NOT NULL,
    PRIMARY KEY (user_id, notification_id)
) STRICT, WITHOUT ROWID;

-- "Mark all read": every announcement up to read_through is read for this user.
CREATE TABLE notification_marks (
    user_id           TEXT PRIMARY KEY REFERENCES users(id),
    read_through      TEXT NOT NULL
) STRICT, WITHOUT ROWID;
