-- Among ready jobs of equal priority, the claim now takes the older run first and, within a run,
-- the job with the longest chain of jobs still to come after it (itself included), then the
-- lower id. Before, it took the lower id: in a wide DAG (a matrix of seeds, two arms of a game)
-- short side branches ran first while the longest chain waited, and the run's last hour had one
-- busy worker. `chain_length` is computed when the run is stored; rows stored before this
-- migration have 1, which orders them as before.
ALTER TABLE jobs ADD COLUMN chain_length INTEGER NOT NULL DEFAULT 1 CHECK (chain_length >= 1);
DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs(priority DESC, run_id, chain_length DESC, id) WHERE state = 'queued';
