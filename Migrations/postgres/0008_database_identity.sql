-- Which database this is. A run's folder records the identity of the database whose run it holds
-- (`<run folder>/.apo-owner.json`), so that the workers of a *copy* of the database (a file copied
-- to look at it, a backup restored beside the original) refuse to write into the original's run
-- folders: the copy hands out the same attempt ids, and an attempt takes over the staging and
-- checkpoint folders of earlier ids. One row, made on first use.
-- On SQLite the row also records the file the identity was last confirmed in (real path, device, inode): a
-- database found in another file while the recorded file still exists is a copy and takes a new
-- identity; one whose recorded file is gone was moved and keeps its identity. Here, on PostgreSQL,
-- the file columns stay NULL: a dump restored into another database keeps the identity, and
-- `apoctl adopt-folder RUN` hands a run's folder over explicitly.
CREATE TABLE database_identity (
    singleton    INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    id           TEXT NOT NULL,
    file_path    TEXT,
    file_device  BIGINT,
    file_inode   BIGINT,
    created_at   DOUBLE PRECISION NOT NULL
);
