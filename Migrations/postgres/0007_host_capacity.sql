-- What each apod offers (many hosts may share one PostgreSQL database): its host's name (from
-- `apod --host`, default the machine's name), CPU threads, memory and labels (`apod --label k=v`).
-- A job's `resources:` (memory_mb, labels) decide which hosts' workers may claim it; `apoctl hosts`
-- lists them. Rows written before this migration offer what the machine had, unknown here: NULL.
ALTER TABLE daemons ADD COLUMN threads INTEGER;
ALTER TABLE daemons ADD COLUMN memory_mb INTEGER;
ALTER TABLE daemons ADD COLUMN labels_json TEXT NOT NULL DEFAULT '{}';
