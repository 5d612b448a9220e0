-- Every row a worker writes names the attempt that wrote it, and is written only while that
-- attempt holds the job's lease (the store's INSERTs select from `jobs` guarded by
-- `state = 'running' AND lease_token = ?`). The attempt id on metrics and artifacts lets anyone
-- check afterwards that no row was written by an attempt after it ended (`stale_writes` below).
-- Rows written before this migration have NULL here.
ALTER TABLE metrics ADD COLUMN attempt_id BIGINT REFERENCES attempts(id) ON DELETE CASCADE;
ALTER TABLE artifacts ADD COLUMN attempt_id BIGINT REFERENCES attempts(id) ON DELETE CASCADE;

-- Rows recorded after the attempt that wrote them had already ended (expired, released, …).
-- Empty when fencing holds; `apoctl bench chaos` fails on any row here.
CREATE VIEW stale_writes AS
SELECT 'log_line' AS what, l.job_id, l.attempt_id, l.logged_at AS written_at, a.finished_at AS attempt_finished_at
FROM log_lines l JOIN attempts a ON a.id = l.attempt_id
WHERE l.stream <> 'runtime' AND a.finished_at IS NOT NULL AND l.logged_at > a.finished_at
UNION ALL
SELECT 'metric', m.job_id, m.attempt_id, m.recorded_at, a.finished_at
FROM metrics m JOIN attempts a ON a.id = m.attempt_id
WHERE a.finished_at IS NOT NULL AND m.recorded_at > a.finished_at
UNION ALL
SELECT 'artifact', r.job_id, r.attempt_id, r.created_at, a.finished_at
FROM artifacts r JOIN attempts a ON a.id = r.attempt_id
WHERE a.finished_at IS NOT NULL AND r.created_at > a.finished_at;
