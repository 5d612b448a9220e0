import Foundation

// What a worker does with a job it holds the lease of: heartbeat, report progress, and end the
// attempt (complete, fail, release, acknowledge a cancel). Every call takes the `JobLease`.

extension JobStore {
    /// Extends the lease to `now + leaseDuration` if `lease` still holds the job.
    /// Throws `leaseLost` when the token is stale (reaped, finished, re-claimed).
    public func heartbeat(_ lease: JobLease, leaseDuration: TimeInterval,
                          now: Date) throws -> HeartbeatReply {
        let t = storeTime(now)
        let expires = t + leaseDuration
        let extend = """
            UPDATE jobs SET lease_expires_at = ?1
            WHERE id = ?2 AND state = 'running' AND lease_token = ?3
            RETURNING cancel_requested
            """
        let beat = "UPDATE attempts SET last_heartbeat_at = ?4, lease_expires_at = ?1 WHERE id = ?5"
        let arguments: [any SQLBindable] = [expires, lease.jobID, lease.token, t, lease.attemptID]
        let cancel: Bool?
        if driver.dialect == .postgres {
            // One statement, its own transaction: the attempt is touched only when the lease held.
            cancel = try driver.writeOneStatement { db in
                try db.fetchValue(Bool.self, """
                    WITH extended AS (\(extend)),
                         beat AS (\(beat) AND EXISTS (SELECT 1 FROM extended))
                    SELECT cancel_requested FROM extended
                    """, arguments)
            }
        } else {
            cancel = try driver.write { db in
                guard let cancel = try db.fetchValue(Bool.self, extend, Array(arguments.prefix(3))) else { return nil }
                try db.execute(beat, arguments)
                return cancel
            }
        }
        guard let cancel else { throw StoreError.leaseLost(jobID: lease.jobID) }
        return cancel ? .cancelRequested : .keepGoing
    }

    /// Records progress (`done` of `total`, with an optional message) for a leased job.
    public func updateProgress(_ lease: JobLease, done: Int, total: Int, message: String?,
                               now: Date) throws {
        try driver.writeOneStatement { db in
            let changed = try db.execute("""
                UPDATE jobs SET progress_done = ?, progress_total = ?, progress_message = ?
                WHERE id = ? AND state = 'running' AND lease_token = ?
                """, [done, total, message, lease.jobID, lease.token])
            if changed == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
        }
    }

    /// Marks a leased job succeeded with its outputs and artifacts, and queues the dependents this
    /// unblocks, in one transaction. The lease is checked first; only then does `completion.publish`
    /// move the attempt's files into place, so a worker that lost its lease publishes nothing.
    /// A job whose cancel was requested but which finished anyway succeeds.
    public func complete(_ lease: JobLease, _ completion: JobCompletion, now: Date) throws {
        try driver.write { db in
            try Self.completeLeased(db, lease, completion, at: storeTime(now))
        }
    }

    /// `complete` for a job with outputs but no artifacts (tests, benchmarks, kinds without files).
    public func complete(_ lease: JobLease, outputsJSON: String, memoKey: String?, now: Date) throws {
        try complete(lease, JobCompletion(outputsJSON: outputsJSON, memoKey: memoKey), now: now)
    }

    public func completeAndClaimNext(_ lease: JobLease, outputsJSON: String, memoKey: String?,
                                     leaseDuration: TimeInterval, now: Date) throws -> ClaimedJob? {
        try completeAndClaimNext(lease, JobCompletion(outputsJSON: outputsJSON, memoKey: memoKey),
                                 leaseDuration: leaseDuration, now: now)
    }

    /// Ends a leased job's attempt with an error. Retryable with attempts left: queued again after
    /// a jittered exponential backoff. Otherwise failed, and every transitive dependent
    /// upstream_failed.
    public func fail(_ lease: JobLease, error: String, retryable: Bool, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            let job = try Self.leasedJob(db, lease)
            try Self.endAttemptWithError(db, job: job, attemptID: lease.attemptID,
                                         outcome: "failed", error: error, retryable: retryable,
                                         at: t)
            try Self.refreshRunState(db, runID: job.runID, at: t)
        }
    }

    /// A worker stopping cleanly gives the job back: queued at once, and the attempt (marked
    /// released) is not counted against `maxAttempts`. A job whose cancel was requested is cancelled.
    public func release(_ lease: JobLease, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            let job = try Self.leasedJob(db, lease)
            try Self.releaseLeased(db, job: job, lease: lease, note: nil, at: t)
        }
    }

    /// Ends the attempt as "released" (with `note` as its error text) and queues the job again
    /// without counting the attempt, or cancels it if its cancel was requested.
    static func releaseLeased(_ db: any SQLTransaction, job: JobRecord, lease: JobLease, note: String?,
                              at t: Double) throws {
        try Self.finishAttempt(db, attemptID: lease.attemptID, outcome: "released",
                               error: note, at: t)
        if job.cancelRequested {
            try db.execute("""
                UPDATE jobs SET state = 'cancelled', finished_at = ?, \(clearLeaseSQL)
                WHERE id = ?
                """, [t, job.id])
            try Self.failDownstream(db, of: job.id, key: job.key, state: .cancelled, at: t)
        } else {
            try db.execute("""
                UPDATE jobs SET state = 'queued', attempts = \(db.dialect.greatest("attempts - 1", "0")),
                    not_before = NULL, \(clearLeaseSQL)
                WHERE id = ?
                """, [job.id])
            try Self.notifyQueued(db)
        }
        try Self.refreshRunState(db, runID: job.runID, at: t)
    }

    /// The worker acknowledges a requested cancel: the job is cancelled and its dependents
    /// upstream_failed.
    public func finishCancelled(_ lease: JobLease, now: Date) throws {
        let t = storeTime(now)
        try driver.write { db in
            let job = try Self.leasedJob(db, lease)
            try Self.finishAttempt(db, attemptID: lease.attemptID, outcome: "cancelled",
                                   error: nil, at: t)
            try db.execute("""
                UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled by user',
                    \(clearLeaseSQL)
                WHERE id = ?
                """, [t, job.id])
            try Self.failDownstream(db, of: job.id, key: job.key, state: .cancelled, at: t)
            try Self.refreshRunState(db, runID: job.runID, at: t)
        }
    }
}
