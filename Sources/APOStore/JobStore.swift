import Foundation

/// The persisted job DAG and queue, in an SQLite file (the embedded default) or a PostgreSQL
/// database that many hosts share. The queries are written once, here and in the extensions, over
/// `StoreDriver`; every state transition is one transaction, so any number of `JobStore`s — in
/// one process, in many, on many hosts (PostgreSQL) — may share a database.
///
/// Invariants kept by the schema and by every method: a job is `running` exactly when it holds a
/// lease token; a `blocked` job's dependencies are all succeeded, blocked, queued or running; a
/// run's stored `state` agrees with its jobs' states.
public final class JobStore: Sendable {
    /// The driver every query goes through.
    public let driver: any StoreDriver
    /// What the store was opened on: the SQLite file's path, or the PostgreSQL URL without its
    /// password.
    public var path: String { driver.location }

    /// Opens a store on a migrated driver.
    public convenience init(driver: any StoreDriver, migrator: StoreMigrator? = nil) throws {
        try (migrator ?? StoreMigrator.embedded(for: driver.dialect)).migrate(driver)
        self.init(migrated: driver)
    }

    private init(migrated driver: any StoreDriver) {
        self.driver = driver
    }

    /// Opens (creating) the SQLite file in WAL mode with a busy timeout and foreign keys, and
    /// applies pending migrations. Throws `StoreError.databaseTooNew` when the file records a
    /// migration this binary does not know, and the other "database unavailable" `StoreError`s
    /// (`isDatabaseUnavailable`) for a file apo must not or cannot use.
    /// A `postgres://` URL opens that database instead.
    public convenience init(path: String) throws {
        if PostgresLocation.isURL(path) {
            try self.init(driver: PostgresDriver(url: path))
        } else {
            try self.init(path: path, busyTimeout: 5, migrator: .embedded)
        }
    }

    /// Opens an existing database only: a missing file throws `StoreError.databaseMissing`
    /// instead of being created (what commands that only read use, so a typo creates nothing).
    /// A PostgreSQL URL must name a database that exists (the server says so otherwise).
    public static func openExisting(path: String, busyTimeout: TimeInterval = 5) throws -> JobStore {
        if PostgresLocation.isURL(path) { return try JobStore(path: path) }
        return try JobStore(path: path, busyTimeout: busyTimeout, migrator: .embedded, mustExist: true)
    }

    /// An SQLite store (see `SQLiteDriver.init`).
    /// - Parameters:
    ///   - mustExist: refuse a missing file (`StoreError.databaseMissing`) instead of creating it.
    ///   - fileSystem: statfs of the database's directory; tests inject a network file system.
    public convenience init(path: String, busyTimeout: TimeInterval, migrator: StoreMigrator, mustExist: Bool = false,
                            fileSystem: (String) -> FileSystemInfo? = FileSystemInfo.of(path:)) throws {
        let driver = try SQLiteDriver(path: path, busyTimeout: busyTimeout, mustExist: mustExist,
                                      fileSystem: fileSystem)
        try driver.mappingOpenErrors(busyTimeout: busyTimeout) { try migrator.migrate(driver) }
        self.init(migrated: driver)
    }

    /// Read access for tools and tests (views, ad-hoc SQL), in the store's dialect.
    public func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T { try driver.read(body) }

    /// The time the store acts at for the caller's `now` (see `StoreDriver.storeTime`).
    func storeTime(_ now: Date) -> Double { driver.storeTime(now) }

    /// A time the store recorded, on this host's clock (what a caller compares with `Date()`).
    func localDate(_ storeSeconds: Double) -> Date {
        Date(timeIntervalSince1970: storeSeconds - driver.storeTime(Date(timeIntervalSince1970: 0)))
    }

    // MARK: - Submission

    /// Stores a run and its DAG in one transaction; the pipeline row is shared by equal hashes.
    /// Jobs without dependencies start `queued`, the others `blocked`.
    @discardableResult
    public func createRun(_ run: NewRun, now: Date) throws -> Int64 {
        let order = try Self.validatedOrder(run.jobs)
        let t = storeTime(now)
        return try driver.write { db in
            try db.execute("""
                INSERT INTO pipelines (name, yaml, sha256, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (sha256) DO NOTHING
                """, [run.pipelineName, run.pipelineYAML, run.pipelineHash, t])
            let pipelineID = try db.fetchValue(Int64.self, "SELECT id FROM pipelines WHERE sha256 = ?", [run.pipelineHash])!
            let runID = try db.fetchValue(Int64.self, """
                INSERT INTO runs (pipeline_id, state, params_json, artifact_root, created_at)
                VALUES (?, 'running', ?, ?, ?)
                RETURNING id
                """, [pipelineID, run.paramsJSON, run.artifactRoot, t])!
            var ids: [String: Int64] = [:]
            let chains = Self.chainLengths(order)
            for job in order {
                let state: JobState = job.needs.isEmpty ? .queued : .blocked
                ids[job.key] = try db.fetchValue(Int64.self, """
                    INSERT INTO jobs (run_id, key, kind, kind_version, params_json, state, priority,
                        resources_json, max_attempts, backoff_base_seconds, backoff_max_seconds,
                        timeout_seconds, memoize, chain_length, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    RETURNING id
                    """, [
                    runID, job.key, job.kind, job.kindVersion, job.paramsJSON, state.rawValue,
                    job.priority, job.resourcesJSON, job.maxAttempts, job.backoffBaseSeconds,
                    job.backoffMaxSeconds, job.timeoutSeconds, job.memoize, chains[job.key]!, t,
                ])!
            }
            for job in order {
                for need in Set(job.needs) {
                    try db.execute("INSERT INTO job_dependencies (job_id, depends_on_job_id) VALUES (?, ?)",
                                   [ids[job.key]!, ids[need]!])
                }
            }
            if run.jobs.isEmpty { try Self.refreshRunState(db, runID: runID, at: t) }
            if order.contains(where: { $0.needs.isEmpty }) { try Self.notifyQueued(db) }
            return runID
        }
    }

    /// Per job key, how many jobs the longest chain from it to the end of the DAG holds, itself
    /// included (a job nothing needs: 1). `order` is dependency-first (`validatedOrder`).
    static func chainLengths(_ order: [NewJob]) -> [String: Int] {
        var chains: [String: Int] = [:]
        for job in order.reversed() {
            chains[job.key] = chains[job.key] ?? 1
            for need in job.needs { chains[need] = max(chains[need] ?? 1, chains[job.key]! + 1) }
        }
        return chains
    }

    /// Checks keys, dependencies and acyclicity; returns the jobs in a dependency-first order.
    static func validatedOrder(_ jobs: [NewJob]) throws -> [NewJob] {
        var byKey: [String: NewJob] = [:]
        for job in jobs {
            if byKey[job.key] != nil { throw StoreError.duplicateJobKey(job.key) }
            if job.maxAttempts < 1 {
                throw StoreError.invalidJob(key: job.key, reason: "maxAttempts must be at least 1")
            }
            if job.backoffBaseSeconds < 0 || job.backoffMaxSeconds < 0 {
                throw StoreError.invalidJob(key: job.key, reason: "backoff must not be negative")
            }
            if let timeout = job.timeoutSeconds, !(timeout > 0) {
                throw StoreError.invalidJob(key: job.key, reason: "timeout must be positive")
            }
            byKey[job.key] = job
        }
        for job in jobs {
            for need in job.needs where byKey[need] == nil || need == job.key {
                if need == job.key { throw StoreError.dependencyCycle([job.key]) }
                throw StoreError.unknownDependency(job: job.key, needs: need)
            }
        }
        // Kahn's algorithm, keeping submission order among ready jobs.
        var remaining = Dictionary(uniqueKeysWithValues: jobs.map { ($0.key, Set($0.needs)) })
        var order: [NewJob] = []
        while order.count < jobs.count {
            let ready = jobs.filter { remaining[$0.key]?.isEmpty == true }
            if ready.isEmpty {
                throw StoreError.dependencyCycle(jobs.map(\.key).filter { remaining[$0] != nil })
            }
            for job in ready {
                order.append(job)
                remaining[job.key] = nil
            }
            for key in remaining.keys {
                remaining[key]!.subtract(ready.map(\.key))
            }
        }
        return order
    }
}
