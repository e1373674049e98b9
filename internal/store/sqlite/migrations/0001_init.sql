-- Migrations are never edited once they have landed: databases out there have
-- already applied them. To change the schema, add a new file with the next
-- number (0002_what_it_does.sql). Each file runs once, inside a transaction,
-- in version order, and is recorded in schema_migrations.
--
-- Times are INTEGER Unix nanoseconds (UTC), NULL for the zero time. JSON
-- columns hold what encoding/json made: null for a nil map or slice, {} or []
-- for an empty one. Text compares bytewise (BINARY), as with COLLATE "C" on
-- PostgreSQL.

CREATE TABLE agents (
    id                TEXT    NOT NULL PRIMARY KEY,
    display_name      TEXT    NOT NULL,
    password_hash     TEXT    NOT NULL,
    roles             TEXT    NOT NULL, -- JSON array of roles
    skills            TEXT    NOT NULL, -- JSON object: skill -> level
    capacity          TEXT    NOT NULL, -- JSON object: channel -> count
    voice_blocks_chat INTEGER NOT NULL,
    presence          TEXT    NOT NULL,
    away_reason       TEXT    NOT NULL,
    presence_since    INTEGER,
    created_at        INTEGER,
    updated_at        INTEGER
) STRICT;

CREATE TABLE queues (
    id         TEXT    NOT NULL PRIMARY KEY,
    config     TEXT    NOT NULL, -- JSON of routing.QueueConfig
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE interactions (
    id              TEXT    NOT NULL PRIMARY KEY,
    channel         TEXT    NOT NULL,
    queue           TEXT    NOT NULL,
    skills          TEXT    NOT NULL, -- JSON array of skill requirements
    preferred_agent TEXT    NOT NULL,
    priority        INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    agent           TEXT    NOT NULL,
    attributes      TEXT    NOT NULL, -- JSON object: name -> value
    created_at      INTEGER,
    enqueued_at     INTEGER,
    accepted_at     INTEGER,
    ended_at        INTEGER,
    end_reason      TEXT    NOT NULL
) STRICT;

-- ListOpenInteractions reads this index in order.
CREATE INDEX interactions_open ON interactions (priority DESC, enqueued_at ASC, id ASC)
    WHERE status <> 'ended';

CREATE TABLE events (
    seq         INTEGER NOT NULL PRIMARY KEY,
    time        INTEGER,
    type        TEXT    NOT NULL,
    interaction TEXT    NOT NULL,
    queue       TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    wait_ns     INTEGER NOT NULL,
    handle_ns   INTEGER NOT NULL
) STRICT;

CREATE INDEX events_interaction ON events (interaction, seq);
