import Foundation

// MARK: - Records a running attempt writes: logs, metrics (artifacts come with the completion)

/// An artifact an attempt has staged and that its completion records, already digested.
/// `path` is where the artifact lives once published (the job's folder), not the staging path.
public struct StagedArtifact: Equatable, Sendable {
    public var name: String
    public var path: String
    public var type: ArtifactType
    public var sha256: String
    public var size: Int64

    public init(name: String, path: String, type: ArtifactType = .file, sha256: String, size: Int64) {
        self.name = name
        self.path = path
        self.type = type
        self.sha256 = sha256
        self.size = size
    }
}

/// What a successful attempt hands to the store: its outputs, the artifacts it staged, and how to
/// publish them. `publish` runs inside the completing transaction, after the lease was checked and
/// before the commit: only the lease holder ever publishes, and a publish that throws rolls the
/// completion back (the job stays running under the same lease; the worker then fails the attempt).
public struct JobCompletion {
    public var outputsJSON: String
    public var memoKey: String?
    public var artifacts: [StagedArtifact]
    public var publish: () throws -> Void
    /// The CPU seconds the job took (`attempts.cpu_seconds`), written with the outcome.
    public var cpuSeconds: Double?

    public init(outputsJSON: String, memoKey: String? = nil, artifacts: [StagedArtifact] = [],
                cpuSeconds: Double? = nil, publish: @escaping () throws -> Void = {}) {
        self.outputsJSON = outputsJSON
        self.memoKey = memoKey
        self.artifacts = artifacts
        self.cpuSeconds = cpuSeconds
        self.publish = publish
    }
}

extension JobStore {
    /// The guard every worker-side write shares: the row exists only while `lease` holds the job.
    static let leaseHeldSQL = "id = ? AND state = 'running' AND lease_token = ?"

    /// Appends output lines of a leased job in one transaction (what a worker does when it flushes
    /// a pipe). Throws `leaseLost`, writing nothing, once the lease no longer holds the job.
    public func appendLogs(_ lease: JobLease, stream: String, lines: [String], now: Date) throws {
        let t = storeTime(now)
        let body = { (db: any SQLTransaction) in
            let insert = """
                INSERT INTO log_lines (run_id, job_id, attempt_id, stream, line, logged_at)
                SELECT run_id, id, ?, ?, ?, ? FROM jobs WHERE \(Self.leaseHeldSQL) \(db.dialect.leaseReadSuffix)
                """
            for line in lines {
                let inserted = try db.execute(insert, [lease.attemptID, stream, line, t, lease.jobID, lease.token])
                if inserted == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
            }
        }
        // A line at a time (what a kind's `log` does) needs no BEGIN and COMMIT on PostgreSQL.
        if lines.count == 1 { try driver.writeOneStatement(body) } else { try driver.write(body) }
    }

    public func appendLog(_ lease: JobLease, stream: String, line: String, now: Date) throws {
        try appendLogs(lease, stream: stream, lines: [line], now: now)
    }

    /// Records one metric value of a leased job; `leaseLost` (nothing written) once the lease is gone.
    public func recordMetric(_ lease: JobLease, step: Int, name: String, value: Double, now: Date) throws {
        try driver.writeOneStatement { db in
            let changed = try db.execute("""
                INSERT INTO metrics (job_id, attempt_id, step, name, value, recorded_at)
                SELECT id, ?, ?, ?, ?, ? FROM jobs WHERE \(Self.leaseHeldSQL) \(db.dialect.leaseReadSuffix)
                """, [lease.attemptID, step, name, value, storeTime(now),
                                         lease.jobID, lease.token])
            if changed == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
        }
    }

    /// Records the compute path of the lease's attempt (`attempts.compute_path`); `leaseLost`
    /// (nothing written) once the lease is gone.
    public func recordComputePath(_ lease: JobLease, _ path: String) throws {
        try driver.writeOneStatement { db in
            let changed = try db.execute("""
                UPDATE attempts SET compute_path = ?
                WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE \(Self.leaseHeldSQL) \(db.dialect.leaseReadSuffix))
                """, [path, lease.attemptID, lease.jobID, lease.token])
            if changed == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
        }
    }

    /// Records the CPU seconds the lease's attempt spent (`attempts.cpu_seconds`) before it ends
    /// some other way than succeeding (a success carries them in its `JobCompletion`); `leaseLost`
    /// (nothing written) once the lease is gone.
    public func recordCPUTime(_ lease: JobLease, seconds: Double) throws {
        try driver.writeOneStatement { db in
            let changed = try db.execute("""
                UPDATE attempts SET cpu_seconds = ?
                WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE \(Self.leaseHeldSQL) \(db.dialect.leaseReadSuffix))
                """, [seconds, lease.attemptID, lease.jobID, lease.token])
            if changed == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
        }
    }

    /// Runs `body` while `lease` provably holds the job: inside a write transaction whose first
    /// statement checks the lease and takes the write lock, so no reaper or other worker can take
    /// the job until `body` returns. For file-system steps that must never be done by a stale
    /// attempt (taking earlier attempts' folders away). Throws `leaseLost` without running `body`.
    public func holdingLease<T>(_ lease: JobLease, _ body: () throws -> T) throws -> T {
        try driver.write { db in
            let changed = try db.execute("""
                UPDATE jobs SET lease_expires_at = lease_expires_at WHERE \(Self.leaseHeldSQL)
                """, [lease.jobID, lease.token])
            if changed == 0 { throw StoreError.leaseLost(jobID: lease.jobID) }
            return try body()
        }
    }

    /// The artifacts recorded for the jobs `lease`'s job depends on, keyed by path: what a worker
    /// checks its inputs against before using them.
    public func dependencyArtifacts(_ lease: JobLease) throws -> [String: ArtifactRecord] {
        try driver.read { db in
            var byPath: [String: ArtifactRecord] = [:]
            for row in try db.fetchAll("""
                SELECT a.*, j.key, j.run_id FROM job_dependencies d
                JOIN artifacts a ON a.job_id = d.depends_on_job_id
                JOIN jobs j ON j.id = a.job_id
                WHERE d.job_id = ?
                """, [lease.jobID]) {
                let record = Self.decodeArtifact(row)
                byPath[record.path] = record
            }
            return byPath
        }
    }

    /// Inserts the artifact rows of a completion (one row per job and name), in its transaction.
    static func insertArtifacts(_ db: any SQLTransaction, _ artifacts: [StagedArtifact], lease: JobLease, at t: Double) throws {
        let insert = """
            INSERT INTO artifacts (job_id, attempt_id, name, path, type, sha256, size, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (job_id, name) DO UPDATE SET
                attempt_id = excluded.attempt_id, path = excluded.path, type = excluded.type,
                sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at
            """
        for a in artifacts {
            try db.execute(insert, [lease.jobID, lease.attemptID, a.name, a.path, a.type.rawValue,
                                           a.sha256, a.size, t])
        }
    }

    /// Rows written by an attempt after it had ended (the `stale_writes` view); empty while
    /// fencing holds.
    public func staleWrites() throws -> [String] {
        try driver.read { db in
            try db.fetchAll("SELECT what, job_id, attempt_id, written_at, attempt_finished_at FROM stale_writes")
                .map { row in
                    let what: String = row["what"]
                    let job: Int64 = row["job_id"]
                    let attempt: Int64 = row["attempt_id"]
                    return "\(what) of job \(job) by attempt \(attempt)"
                }
        }
    }
}
