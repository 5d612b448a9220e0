-- apo's first schema, PostgreSQL dialect: the same tables, columns, constraints and views as
-- ../0001_initial.sql (SQLite). Frozen once shipped: change the schema with a new NNNN_name.sql file
-- in both folders.
--
-- Times are DOUBLE PRECISION seconds since the Unix epoch (UTC), so comparisons in the claim and reaper
-- queries are plain number comparisons; the views format them for people.

-- A pipeline's YAML exactly as submitted, stored once per distinct text.
CREATE TABLE pipelines (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    yaml        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL
);

-- One submission of a pipeline. `state` is derived from the run's jobs and kept up to date by
-- the store in the same transaction as every job transition.
CREATE TABLE runs (
    id             BIGSERIAL PRIMARY KEY,
    pipeline_id    BIGINT NOT NULL REFERENCES pipelines(id),
    state          TEXT NOT NULL DEFAULT 'running'
                   CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    params_json    TEXT NOT NULL DEFAULT '{}',
    artifact_root  TEXT NOT NULL,
    created_at     DOUBLE PRECISION NOT NULL,
    finished_at    DOUBLE PRECISION
);

-- One node of a run's DAG. While `state = 'running'` the lease_* columns describe the current
-- lease; every worker update is guarded by `lease_token`, the fencing token.
CREATE TABLE jobs (
    id                    BIGSERIAL PRIMARY KEY,
    run_id                BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key                   TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    kind_version          INTEGER NOT NULL,
    params_json           TEXT NOT NULL DEFAULT '{}',
    -- Mirrors `enum JobState` in Sources/APOStore.
    state                 TEXT NOT NULL
                          CHECK (state IN ('blocked', 'queued', 'running', 'succeeded',
                                           'failed', 'cancelled', 'upstream_failed')),
    priority              INTEGER NOT NULL DEFAULT 0,
    resources_json        TEXT NOT NULL DEFAULT '{}',
    -- Attempts started so far (a released attempt is given back).
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts          INTEGER NOT NULL CHECK (max_attempts >= 1),
    backoff_base_seconds  DOUBLE PRECISION NOT NULL CHECK (backoff_base_seconds >= 0),
    backoff_max_seconds   DOUBLE PRECISION NOT NULL CHECK (backoff_max_seconds >= 0),
    timeout_seconds       DOUBLE PRECISION CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
    -- A queued job is not claimed before this time (retry backoff).
    not_before            DOUBLE PRECISION,
    memoize               INTEGER NOT NULL DEFAULT 1 CHECK (memoize IN (0, 1)),
    outputs_json          TEXT,
    memo_key              TEXT,
    memoized_from_job_id  BIGINT REFERENCES jobs(id),
    error                 TEXT,
    cancel_requested      INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    progress_done         INTEGER NOT NULL DEFAULT 0,
    progress_total        INTEGER NOT NULL DEFAULT 0,
    progress_message      TEXT,
    lease_token           TEXT,
    lease_worker          TEXT,
    lease_attempt_id      BIGINT,
    lease_started_at      DOUBLE PRECISION,
    lease_expires_at      DOUBLE PRECISION,
    created_at            DOUBLE PRECISION NOT NULL,
    started_at            DOUBLE PRECISION,
    finished_at           DOUBLE PRECISION,
    UNIQUE (run_id, key),
    -- A running job always holds a complete lease; nothing else holds one.
    CHECK ((state = 'running') = (lease_token IS NOT NULL)),
    CHECK (lease_token IS NULL OR (lease_worker IS NOT NULL AND lease_attempt_id IS NOT NULL
                                   AND lease_started_at IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- The claim query: highest priority first, then oldest, among queued jobs.
CREATE INDEX jobs_claimable ON jobs(priority DESC, id) WHERE state = 'queued';
-- The reaper: running jobs by lease expiry.
CREATE INDEX jobs_running_by_expiry ON jobs(lease_expires_at) WHERE state = 'running';
-- Run state derivation and per-run listings.
CREATE INDEX jobs_by_run_state ON jobs(run_id, state);
-- Memoization lookup: latest succeeded job with a memo key.
CREATE INDEX jobs_by_memo_key ON jobs(memo_key, finished_at) WHERE state = 'succeeded';

-- DAG edges: `job_id` needs `depends_on_job_id`. Both jobs belong to the same run.
CREATE TABLE job_dependencies (
    job_id             BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    depends_on_job_id  BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, depends_on_job_id),
    CHECK (job_id <> depends_on_job_id)
);
CREATE INDEX job_dependencies_by_upstream ON job_dependencies(depends_on_job_id, job_id);

-- One claim of a job by a worker. `number` counts every claim, released ones included.
CREATE TABLE attempts (
    id                 BIGSERIAL PRIMARY KEY,
    job_id             BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    number             INTEGER NOT NULL CHECK (number >= 1),
    worker_id          TEXT NOT NULL,
    lease_token        TEXT NOT NULL UNIQUE,
    started_at         DOUBLE PRECISION NOT NULL,
    last_heartbeat_at  DOUBLE PRECISION,
    lease_expires_at   DOUBLE PRECISION NOT NULL,
    finished_at        DOUBLE PRECISION,
    outcome            TEXT CHECK (outcome IS NULL OR outcome IN
                           ('succeeded', 'memoized', 'failed', 'expired', 'timed_out',
                            'released', 'cancelled')),
    error              TEXT,
    UNIQUE (job_id, number)
);

CREATE TABLE log_lines (
    id          BIGSERIAL PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job_id      BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt_id  BIGINT REFERENCES attempts(id) ON DELETE CASCADE,
    stream      TEXT NOT NULL,
    line        TEXT NOT NULL,
    logged_at   DOUBLE PRECISION NOT NULL
);
CREATE INDEX log_lines_by_run ON log_lines(run_id, id);
CREATE INDEX log_lines_by_job ON log_lines(job_id, id);

-- A file a job produced, already renamed into place under the run's artifact root.
CREATE TABLE artifacts (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    created_at  DOUBLE PRECISION NOT NULL,
    UNIQUE (job_id, name)
);

CREATE TABLE metrics (
    id           BIGSERIAL PRIMARY KEY,
    job_id       BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    name         TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    recorded_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX metrics_by_job ON metrics(job_id, name, step);

-- For `psql URL -c 'SELECT * FROM run_summary'`: one row per run with job counts per state.
CREATE VIEW run_summary AS
SELECT
    r.id AS run_id,
    p.name AS pipeline,
    r.state,
    COUNT(j.id) AS jobs,
    COUNT(*) FILTER (WHERE j.state = 'blocked') AS blocked,
    COUNT(*) FILTER (WHERE j.state = 'queued') AS queued,
    COUNT(*) FILTER (WHERE j.state = 'running') AS running,
    COUNT(*) FILTER (WHERE j.state = 'succeeded') AS succeeded,
    COUNT(*) FILTER (WHERE j.state = 'failed') AS failed,
    COUNT(*) FILTER (WHERE j.state = 'cancelled') AS cancelled,
    COUNT(*) FILTER (WHERE j.state = 'upstream_failed') AS upstream_failed,
    to_char(to_timestamp(r.created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS created_at,
    to_char(to_timestamp(r.finished_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS finished_at,
    ROUND((r.finished_at - r.created_at)::numeric, 3) AS duration_seconds
FROM runs r
JOIN pipelines p ON p.id = r.pipeline_id
LEFT JOIN jobs j ON j.run_id = r.id
GROUP BY r.id, p.name;

-- For `psql URL -c 'SELECT * FROM job_history WHERE run_id = 1'`: every attempt of every job
-- (jobs never claimed appear once, with NULL attempt columns).
CREATE VIEW job_history AS
SELECT
    j.run_id,
    j.id AS job_id,
    j.key AS job,
    j.kind,
    j.state AS job_state,
    a.number AS attempt,
    a.worker_id AS worker,
    a.outcome,
    to_char(to_timestamp(a.started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS started_at,
    to_char(to_timestamp(a.last_heartbeat_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS last_heartbeat_at,
    to_char(to_timestamp(a.finished_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS finished_at,
    ROUND((a.finished_at - a.started_at)::numeric, 3) AS duration_seconds,
    a.error
FROM jobs j
LEFT JOIN attempts a ON a.job_id = j.id
ORDER BY j.run_id, j.id, a.number;
