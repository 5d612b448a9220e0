import Foundation

// Decoding rows into records, and the transition steps shared by the queue operations.
// Every helper here runs inside the caller's write transaction.

extension Date {
    init?(epochSeconds: Double?) {
        guard let seconds = epochSeconds else { return nil }
        self.init(timeIntervalSince1970: seconds)
    }
}

/// Columns cleared whenever a job stops running.
let clearLeaseSQL = """
    lease_token = NULL, lease_worker = NULL, lease_attempt_id = NULL,
    lease_started_at = NULL, lease_expires_at = NULL
    """

extension JobStore {
    static func jobState(_ raw: String) -> JobState {
        // The CHECK constraint mirrors JobState, so an unknown value means a newer writer
        // broke the schema contract; report it as blocked rather than trap.
        JobState(rawValue: raw) ?? .blocked
    }

    static func decodeJob(_ row: SQLRow, needs: [String]) -> JobRecord {
        let id: Int64 = row["id"]
        return JobRecord(
            id: id, runID: row["run_id"], key: row["key"], kind: row["kind"],
            kindVersion: row["kind_version"], paramsJSON: row["params_json"],
            state: jobState(row["state"]), priority: row["priority"],
            resourcesJSON: row["resources_json"], attempts: row["attempts"],
            maxAttempts: row["max_attempts"], backoffBaseSeconds: row["backoff_base_seconds"],
            backoffMaxSeconds: row["backoff_max_seconds"], timeoutSeconds: row["timeout_seconds"],
            notBefore: Date(epochSeconds: row["not_before"]), memoize: row["memoize"],
            outputsJSON: row["outputs_json"], memoKey: row["memo_key"],
            memoizedFromJobID: row["memoized_from_job_id"], error: row["error"],
            cancelRequested: row["cancel_requested"], progressDone: row["progress_done"],
            progressTotal: row["progress_total"], progressMessage: row["progress_message"],
            leaseWorkerID: row["lease_worker"],
            leaseExpiresAt: Date(epochSeconds: row["lease_expires_at"]),
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            startedAt: Date(epochSeconds: row["started_at"]),
            finishedAt: Date(epochSeconds: row["finished_at"]),
            needs: needs,
            cpuSeconds: row.columns.position(of: "cpu_seconds") == nil ? nil : row["cpu_seconds"])
    }

    /// A job row with its attempts' CPU seconds summed (`cpu_seconds`), for `decodeJob`.
    static let jobWithCPUSQL = """
        SELECT j.*, (SELECT SUM(a.cpu_seconds) FROM attempts a WHERE a.job_id = j.id) AS cpu_seconds
        FROM jobs j
        """

    static func decodeAttempt(_ row: SQLRow) -> AttemptRecord {
        AttemptRecord(
            id: row["id"], jobID: row["job_id"], number: row["number"], workerID: row["worker_id"],
            leaseToken: row["lease_token"], startedAt: Date(timeIntervalSince1970: row["started_at"]),
            lastHeartbeatAt: Date(epochSeconds: row["last_heartbeat_at"]),
            leaseExpiresAt: Date(timeIntervalSince1970: row["lease_expires_at"]),
            finishedAt: Date(epochSeconds: row["finished_at"]), outcome: row["outcome"],
            error: row["error"], computePath: row["compute_path"], cpuSeconds: row["cpu_seconds"])
    }

    static func needsByJob(_ db: any SQLTransaction, runID: Int64) throws -> [Int64: [String]] {
        var needs: [Int64: [String]] = [:]
        let rows = try db.fetchAll("""
            SELECT d.job_id, p.key FROM job_dependencies d
            JOIN jobs p ON p.id = d.depends_on_job_id
            WHERE p.run_id = ? ORDER BY p.key
            """, [runID])
        for row in rows { needs[row[0], default: []].append(row[1]) }
        return needs
    }

    static func needs(_ db: any SQLTransaction, jobID: Int64) throws -> [String] {
        try db.fetchColumn(String.self, """
            SELECT p.key FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
            WHERE d.job_id = ? ORDER BY p.key
            """, [jobID])
    }

    static func fetchJob(_ db: any SQLTransaction, _ id: Int64) throws -> JobRecord? {
        guard let row = try db.fetchOne("\(jobWithCPUSQL) WHERE j.id = ?", [id])
        else { return nil }
        return decodeJob(row, needs: try needs(db, jobID: id))
    }

    static func requireJob(_ db: any SQLTransaction, _ id: Int64) throws -> JobRecord {
        guard let job = try fetchJob(db, id) else { throw StoreError.notFound(what: "job", id: id) }
        return job
    }

    // MARK: - Transition steps

    /// The job row still leased by `lease`, or `leaseLost`.
    /// Locks the job's run first (see JobStore+Locks.swift): every caller goes on to end the attempt.
    static func leasedJob(_ db: any SQLTransaction, _ lease: JobLease) throws -> JobRecord {
        try lockRun(ofJob: lease.jobID, db)
        guard let row = try db.fetchOne("""
            SELECT * FROM jobs WHERE id = ? AND state = 'running' AND lease_token = ?
            """, [lease.jobID, lease.token])
        else { throw StoreError.leaseLost(jobID: lease.jobID) }
        return decodeJob(row, needs: [])
    }

    static func finishAttempt(_ db: any SQLTransaction, attemptID: Int64, outcome: String, error: String?,
                              cpuSeconds: Double? = nil, at t: Double) throws {
        try db.execute("""
            UPDATE attempts SET outcome = ?, error = ?, finished_at = ?,
                cpu_seconds = COALESCE(CAST(? AS \(db.dialect.doubleType)), cpu_seconds)
            WHERE id = ? AND outcome IS NULL
            """, [outcome, error, t, cpuSeconds, attemptID])
    }

    /// Moves `jobID`'s blocked dependents whose dependencies have all succeeded to queued.
    static func promoteDependents(_ db: any SQLTransaction, of jobID: Int64) throws {
        let promoted = try db.execute("""
            UPDATE jobs SET state = 'queued'
            WHERE state = 'blocked'
              AND id IN (SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ?)
              AND NOT EXISTS (
                SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                WHERE d.job_id = jobs.id AND p.state <> 'succeeded')
            """, [jobID])
        if promoted > 0 { try notifyQueued(db) }
    }

    /// Moves every blocked job of the run whose dependencies have all succeeded to queued.
    static func promoteReadyJobs(_ db: any SQLTransaction, runID: Int64) throws {
        let promoted = try db.execute("""
            UPDATE jobs SET state = 'queued'
            WHERE run_id = ? AND state = 'blocked'
              AND NOT EXISTS (
                SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                WHERE d.job_id = jobs.id AND p.state <> 'succeeded')
            """, [runID])
        if promoted > 0 { try notifyQueued(db) }
    }

    /// Marks every transitive dependent of `jobID` that has not run `upstream_failed`.
    static func failDownstream(_ db: any SQLTransaction, of jobID: Int64, key: String, state: JobState,
                               at t: Double) throws {
        try db.execute("""
            WITH RECURSIVE downstream(id) AS (
                SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ?
                UNION
                SELECT d.job_id FROM job_dependencies d JOIN downstream ON d.depends_on_job_id = downstream.id
            )
            UPDATE jobs SET state = 'upstream_failed', finished_at = ?, error = ?
            WHERE id IN (SELECT id FROM downstream) AND state IN ('blocked', 'queued')
            """, [jobID, t, "upstream job \(key) \(state.rawValue)"])
    }

    /// After jobs went back to blocked: those that still need a failed, cancelled or
    /// upstream_failed job become upstream_failed again, transitively.
    static func settleBlockedJobs(_ db: any SQLTransaction, runID: Int64, at t: Double) throws {
        var changed = 0
        repeat {
            changed = try db.execute("""
                UPDATE jobs SET state = 'upstream_failed', finished_at = ?,
                    error = 'an upstream job is not runnable'
                WHERE run_id = ? AND state = 'blocked'
                  AND EXISTS (
                    SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                    WHERE d.job_id = jobs.id
                      AND p.state IN ('failed', 'cancelled', 'upstream_failed'))
                """, [t, runID])
        } while changed > 0
    }

    /// Recomputes the run's state from its jobs (see `RunState`) and stores it when it changed.
    /// One statement (one round trip to a server): the state is derived in SQL by the rule of
    /// `RunState` — anything unfinished: running; else any failed: failed; else any cancelled:
    /// cancelled; else any upstream_failed: failed; else succeeded.
    static func refreshRunState(_ db: any SQLTransaction, runID: Int64, at t: Double) throws {
        try db.execute("""
            UPDATE runs SET state = derived.state,
                finished_at = CASE WHEN derived.state = 'running' THEN NULL ELSE ?2 END
            FROM (\(derivedRunStateSQL(run: "?1"))) AS derived
            WHERE runs.id = ?1 AND runs.state <> derived.state
            """, [runID, t])
    }

    /// A one-row SELECT of the state (`state`) the rule of `RunState` gives run `run` from its
    /// jobs' states, leaving out job `except` (a job the same statement is completing: its
    /// write is not visible to the rest of the statement, and a succeeded job changes nothing).
    static func derivedRunStateSQL(run: String, except: String? = nil) -> String {
        let others = except.map { " AND id <> \($0)" } ?? ""
        func any(_ states: String) -> String {
            "EXISTS (SELECT 1 FROM jobs WHERE run_id = \(run) AND state IN (\(states))\(others))"
        }
        return """
            SELECT CASE
                WHEN \(any("'blocked', 'queued', 'running'")) THEN 'running'
                WHEN \(any("'failed'")) THEN 'failed'
                WHEN \(any("'cancelled'")) THEN 'cancelled'
                WHEN \(any("'upstream_failed'")) THEN 'failed'
                ELSE 'succeeded' END AS state
            """
    }

    /// What happens to a job whose attempt ended in error: retry later, or fail for good.
    enum RetryDecision: Equatable {
        case retry(notBefore: Double)
        case fail
    }

    static func retryDecision(_ job: JobRecord, retryable: Bool, at t: Double) -> RetryDecision {
        guard retryable, job.attempts < job.maxAttempts else { return .fail }
        let backoff = RetryBackoff(baseSeconds: job.backoffBaseSeconds,
                                   maxSeconds: job.backoffMaxSeconds)
        return .retry(notBefore: t + backoff.delay(afterAttempt: job.attempts))
    }

    /// Ends a running job's attempt with an error: requeue with backoff or fail (and its dependents).
    static func endAttemptWithError(_ db: any SQLTransaction, job: JobRecord, attemptID: Int64,
                                    outcome: String, error: String, retryable: Bool,
                                    at t: Double) throws {
        try finishAttempt(db, attemptID: attemptID, outcome: outcome, error: error, at: t)
        if job.cancelRequested {
            try db.execute("""
                UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ?, \(clearLeaseSQL)
                WHERE id = ?
                """, [t, "cancelled (last attempt: \(error))", job.id])
            try failDownstream(db, of: job.id, key: job.key, state: .cancelled, at: t)
            return
        }
        switch retryDecision(job, retryable: retryable, at: t) {
        case .retry(let notBefore):
            try db.execute("""
                UPDATE jobs SET state = 'queued', not_before = ?, error = ?, \(clearLeaseSQL)
                WHERE id = ?
                """, [notBefore, error, job.id])
            try notifyQueued(db)
        case .fail:
            try db.execute("""
                UPDATE jobs SET state = 'failed', finished_at = ?, error = ?, \(clearLeaseSQL)
                WHERE id = ?
                """, [t, error, job.id])
            try failDownstream(db, of: job.id, key: job.key, state: .failed, at: t)
        }
    }
}
