import Foundation

// MARK: - User control: cancel, retry, resume

extension JobStore {
    /// Cancels a run: its blocked and queued jobs are cancelled at once; its running jobs get
    /// `cancel_requested`, which their workers see in the next heartbeat reply.
    public func cancelRun(_ runID: Int64, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            try Self.requireRun(db, runID)
            try Self.lockRun(db, runID)
            try db.execute("""
                UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled by user'
                WHERE run_id = ? AND state IN ('blocked', 'queued')
                """, [t, runID])
            try db.execute("""
                UPDATE jobs SET cancel_requested = 1 WHERE run_id = ? AND state = 'running'
                """, [runID])
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    /// Cancels one job: blocked or queued → cancelled (dependents upstream_failed) at once;
    /// running → `cancel_requested`, seen by its worker through the heartbeat reply.
    public func cancelJob(_ jobID: Int64, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            try Self.lockRun(ofJob: jobID, db)
            let job = try Self.requireJob(db, jobID)
            switch job.state {
            case .blocked, .queued:
                try db.execute("""
                    UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled by user'
                    WHERE id = ?
                    """, [t, jobID])
                try Self.failDownstream(db, of: jobID, key: job.key, state: .cancelled, at: t)
            case .running:
                try db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", [jobID])
            case .succeeded, .failed, .cancelled, .upstreamFailed:
                throw StoreError.invalidTransition(jobID: jobID,
                                                   expected: [.blocked, .queued, .running],
                                                   found: job.state)
            }
            try Self.refreshRunState(db, runID: job.runID, at: t)
        }
    }

    /// Starts a failed, cancelled or upstream_failed job again with a fresh attempts budget
    /// (queued if its dependencies all succeeded, else blocked); its upstream_failed dependents go
    /// back to blocked. Throws `dependencyNotRunnable` if a job it needs cannot run either.
    public func retryJob(_ jobID: Int64, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            try Self.lockRun(ofJob: jobID, db)
            let job = try Self.requireJob(db, jobID)
            guard job.state.isRetryable else {
                throw StoreError.invalidTransition(jobID: jobID,
                                                   expected: [.failed, .cancelled, .upstreamFailed],
                                                   found: job.state)
            }
            if let row = try db.fetchOne("""
                SELECT p.key, p.state FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                WHERE d.job_id = ? AND p.state IN ('failed', 'cancelled', 'upstream_failed')
                ORDER BY p.key LIMIT 1
                """, [jobID]) {
                throw StoreError.dependencyNotRunnable(
                    jobID: jobID, dependencyKey: row[0], state: Self.jobState(row[1]))
            }
            try db.execute("""
                WITH RECURSIVE downstream(id) AS (
                    SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ?1
                    UNION
                    SELECT d.job_id FROM job_dependencies d
                    JOIN downstream ON d.depends_on_job_id = downstream.id
                )
                UPDATE jobs SET state = 'blocked', attempts = 0, error = NULL, finished_at = NULL,
                    not_before = NULL, cancel_requested = 0
                WHERE id = ?1 OR (id IN (SELECT id FROM downstream) AND state = 'upstream_failed')
                """, [jobID])
            try Self.settleBlockedJobs(db, runID: job.runID, at: t)
            try Self.promoteReadyJobs(db, runID: job.runID)
            try Self.refreshRunState(db, runID: job.runID, at: t)
        }
    }

    /// Makes every failed, cancelled and upstream_failed job of the run runnable again with a
    /// fresh attempts budget, and withdraws pending cancel requests; succeeded jobs are untouched.
    public func resumeRun(_ runID: Int64, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            try Self.requireRun(db, runID)
            try Self.lockRun(db, runID)
            try db.execute("""
                UPDATE jobs SET state = 'blocked', attempts = 0, error = NULL, finished_at = NULL,
                    not_before = NULL, cancel_requested = 0
                WHERE run_id = ? AND state IN ('failed', 'cancelled', 'upstream_failed')
                """, [runID])
            try db.execute("""
                UPDATE jobs SET cancel_requested = 0 WHERE run_id = ? AND state = 'running'
                """, [runID])
            try Self.promoteReadyJobs(db, runID: runID)
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    static func requireRun(_ db: any SQLTransaction, _ runID: Int64) throws {
        let exists = try db.fetchValue(Bool.self, "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)", [runID]) ?? false
        if !exists { throw StoreError.notFound(what: "run", id: runID) }
    }
}
