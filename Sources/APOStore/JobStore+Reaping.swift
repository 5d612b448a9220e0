import Foundation

// Taking jobs back from workers that stopped answering: expired leases, timeouts, and every lease
// of a worker known to be gone.

extension JobStore {
    /// Requeues (with backoff) or fails every running job whose lease expired at `now` — including
    /// jobs whose worker died before its first heartbeat — and jobs running past their timeout.
    /// The attempt counts. Returns the ids of the jobs reaped.
    @discardableResult
    public func reapExpiredLeases(now: Date) throws -> [Int64] {
        let entered = Date()
        return try driver.write { db in
            let rows = try Self.lockRunningJobs(db, where: """
                lease_expires_at <= ?1
                OR (timeout_seconds IS NOT NULL AND lease_started_at + timeout_seconds <= ?1)
                """, [Self.lockTime(storeTime(now), entered: entered)])
            // After the locks (PostgreSQL may have waited for a worker writing under its lease).
            let t = Self.lockTime(storeTime(now), entered: entered)
            var runIDs = Set<Int64>()
            for row in rows {
                let job = Self.decodeJob(row, needs: [])
                let expiresAt: Double = row["lease_expires_at"]
                let startedAt: Double = row["lease_started_at"]
                let worker: String = row["lease_worker"]
                let timedOut = expiresAt > t
                let error = timedOut
                    ? "timed out after \(job.timeoutSeconds ?? 0) s on worker \(worker)"
                    : "lease expired on worker \(worker) (held since \(Self.iso(startedAt)), "
                        + "expired \(Self.iso(expiresAt)))"
                try Self.endAttemptWithError(db, job: job, attemptID: row["lease_attempt_id"],
                                             outcome: timedOut ? "timed_out" : "expired",
                                             error: error, retryable: true, at: t)
                runIDs.insert(job.runID)
            }
            for runID in runIDs { try Self.refreshRunState(db, runID: runID, at: t) }
            return rows.map { $0["id"] }
        }
    }

    /// Treats every lease held by `workerID` as expired now (the supervisor saw that worker die),
    /// so its jobs are retried without waiting for the lease to run out. Returns the job ids.
    @discardableResult
    public func reapLeases(heldBy workerID: String, now: Date) throws -> [Int64] {
        let entered = Date()
        return try driver.write { db in
            let rows = try Self.lockRunningJobs(db, where: "lease_worker = ?", [workerID])
            let t = Self.lockTime(storeTime(now), entered: entered)
            var runIDs = Set<Int64>()
            for row in rows {
                let job = Self.decodeJob(row, needs: [])
                try Self.endAttemptWithError(db, job: job, attemptID: row["lease_attempt_id"],
                                             outcome: "expired",
                                             error: "worker \(workerID) exited while running the job",
                                             retryable: true, at: t)
                runIDs.insert(job.runID)
            }
            for runID in runIDs { try Self.refreshRunState(db, runID: runID, at: t) }
            return rows.map { $0["id"] }
        }
    }

    /// The running jobs matching `condition`, locked for the reaper: on PostgreSQL their runs
    /// first, in id order, then the rows, read again once locked, so a job that finished or
    /// heartbeated meanwhile is left alone.
    static func lockRunningJobs(_ db: any SQLTransaction, where condition: String,
                                _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let sql = "SELECT * FROM jobs WHERE state = 'running' AND (\(condition)) ORDER BY id"
        guard db.dialect == .postgres else { return try db.fetchAll(sql, arguments) }
        let runIDs = Set(try db.fetchAll(sql, arguments).map { $0["run_id"] as Int64 })
        for runID in runIDs.sorted() { try lockRun(db, runID) }
        return try db.fetchAll(sql + " \(db.dialect.rowLockSuffix)", arguments)
            .filter { runIDs.contains($0["run_id"]) }
    }

    /// The time a reaping transaction acts at: `now`, moved on by however long the call waited
    /// for the write lock when that was noticeable. A worker frozen while holding the lock (SIGSTOP
    /// mid-transaction) keeps its lease until it lets go — and may write under it until then — so
    /// the reaper must not date the attempt's end to before it could act.
    static func lockTime(_ now: Double, entered: Date) -> Double {
        let waited = Date().timeIntervalSince(entered)
        return now + (waited > 0.1 ? waited : 0)
    }

    static func iso(_ seconds: Double) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }
}
