import Foundation
import GRDB

// MARK: - User control: cancel, retry, resume

extension JobStore {
    /// Cancels a run: its blocked and queued jobs are cancelled at once; its running jobs get
    /// `cancel_requested`, which their workers see in the next heartbeat reply.
    public func cancelRun(_ runID: Int64, now: Date) throws {
        let t = now.timeIntervalSince1970
        try pool.write { db in
            try Self.requireRun(db, runID)
            try db.cachedStatement(sql: """
                UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled by user'
                WHERE run_id = ? AND state IN ('blocked', 'queued')
                """).execute(arguments: [t, runID])
            try db.cachedStatement(sql: """
                UPDATE jobs SET cancel_requested = 1 WHERE run_id = ? AND state = 'running'
                """).execute(arguments: [runID])
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    /// Cancels one job: blocked or queued → cancelled (dependents upstream_failed) at once;
    /// running → `cancel_requested`, seen by its worker through the heartbeat reply.
    public func cancelJob(_ jobID: Int64, now: Date) throws {
        let t = now.timeIntervalSince1970
        try pool.write { db in
            let job = try Self.requireJob(db, jobID)
            switch job.state {
            case .blocked, .queued:
                try db.cachedStatement(sql: """
                    UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled by user'
                    WHERE id = ?
                    """).execute(arguments: [t, jobID])
                try Self.failDownstream(db, of: jobID, key: job.key, state: .cancelled, at: t)
            case .running:
                try db.cachedStatement(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ?").execute(arguments: [jobID])
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
        let t = now.timeIntervalSince1970
        try pool.write { db in
            let job = try Self.requireJob(db, jobID)
            guard job.state.isRetryable else {
                throw StoreError.invalidTransition(jobID: jobID,
                                                   expected: [.failed, .cancelled, .upstreamFailed],
                                                   found: job.state)
            }
            if let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT p.key, p.state FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                WHERE d.job_id = ? AND p.state IN ('failed', 'cancelled', 'upstream_failed')
                ORDER BY p.key LIMIT 1
                """), arguments: [jobID]) {
                throw StoreError.dependencyNotRunnable(
                    jobID: jobID, dependencyKey: row[0], state: Self.jobState(row[1]))
            }
            try db.cachedStatement(sql: """
                WITH RECURSIVE downstream(id) AS (
                    SELECT job_id FROM job_dependencies WHERE depends_on_job_id = ?1
                    UNION
                    SELECT d.job_id FROM job_dependencies d
                    JOIN downstream ON d.depends_on_job_id = downstream.id
                )
                UPDATE jobs SET state = 'blocked', attempts = 0, error = NULL, finished_at = NULL,
                    not_before = NULL, cancel_requested = 0
                WHERE id = ?1 OR (id IN downstream AND state = 'upstream_failed')
                """).execute(arguments: [jobID])
            try Self.settleBlockedJobs(db, runID: job.runID, at: t)
            try Self.promoteReadyJobs(db, runID: job.runID)
            try Self.refreshRunState(db, runID: job.runID, at: t)
        }
    }

    /// Makes every failed, cancelled and upstream_failed job of the run runnable again with a
    /// fresh attempts budget, and withdraws pending cancel requests; succeeded jobs are untouched.
    public func resumeRun(_ runID: Int64, now: Date) throws {
        let t = now.timeIntervalSince1970
        try pool.write { db in
            try Self.requireRun(db, runID)
            try db.cachedStatement(sql: """
                UPDATE jobs SET state = 'blocked', attempts = 0, error = NULL, finished_at = NULL,
                    not_before = NULL, cancel_requested = 0
                WHERE run_id = ? AND state IN ('failed', 'cancelled', 'upstream_failed')
                """).execute(arguments: [runID])
            try db.cachedStatement(sql: """
                UPDATE jobs SET cancel_requested = 0 WHERE run_id = ? AND state = 'running'
                """).execute(arguments: [runID])
            try Self.promoteReadyJobs(db, runID: runID)
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    static func requireRun(_ db: Database, _ runID: Int64) throws {
        let exists = try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)"), arguments: [runID]) ?? false
        if !exists { throw StoreError.notFound(what: "run", id: runID) }
    }
}
