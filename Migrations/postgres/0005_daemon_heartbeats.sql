-- One row per running `apod`, so that readers (`apoctl watch`, `logs -f`) can tell a run that waits
-- for a busy daemon from a run that no daemon serves (a typo in --db, apod never started or dead).
-- apod upserts its row every couple of seconds and deletes it when it stops cleanly; a killed
-- apod leaves a row whose `last_heartbeat_at` simply stops moving. Advisory only: nothing in the
-- queue reads this table, and leases never depend on it.
CREATE TABLE daemons (
    id                 TEXT PRIMARY KEY NOT NULL,   -- "host:pid"
    host               TEXT NOT NULL,
    pid                INTEGER NOT NULL,
    workers            INTEGER NOT NULL CHECK (workers >= 0),
    started_at         DOUBLE PRECISION NOT NULL,
    last_heartbeat_at  DOUBLE PRECISION NOT NULL
);
