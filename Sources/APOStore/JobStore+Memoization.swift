import Foundation

// Memoization: declaring a job's memo key, finding a finished twin, and completing from it.

extension JobStore {
    /// In-flight memoization: the worker declares the memo key of the job it has just claimed,
    /// before running the kind. The rule, decided in one transaction so two workers can never both
    /// go ahead: if another running job has declared the same key and its lease is live at `now`,
    /// that job is already doing this work, so this attempt ends "released" (not counted against
    /// `maxAttempts`), the job goes back to the queue keeping the key, and the claim query skips it
    /// while such a twin runs (`noLiveTwinSQL`). When the twin stops running — succeeded, failed,
    /// cancelled, released, or reaped — or its lease expires (a dead worker), the job is claimed
    /// again and either reuses the twin's outputs or, finding none, runs itself. Otherwise the key
    /// is stored on this job's row, which makes later twins wait for it.
    ///
    /// Declare before looking up `findMemoizedJob`: a twin that finishes meanwhile is then either
    /// still running at the declaration, or already findable.
    public func declareMemoKey(_ lease: JobLease, memoKey: String, now: Date) throws -> MemoKeyDeclaration {
        let t = storeTime(now)
        return try driver.write { db in
            let job = try Self.leasedJob(db, lease)
            try Self.lockMemoKey(db, memoKey)
            if let twin = try db.fetchOne("""
                SELECT id, run_id, key FROM jobs
                WHERE state = 'running' AND memo_key = ? AND id <> ? AND lease_expires_at > ?
                ORDER BY id LIMIT 1
                """, [memoKey, job.id, t]) {
                let twinID: Int64 = twin["id"]
                let runID: Int64 = twin["run_id"]
                let key: String = twin["key"]
                let note = "waiting for job \(twinID) (run \(runID), \(key)), which is running the same work; memo key \(memoKey)"
                try db.execute("""
                    INSERT INTO log_lines (run_id, job_id, attempt_id, stream, line, logged_at)
                    VALUES (?, ?, ?, 'runtime', ?, ?)
                    """, [job.runID, job.id, lease.attemptID, note, t])
                try Self.releaseLeased(db, job: job, lease: lease, note: note, at: t)
                // After the release: the queued row keeps the key, so the claim skips it.
                try db.execute("UPDATE jobs SET memo_key = ? WHERE id = ? AND state = 'queued'", [memoKey, job.id])
                return .waiting(forJobID: twinID)
            }
            try db.execute("UPDATE jobs SET memo_key = ? WHERE id = ?", [memoKey, job.id])
            return .declared
        }
    }

    /// The latest succeeded job recorded with `memoKey`, whose outputs a new job may reuse.
    public func findMemoizedJob(memoKey: String) throws -> JobRecord? {
        try driver.read { db in
            guard let id = try db.fetchValue(Int64.self, """
                SELECT id FROM jobs WHERE memo_key = ? AND state = 'succeeded'
                ORDER BY finished_at DESC, id DESC LIMIT 1
                """, [memoKey])
            else { return nil }
            return try Self.fetchJob(db, id)
        }
    }

    /// Completes a leased job with the outputs (and artifact records) of an earlier succeeded job
    /// instead of running it; the attempt is recorded as "memoized". `logLine` is appended to the
    /// job's log (stream "runtime") in the same transaction, so whoever sees the run end (a
    /// `logs -f` follower) also sees the line.
    public func completeMemoized(_ lease: JobLease, fromJobID: Int64, logLine: String? = nil, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            _ = try Self.leasedJob(db, lease)
            let runID = try Self.copyMemoizedResult(db, jobID: lease.jobID, fromJobID: fromJobID,
                                                    guardSQL: "state = 'running' AND lease_token = ?",
                                                    guardArguments: [lease.token], at: t)
            if let logLine {
                try db.execute("""
                    INSERT INTO log_lines (run_id, job_id, attempt_id, stream, line, logged_at)
                    VALUES (?, ?, ?, 'runtime', ?, ?)
                    """, [runID, lease.jobID, lease.attemptID, logLine, t])
            }
            try Self.finishAttempt(db, attemptID: lease.attemptID, outcome: "memoized",
                                   error: nil, at: t)
            try Self.promoteDependents(db, of: lease.jobID)
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    /// Completes a queued job (never claimed) with the outputs of an earlier succeeded job.
    public func completeMemoized(jobID: Int64, fromJobID: Int64, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            try Self.lockRun(ofJob: jobID, db)
            let job = try Self.requireJob(db, jobID)
            guard job.state == .queued else {
                throw StoreError.invalidTransition(jobID: jobID, expected: [.queued], found: job.state)
            }
            let runID = try Self.copyMemoizedResult(db, jobID: jobID, fromJobID: fromJobID,
                                                    guardSQL: "state = 'queued'",
                                                    guardArguments: [], at: t)
            try Self.promoteDependents(db, of: jobID)
            try Self.refreshRunState(db, runID: runID, at: t)
        }
    }

    private static func copyMemoizedResult(_ db: any SQLTransaction, jobID: Int64, fromJobID: Int64,
                                           guardSQL: String, guardArguments: [any SQLBindable],
                                           at t: Double) throws -> Int64 {
        let source = try requireJob(db, fromJobID)
        guard source.state == .succeeded else {
            throw StoreError.invalidTransition(jobID: fromJobID, expected: [.succeeded],
                                               found: source.state)
        }
        guard let runID = try db.fetchValue(Int64.self, """
            UPDATE jobs SET state = 'succeeded', outputs_json = ?, memo_key = ?,
                memoized_from_job_id = ?, finished_at = ?, error = NULL, cancel_requested = 0,
                started_at = COALESCE(started_at, ?), \(clearLeaseSQL)
            WHERE id = ? AND \(guardSQL)
            RETURNING run_id
            """, [source.outputsJSON, source.memoKey, fromJobID, t, t, jobID]
                + guardArguments)
        else { throw StoreError.leaseLost(jobID: jobID) }
        try db.execute("""
            INSERT INTO artifacts (job_id, name, path, type, sha256, size, created_at)
            SELECT ?, name, path, type, sha256, size, ? FROM artifacts WHERE job_id = ?
            ON CONFLICT (job_id, name) DO UPDATE SET
                path = excluded.path, type = excluded.type, sha256 = excluded.sha256,
                size = excluded.size, created_at = excluded.created_at
            """, [jobID, t, fromJobID])
        return runID
    }
}
