import Foundation

// Claiming a job: the one guarded UPDATE that picks and leases the next claimable job, and when
// an idle worker should look again.

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

    /// The earliest `notBefore` among queued jobs still waiting for their backoff, so an idle
    /// worker knows how long it may sleep. Nil when no queued job is waiting.
    public func nextNotBefore(now: Date) throws -> Date? {
        try driver.read { db in
            try db.fetchValue(Double.self, """
                SELECT MIN(not_before) FROM jobs WHERE state = 'queued' AND not_before > ?
                """, [storeTime(now)]).map(localDate)
        }
    }
}
