-- Every apod that ever served this database, kept after it stops: `daemons` holds only the
-- running ones. A session is one daemon process from start to stop; `stopped_at` is set by a clean
-- stop, so a session without it whose heartbeat stopped was lost (killed, machine gone). What a
-- run's history says about it: how many sessions served it and how many ended before it did,
-- i.e. how many times it was resumed. Advisory, like `daemons`: the queue never reads it.
CREATE TABLE daemon_sessions (
    session            TEXT PRIMARY KEY NOT NULL,   -- "host:pid@start", start in ms on the daemon's clock
    daemon             TEXT NOT NULL,               -- "host:pid", as daemons.id
    host               TEXT NOT NULL,
    started_at         REAL NOT NULL,
    last_heartbeat_at  REAL NOT NULL,
    stopped_at         REAL
);
CREATE INDEX daemon_sessions_by_time ON daemon_sessions (started_at);
