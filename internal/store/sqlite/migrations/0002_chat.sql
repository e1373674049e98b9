-- Conversations and their messages, left messages, staff sessions and
-- shared secrets. The conventions of 0001_init.sql hold: times are INTEGER
-- Unix nanoseconds (UTC), NULL for the zero time; JSON columns hold what
-- encoding/json made (null for a nil map, {} for an empty one).

CREATE TABLE conversations (
    id           TEXT    NOT NULL PRIMARY KEY,
    interaction  TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    visitor_name TEXT    NOT NULL,
    attributes   TEXT    NOT NULL, -- JSON object: name -> value
    status       TEXT    NOT NULL,
    last_seq     INTEGER NOT NULL DEFAULT 0, -- seq of the newest stored message
    created_at   INTEGER,
    updated_at   INTEGER,
    ended_at     INTEGER,
    end_reason   TEXT    NOT NULL
) STRICT;

-- ListOpenConversations reads this index in order.
CREATE INDEX conversations_open ON conversations (created_at ASC, id ASC)
    WHERE status <> 'ended';

CREATE TABLE messages (
    conversation TEXT    NOT NULL REFERENCES conversations (id),
    seq          INTEGER NOT NULL,
    client_id    TEXT, -- NULL when the sender gave none: NULLs never collide
    sender       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    data         TEXT    NOT NULL, -- JSON object: name -> value
    created_at   INTEGER,
    PRIMARY KEY (conversation, seq),
    UNIQUE (conversation, sender, client_id)
) STRICT;

CREATE TABLE left_messages (
    id           TEXT    NOT NULL PRIMARY KEY,
    queue        TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    attributes   TEXT    NOT NULL, -- JSON object: name -> value
    conversation TEXT    NOT NULL, -- '' when not left from a conversation
    created_at   INTEGER,
    handled_by   TEXT    NOT NULL, -- '' while open
    handled_at   INTEGER
) STRICT;

-- ListLeftMessages reads these indexes in order, newest first.
CREATE INDEX left_messages_newest ON left_messages (created_at DESC, id DESC);
CREATE INDEX left_messages_open ON left_messages (created_at DESC, id DESC)
    WHERE handled_by = '';

CREATE TABLE sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    agent      TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at INTEGER,
    expires_at INTEGER -- NULL counts as expired
) STRICT;

CREATE INDEX sessions_expires ON sessions (expires_at);
-- Deleting an agent finds their sessions through this index.
CREATE INDEX sessions_agent ON sessions (agent);

CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL -- set by the store
) STRICT;
