-- Migrations are never edited once they have landed: databases out there have
-- already applied them. To change the schema, add a new file with the next
-- number (0002_what_it_does.sql). Each file runs once, inside a transaction
-- holding an advisory lock, in version order, and is recorded in
-- schema_migrations.
--
-- Times are timestamptz (microseconds), NULL for the zero time. JSON columns
-- hold what encoding/json made: null for a nil map or slice, {} or [] for an
-- empty one. Ids use COLLATE "C" so that "ordered by id" is bytewise, as on
-- SQLite, whatever the database's locale.

CREATE TABLE agents (
    id                text COLLATE "C" PRIMARY KEY,
    display_name      text    NOT NULL,
    password_hash     text    NOT NULL,
    roles             jsonb   NOT NULL, -- array of roles
    skills            jsonb   NOT NULL, -- object: skill -> level
    capacity          jsonb   NOT NULL, -- object: channel -> count
    voice_blocks_chat boolean NOT NULL,
    presence          text    NOT NULL,
    away_reason       text    NOT NULL,
    presence_since    timestamptz,
    created_at        timestamptz,
    updated_at        timestamptz
);

CREATE TABLE queues (
    id         text COLLATE "C" PRIMARY KEY,
    config     jsonb       NOT NULL, -- routing.QueueConfig
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE interactions (
    id              text COLLATE "C" PRIMARY KEY,
    channel         text    NOT NULL,
    queue           text    NOT NULL,
    skills          jsonb   NOT NULL, -- array of skill requirements
    preferred_agent text    NOT NULL,
    priority        integer NOT NULL,
    status          text    NOT NULL,
    agent           text    NOT NULL,
    attributes      jsonb   NOT NULL, -- object: name -> value
    created_at      timestamptz,
    enqueued_at     timestamptz,
    accepted_at     timestamptz,
    ended_at        timestamptz,
    end_reason      text    NOT NULL
);

-- ListOpenInteractions reads this index in order.
CREATE INDEX interactions_open ON interactions (priority DESC, enqueued_at ASC NULLS FIRST, id ASC)
    WHERE status <> 'ended';

CREATE TABLE events (
    seq         bigint PRIMARY KEY,
    time        timestamptz,
    type        text    NOT NULL,
    interaction text    NOT NULL,
    queue       text    NOT NULL,
    agent       text    NOT NULL,
    channel     text    NOT NULL,
    target      text    NOT NULL,
    mode        text    NOT NULL,
    reason      text    NOT NULL,
    state       text    NOT NULL,
    priority    integer NOT NULL,
    step        integer NOT NULL,
    wait_ns     bigint  NOT NULL,
    handle_ns   bigint  NOT NULL
);

CREATE INDEX events_interaction ON events (interaction, seq);
