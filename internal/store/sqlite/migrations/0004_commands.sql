-- Client commands remembered under their id (store.CommandStore): the same
-- id sent again, after a restart too, answers the first result. Times are
-- INTEGER Unix nanoseconds (UTC), as in 0001_init.sql.

CREATE TABLE commands (
    principal  TEXT NOT NULL,
    id         TEXT NOT NULL,
    type       TEXT NOT NULL,
    target     TEXT NOT NULL,
    reply      BLOB, -- NULL while the command has not finished
    created_at INTEGER,
    PRIMARY KEY (principal, id)
) STRICT;

-- DeleteCommandsBefore reads this index.
CREATE INDEX commands_created ON commands (created_at);
