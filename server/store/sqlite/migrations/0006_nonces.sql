-- 0006: idempotent post.create and dm.send (protocol 1.5.0). A client's nonce is stored with the
-- post or message it made, for as long as that row exists (a deleted post keeps its row, and so
-- its nonce). Each unique index is how a retry is recognised, and how concurrent retries, from
-- this process or another, store one row (create_post, add_message); it also serves the lookup
-- (post_by_nonce, message_by_nonce). Rows without a nonce (NULL) are left out of both.

ALTER TABLE posts ADD COLUMN nonce TEXT;
CREATE UNIQUE INDEX posts_by_author_nonce ON posts(author_id, nonce) WHERE nonce IS NOT NULL;

ALTER TABLE messages ADD COLUMN nonce TEXT;
CREATE UNIQUE INDEX messages_by_author_nonce ON messages(conversation_id, author_id, nonce)
    WHERE nonce IS NOT NULL;
