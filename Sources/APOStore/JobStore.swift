import Foundation
import GRDB

/// The persisted job DAG and queue over one SQLite file (WAL mode). Every state transition is one
/// IMMEDIATE transaction, so any number of `JobStore`s — in one process or many — may share a file.
///
/// Invariants kept by the schema and by every method: a job is `running` exactly when it holds a
/// lease token; a `blocked` job's dependencies are all succeeded, blocked, queued or running; a
/// run's stored `state` agrees with its jobs' states.
public final class JobStore: Sendable {
    /// The path this store was opened on.
    public let path: String
    let pool: DatabasePool

    /// Opens (creating) the SQLite file in WAL mode with a busy timeout and foreign keys, and
    /// applies pending migrations. Throws `StoreError.databaseTooNew` when the file records a
    /// migration this binary does not know, and the other "database unavailable" `StoreError`s
    /// (`isDatabaseUnavailable`) for a file apo must not or cannot use.
    public convenience init(path: String) throws {
        try self.init(path: path, busyTimeout: 5, migrator: .embedded)
    }

    /// Opens an existing database only: a missing file throws `StoreError.databaseMissing`
    /// instead of being created (what commands that only read use, so a typo creates nothing).
    public static func openExisting(path: String, busyTimeout: TimeInterval = 5) throws -> JobStore {
        try JobStore(path: path, busyTimeout: busyTimeout, migrator: .embedded, mustExist: true)
    }

    /// - Parameters:
    ///   - mustExist: refuse a missing file (`StoreError.databaseMissing`) instead of creating it.
    ///   - fileSystem: statfs of the database's directory; tests inject a network file system.
    ///
    /// Before SQLite opens the file for writing, the file is checked (`DatabaseFile.preflight`:
    /// not on a network file system, writable) and probed with a plain connection: a file that is
    /// not an SQLite database (SQLITE_NOTADB), or one that has tables but no `apo_migrations`
    /// (another program's), is refused, so apo never migrates, converts to WAL or "repairs" a
    /// stranger's file.
    public init(path: String, busyTimeout: TimeInterval, migrator: StoreMigrator, mustExist: Bool = false,
                fileSystem: (String) -> FileSystemInfo? = FileSystemInfo.of(path:)) throws {
        self.path = path
        try DatabaseFile.preflight(path: path, mustExist: mustExist, fileSystem: fileSystem)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "apo.store"
        do {
            try Self.checkIsApoDatabase(path: path, configuration: configuration)
            configuration.prepareDatabase { db in
                // WAL + NORMAL: a commit survives any process crash (only a power loss can drop the
                // last commits), and commits need no fsync, which is what makes claims cheap.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            try migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw Self.openError(error, path: path, busyTimeout: busyTimeout)
        }
    }

    /// Refuses an SQLite file that holds tables but no migration history: not an apo database.
    private static func checkIsApoDatabase(path: String, configuration: Configuration) throws {
        let probe = try DatabaseQueue(path: path, configuration: configuration)
        let tables = try probe.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        try probe.close()
        if !tables.isEmpty && !tables.contains("apo_migrations") {
            let shown = tables.sorted().prefix(3).joined(separator: ", ")
            throw StoreError.notAnApoDatabase(
                path: path, reason: "it is an SQLite database with tables (\(shown)\(tables.count > 3 ? ", …" : "")) but no apo_migrations")
        }
    }

    /// SQLite's refusals of the file itself while opening, as the store's named errors; any other
    /// error (a failing migration's SQL) is returned as it is.
    static func openError(_ error: DatabaseError, path: String, busyTimeout: TimeInterval) -> any Error {
        let message = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError.databaseLocked(path: path, waitedSeconds: busyTimeout)
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError.notAnApoDatabase(path: path, reason: "SQLite: \(message)")
        case .SQLITE_READONLY, .SQLITE_PERM:
            return StoreError.databaseReadOnly(path: path, reason: "SQLite: \(message)")
        case .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL:
            return StoreError.cannotOpen(path: path, reason: "SQLite: \(message)")
        default:
            return error
        }
    }

    /// Raw read access for tools and tests (views, ad-hoc SQL).
    public func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    // MARK: - Submission

    /// Stores a run and its DAG in one transaction; the pipeline row is shared by equal hashes.
    /// Jobs without dependencies start `queued`, the others `blocked`.
    @discardableResult
    public func createRun(_ run: NewRun, now: Date) throws -> Int64 {
        let order = try Self.validatedOrder(run.jobs)
        let t = now.timeIntervalSince1970
        return try pool.write { db in
            try db.execute(sql: """
                INSERT INTO pipelines (name, yaml, sha256, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (sha256) DO NOTHING
                """, arguments: [run.pipelineName, run.pipelineYAML, run.pipelineHash, t])
            let pipelineID = try Int64.fetchOne(
                db, sql: "SELECT id FROM pipelines WHERE sha256 = ?", arguments: [run.pipelineHash])!
            try db.execute(sql: """
                INSERT INTO runs (pipeline_id, state, params_json, artifact_root, created_at)
                VALUES (?, 'running', ?, ?, ?)
                """, arguments: [pipelineID, run.paramsJSON, run.artifactRoot, t])
            let runID = db.lastInsertedRowID
            var ids: [String: Int64] = [:]
            let insert = try db.cachedStatement(sql: """
                INSERT INTO jobs (run_id, key, kind, kind_version, params_json, state, priority,
                    resources_json, max_attempts, backoff_base_seconds, backoff_max_seconds,
                    timeout_seconds, memoize, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for job in order {
                let state: JobState = job.needs.isEmpty ? .queued : .blocked
                try insert.execute(arguments: [
                    runID, job.key, job.kind, job.kindVersion, job.paramsJSON, state.rawValue,
                    job.priority, job.resourcesJSON, job.maxAttempts, job.backoffBaseSeconds,
                    job.backoffMaxSeconds, job.timeoutSeconds, job.memoize, t,
                ])
                ids[job.key] = db.lastInsertedRowID
            }
            let edge = try db.cachedStatement(
                sql: "INSERT INTO job_dependencies (job_id, depends_on_job_id) VALUES (?, ?)")
            for job in order {
                for need in Set(job.needs) {
                    try edge.execute(arguments: [ids[job.key]!, ids[need]!])
                }
            }
            if run.jobs.isEmpty { try refreshRunState(db, runID: runID, now: now) }
            return runID
        }
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
