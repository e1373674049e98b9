-- Conversations and their messages, left messages, staff sessions and
-- shared secrets. The conventions of 0001_init.sql hold: times are
-- timestamptz, NULL for the zero time; JSON columns hold what encoding/json
-- made (null for a nil map, {} for an empty one); ids use COLLATE "C".

CREATE TABLE conversations (
    id           text COLLATE "C" PRIMARY KEY,
    interaction  text   NOT NULL,
    queue        text   NOT NULL,
    visitor_name text   NOT NULL,
    attributes   jsonb  NOT NULL, -- object: name -> value
    status       text   NOT NULL,
    last_seq     bigint NOT NULL DEFAULT 0, -- seq of the newest stored message
    created_at   timestamptz,
    updated_at   timestamptz,
    ended_at     timestamptz,
    end_reason   text   NOT NULL
);

-- ListOpenConversations reads this index in order.
CREATE INDEX conversations_open ON conversations (created_at ASC NULLS FIRST, id ASC)
    WHERE status <> 'ended';

CREATE TABLE messages (
    conversation text COLLATE "C" NOT NULL REFERENCES conversations (id),
    seq          bigint NOT NULL,
    client_id    text COLLATE "C", -- NULL when the sender gave none: NULLs never collide
    sender       text COLLATE "C" NOT NULL,
    kind         text   NOT NULL,
    text         text   NOT NULL,
    event        text   NOT NULL,
    data         jsonb  NOT NULL, -- object: name -> value
    created_at   timestamptz,
    PRIMARY KEY (conversation, seq),
    UNIQUE (conversation, sender, client_id)
);

CREATE TABLE left_messages (
    id           text COLLATE "C" PRIMARY KEY,
    queue        text  NOT NULL,
    name         text  NOT NULL,
    email        text  NOT NULL,
    text         text  NOT NULL,
    attributes   jsonb NOT NULL, -- object: name -> value
    conversation text  NOT NULL, -- '' when not left from a conversation
    created_at   timestamptz,
    handled_by   text  NOT NULL, -- '' while open
    handled_at   timestamptz
);

-- ListLeftMessages reads these indexes in order, newest first.
CREATE INDEX left_messages_newest ON left_messages (created_at DESC NULLS LAST, id DESC);
CREATE INDEX left_messages_open ON left_messages (created_at DESC NULLS LAST, id DESC)
    WHERE handled_by = '';

CREATE TABLE sessions (
    token_hash text COLLATE "C" PRIMARY KEY,
    agent      text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at timestamptz,
    expires_at timestamptz -- NULL counts as expired
);

CREATE INDEX sessions_expires ON sessions (expires_at);
-- Deleting an agent finds their sessions through this index.
CREATE INDEX sessions_agent ON sessions (agent);

CREATE TABLE secrets (
    name       text COLLATE "C" PRIMARY KEY,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
