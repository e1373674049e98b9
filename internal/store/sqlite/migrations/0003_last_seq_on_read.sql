-- A conversation's last seq is read from its messages (the primary key
-- (conversation, seq) gives the highest in one seek) instead of being kept
-- in conversations.last_seq: updating that row with every batch of
-- messages was a third of the cost of storing a message under load.
ALTER TABLE conversations DROP COLUMN last_seq;
