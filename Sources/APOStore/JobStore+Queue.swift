import Foundation

// MARK: - Claim and lease operations (workers)

extension JobStore {
    /// Claims a queued job whose `notBefore` has passed — the highest priority, then the oldest
    /// run, then the longest chain of jobs still to come after it (`chain_length`: the DAG's
    /// critical path in jobs, so a wide run's long chain is not left for last), then the lowest id — in one
    /// transaction: one guarded UPDATE picks and leases the job (so two stores racing on one
    /// database can never both win it), and the attempt row is written with the fresh token.
    ///
    /// `scope` narrows what may be claimed: jobs whose `resources:` the host satisfies, outside
    /// the runs the worker leaves to others.
    public func claimNextJob(workerID: String, leaseDuration: TimeInterval,
                             now: Date, scope: ClaimScope = .anyJob) throws -> ClaimedJob? {
        // On SQLite a read first, so idle workers never take the write lock away from busy ones;
        // PostgreSQL's claims skip each other's rows and need no such guard.
        if driver.dialect == .sqlite { guard try hasClaimableJob(now: now, scope: scope) else { return nil } }
        // One statement on PostgreSQL (`claimInOneStatement`): no BEGIN and COMMIT to wait for.
        return try driver.writeOneStatement { db in
            try Self.sendClaim(db, workerID: workerID, leaseDuration: leaseDuration, at: storeTime(now),
                               localNow: now, scope: scope).job()
        }
    }

    /// Whether some queued job in `scope` may be claimed at `now` (a read, no write lock taken).
    public func hasClaimableJob(now: Date, scope: ClaimScope = .anyJob) throws -> Bool {
        try driver.read { db in
            try db.fetchValue(Bool.self, """
                SELECT EXISTS (SELECT 1 FROM jobs AS q
                               WHERE q.state = 'queued' AND (q.not_before IS NULL OR q.not_before <= ?1)
                                 AND \(Self.noLiveTwinSQL(queued: "q", now: "?1"))
                                 AND \(Self.scopeSQL(db.dialect, queued: "q", scope, now: "?1", firstParameter: 2)))
                """, [storeTime(now)] + Self.scopeArguments(scope)) ?? false
        }
    }

    /// True for a queued job `queued` unless it carries a memo key that a running job with a live
    /// lease (at the bound parameter `now`) has declared: such a job waits for that one instead of
    /// being claimed (see `declareMemoKey`). An expired lease never holds anyone back.
    static func noLiveTwinSQL(queued: String, now: String) -> String {
        """
        (\(queued).memo_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs AS twin
            WHERE twin.state = 'running' AND twin.memo_key = \(queued).memo_key
              AND twin.lease_expires_at > \(now)))
        """
    }

    /// Completes a leased job and claims the next ready job for the same worker in ONE
    /// transaction: half the commits per job for a busy worker, and a dependent this completion
    /// unblocks is handed over without another round trip. Nil when nothing is ready.
    /// On PostgreSQL the claim is sent with the COMMIT, which waits for both answers.
    public func completeAndClaimNext(_ lease: JobLease, _ completion: JobCompletion,
                                     leaseDuration: TimeInterval, now: Date,
                                     scope: ClaimScope = .anyJob) throws -> ClaimedJob? {
        let t = storeTime(now)
        let claim = try driver.write { db in
            try Self.completeLeased(db, lease, completion, at: t)
            return try Self.sendClaim(db, workerID: lease.workerID, leaseDuration: leaseDuration,
                                      at: t, localNow: now, scope: scope)
        }
        return try claim.job()
    }

    /// The claimed job's `memo_key` is cleared: while running, it says only what this attempt
    /// declared (`declareMemoKey`), never a key left by an earlier attempt.
    ///
    /// `now` is read before the write lock is taken, so a worker that waited for the lock while
    /// another completed this job's last dependency holds a time older than that completion;
    /// `started_at` is never earlier than the dependencies' `finished_at`.
    ///
    /// `t` is the store's time (`storeTime`); the lease handed back expires by the caller's own
    /// clock (`localNow`), which is the one its lease keeper reads.
    ///
    /// The claim is sent in `db`; its job is read from the answer (`SentClaim.job`) once the
    /// transaction has ended (see `SQLTransaction.fetchAllLater`).
    static func sendClaim(_ db: any SQLTransaction, workerID: String, leaseDuration: TimeInterval,
                          at t: Double, localNow: Date, scope: ClaimScope = .anyJob) throws -> SentClaim {
        let token = UUID().uuidString
        let expires = t + leaseDuration
        // The attempt id is chosen inside the write lock, so the lease can name it at once.
        let leaseSQL = """
            UPDATE jobs SET
                state = 'running', attempts = attempts + 1,
                lease_token = ?1, lease_worker = ?2,
                lease_attempt_id = \(db.dialect.nextAttemptIDSQL),
                lease_started_at = ?3, lease_expires_at = ?4,
                started_at = COALESCE(started_at, \(db.dialect.greatest("?3", Self.latestDependencyFinishSQL))),
                not_before = NULL, memo_key = NULL,
                progress_done = 0, progress_total = 0, progress_message = NULL
            WHERE id = (
                SELECT q.id FROM jobs AS q
                WHERE q.state = 'queued' AND (q.not_before IS NULL OR q.not_before <= ?3)
                  AND \(noLiveTwinSQL(queued: "q", now: "?3"))
                  AND \(scopeSQL(db.dialect, queued: "q", scope, now: "?3", firstParameter: 5))
                ORDER BY q.priority DESC, q.run_id, q.chain_length DESC, q.id
                LIMIT 1 \(db.dialect.claimPickSuffix))
            RETURNING *
            """
        let lease = LeaseTerms(token: token, workerID: workerID, startsAt: t, expiresAt: expires)
        let answer = db.dialect == .postgres
            ? try claimInOneStatement(db, leaseSQL: leaseSQL, lease, scope)
            : try claimStepByStep(db, leaseSQL: leaseSQL, lease, scope)
        return SentClaim {
            guard let (row, dependencies) = try answer() else { return nil }
            return Self.claimedJob(row, dependencies: dependencies, lease: lease, leaseDuration: leaseDuration,
                                   localNow: localNow)
        }
    }

    /// A claim sent in a transaction; `job` reads its answer once the transaction has ended.
    struct SentClaim {
        let job: () throws -> ClaimedJob?
    }

    /// The leased row and its dependencies' (key, outputs), as the claim answered them.
    typealias ClaimAnswer = () throws -> (SQLRow, [(String, String?)])?

    private static func claimedJob(_ row: SQLRow, dependencies: [(String, String?)], lease: LeaseTerms,
                                   leaseDuration: TimeInterval, localNow: Date) -> ClaimedJob {
        let (token, workerID) = (lease.token, lease.workerID)
        let jobID: Int64 = row["id"]
        let attemptID: Int64 = row["lease_attempt_id"]
        var needs: [String] = []
        var outputs: [String: String] = [:]
        for (key, output) in dependencies {
            needs.append(key)
            outputs[key] = output ?? "{}"
        }
        return ClaimedJob(job: Self.decodeJob(row, needs: needs),
                          lease: JobLease(jobID: jobID, attemptID: attemptID, token: token, workerID: workerID,
                                          expiresAt: localNow.addingTimeInterval(leaseDuration)),
                          dependencyOutputs: outputs)
    }

    /// What a claim leases with: the lease SQL's parameters ?1–?4, in that order.
    struct LeaseTerms {
        var token: String
        var workerID: String
        var startsAt: Double
        var expiresAt: Double

        func arguments(_ scope: ClaimScope) -> [any SQLBindable] {
            [token, workerID, startsAt, expiresAt] + JobStore.scopeArguments(scope)
        }
    }

    /// The leased row and its dependencies' (key, outputs) by key, in three statements: the lease,
    /// the attempt row, the dependencies.
    private static func claimStepByStep(_ db: any SQLTransaction, leaseSQL: String, _ lease: LeaseTerms,
                                        _ scope: ClaimScope) throws -> ClaimAnswer {
        guard let row = try db.fetchOne(leaseSQL, lease.arguments(scope)) else { return { nil } }
        let jobID: Int64 = row["id"]
        try db.execute("""
            INSERT INTO attempts (id, job_id, number, worker_id, lease_token, started_at,
                                  lease_expires_at)
            VALUES (?, ?, (SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE job_id = ?),
                    ?, ?, ?, ?)
            """, [row["lease_attempt_id"] as Int64, jobID, jobID, lease.workerID, lease.token,
                  lease.startsAt, lease.expiresAt])
        let dependencies = try db.fetchAll("""
            SELECT p.key, p.outputs_json FROM job_dependencies d
            JOIN jobs p ON p.id = d.depends_on_job_id
            WHERE d.job_id = ? ORDER BY p.key
            """, [jobID]).map { ($0[0] as String, $0[1] as String?) }
        return { (row, dependencies) }
    }

    /// The same in one statement (PostgreSQL's data-modifying WITH): on a server each statement
    /// is a round trip, and a claim is on every job's path.
    private static func claimInOneStatement(_ db: any SQLTransaction, leaseSQL: String, _ lease: LeaseTerms,
                                            _ scope: ClaimScope) throws -> ClaimAnswer {
        let answer = try db.fetchAllLater("""
            WITH claimed AS (\(leaseSQL)),
                 attempt AS (
                    INSERT INTO attempts (id, job_id, number, worker_id, lease_token, started_at, lease_expires_at)
                    SELECT c.lease_attempt_id, c.id,
                           (SELECT COALESCE(MAX(a.number), 0) + 1 FROM attempts a WHERE a.job_id = c.id),
                           ?2, ?1, ?3, ?4
                    FROM claimed c)
            SELECT claimed.*,
                   (SELECT json_agg(json_build_array(p.key, p.outputs_json) ORDER BY p.key)::text
                    FROM job_dependencies d JOIN jobs p ON p.id = d.depends_on_job_id
                    WHERE d.job_id = claimed.id) AS dependencies_json
            FROM claimed
            """, lease.arguments(scope))
        return {
            guard let row = try answer.rows().first else { return nil }
            let json: String? = row["dependencies_json"]
            let pairs = json.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[Any]] } ?? []
            return (row, pairs.compactMap { pair in
                guard let key = pair.first as? String else { return nil }
                return (key, pair.count > 1 ? pair[1] as? String : nil)
            })
        }
    }

    /// When the last dependency of `jobs`' row finished (or `?3`, the claim's time, if none did).
    static let latestDependencyFinishSQL = """
        COALESCE((SELECT MAX(f.finished_at) FROM job_dependencies AS d JOIN jobs AS f ON f.id = d.depends_on_job_id
                  WHERE d.job_id = jobs.id), ?3)
        """

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

    /// The earliest `notBefore` among queued jobs still waiting for their backoff, so an idle
    /// worker knows how long it may sleep. Nil when no queued job is waiting.
    public func nextNotBefore(now: Date) throws -> Date? {
        try driver.read { db in
            try db.fetchValue(Double.self, """
                SELECT MIN(not_before) FROM jobs WHERE state = 'queued' AND not_before > ?
                """, [storeTime(now)]).map(localDate)
        }
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

    // MARK: - Memoization

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
