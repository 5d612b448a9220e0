import Foundation

// MARK: - Completing a leased job (the step on every job's path)

extension JobStore {
    /// Marks the leased job succeeded, ends its attempt, queues the dependents this unblocks and
    /// refreshes the run's state, inside the caller's write transaction. The lease is checked
    /// first; only then does `completion.publish` move the attempt's files into place, while the
    /// job's row stays locked by this transaction, so a worker that lost its lease publishes
    /// nothing and nobody can take the lease meanwhile. Throws `leaseLost`, having written nothing.
    static func completeLeased(_ db: any SQLTransaction, _ lease: JobLease, _ completion: JobCompletion,
                               at t: Double) throws {
        if db.dialect == .postgres {
            try completeInOneStatement(db, lease, completion, at: t)
        } else {
            try completeStepByStep(db, lease, completion, at: t)
        }
        try Self.insertArtifacts(db, completion.artifacts, lease: lease, at: t)
    }

    /// SQLite: statement by statement (in-process calls, no round trips to save).
    private static func completeStepByStep(_ db: any SQLTransaction, _ lease: JobLease,
                                           _ completion: JobCompletion, at t: Double) throws {
        guard let runID = try db.fetchValue(Int64.self, """
            UPDATE jobs SET state = 'succeeded', outputs_json = ?, memo_key = ?,
                finished_at = ?, error = NULL, cancel_requested = 0,
                progress_done = \(db.dialect.greatest("progress_done", "progress_total")), \(clearLeaseSQL)
            WHERE id = ? AND state = 'running' AND lease_token = ?
            RETURNING run_id
            """, [completion.outputsJSON, completion.memoKey, t, lease.jobID, lease.token])
        else { throw StoreError.leaseLost(jobID: lease.jobID) }
        try completion.publish()
        try Self.finishAttempt(db, attemptID: lease.attemptID, outcome: "succeeded", error: nil,
                               cpuSeconds: completion.cpuSeconds, at: t)
        try Self.promoteDependents(db, of: lease.jobID)
        try Self.refreshRunState(db, runID: runID, at: t)
    }

    /// PostgreSQL: two statements, the first not waited for. First the run's lock, alone:
    /// a statement reads the snapshot taken when it starts, so the one after the lock sees every
    /// transition of the run committed before the lock was granted (two completions of one
    /// dependent's last two dependencies cannot both miss it). Then the rest in one
    /// data-modifying WITH, whose parts do not see each other's writes: the promotion and the
    /// run's state leave the completed job out by its id, which is exact (a succeeded job holds
    /// nothing back and ends nothing), and run only when the lease guard matched.
    private static func completeInOneStatement(_ db: any SQLTransaction, _ lease: JobLease,
                                               _ completion: JobCompletion, at t: Double) throws {
        try lockRunWithoutWaiting(ofJob: lease.jobID, db)
        let done = try db.fetchOne("""
            WITH done AS (
                UPDATE jobs SET state = 'succeeded', outputs_json = ?1, memo_key = ?2,
                    finished_at = ?3, error = NULL, cancel_requested = 0,
                    progress_done = GREATEST(progress_done, progress_total), \(clearLeaseSQL)
                WHERE id = ?4 AND state = 'running' AND lease_token = ?5
                RETURNING id, run_id),
            attempt AS (
                UPDATE attempts SET outcome = 'succeeded', error = NULL, finished_at = ?3,
                    cpu_seconds = CAST(?7 AS DOUBLE PRECISION)
                WHERE id = ?6 AND outcome IS NULL AND EXISTS (SELECT 1 FROM done)),
            promoted AS (
                UPDATE jobs SET state = 'queued'
                WHERE state = 'blocked'
                  AND id IN (SELECT d.job_id FROM job_dependencies d JOIN done ON d.depends_on_job_id = done.id)
                  AND NOT EXISTS (
                    SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                    WHERE d.job_id = jobs.id AND p.id <> ?4 AND p.state <> 'succeeded')
                RETURNING id),
            woken AS (
                SELECT pg_notify('\(PostgresDriver.queueChannel)', '') WHERE EXISTS (SELECT 1 FROM promoted)),
            run AS (
                UPDATE runs SET state = derived.state,
                    finished_at = CASE WHEN derived.state = 'running' THEN NULL ELSE ?3 END
                FROM done, LATERAL (\(derivedRunStateSQL(run: "done.run_id", except: "?4"))) AS derived
                WHERE runs.id = done.run_id AND runs.state <> derived.state)
            SELECT done.run_id, (SELECT COUNT(*) FROM woken) AS woken FROM done
            """, [completion.outputsJSON, completion.memoKey, t, lease.jobID, lease.token, lease.attemptID,
                completion.cpuSeconds])
        guard done != nil else { throw StoreError.leaseLost(jobID: lease.jobID) }
        try completion.publish()
    }
}
