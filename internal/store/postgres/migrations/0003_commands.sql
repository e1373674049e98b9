-- Client commands remembered under their id (store.CommandStore): the same
-- id sent again, after a restart too, answers the first result.

CREATE TABLE commands (
    principal  text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    type       text NOT NULL,
    target     text NOT NULL,
    reply      bytea, -- NULL while the command has not finished
    created_at timestamptz,
    PRIMARY KEY (principal, id)
);

-- DeleteCommandsBefore reads this index.
CREATE INDEX commands_created ON commands (created_at);
