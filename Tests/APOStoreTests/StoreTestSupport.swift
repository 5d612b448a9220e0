import Foundation
import Testing
@testable import APOStore
import APOTestSupport

/// The drivers the conformance suite runs against: every test taking a `StoreDriverKind` runs
/// once per driver, with the same assertions.
enum StoreDriverKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// A fresh database for one test: a WAL file in its own temporary directory, or a new PostgreSQL
/// database on the test server; removed when released.
final class TemporaryDatabase {
    let kind: StoreDriverKind
    let directory: URL
    private let postgresURL: String?
    /// The SQLite file, or the PostgreSQL URL: what `--db` would be given.
    var path: String { postgresURL ?? directory.appendingPathComponent("apo.db").path }

    init(_ kind: StoreDriverKind = .sqlite) throws {
        self.kind = kind
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("apo-store-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        postgresURL = kind == .postgres ? try TestPostgres.createDatabase() : nil
    }

    /// A store on this database. PostgreSQL stores act at the caller's clock, as SQLite's do, so
    /// tests can move time by passing `now` (the server's clock has its own test).
    func openStore(migrator: StoreMigrator? = nil) throws -> JobStore {
        switch kind {
        case .sqlite: return try JobStore(path: path, busyTimeout: 5, migrator: migrator ?? .embedded)
        case .postgres: return try JobStore(driver: PostgresDriver(url: path, clock: .caller), migrator: migrator)
        }
    }

    /// This dialect's migrations, for tests that add or leave out some.
    var embeddedMigrations: [(name: String, sql: String)] {
        StoreMigrator.embedded(for: kind == .sqlite ? .sqlite : .postgres).migrations
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
        if let postgresURL { TestPostgres.dropDatabase(postgresURL) }
    }
}

/// A fixed clock origin, so tests move time by passing `now` instead of sleeping.
let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

func job(_ key: String, needs: [String] = [], priority: Int = 0, maxAttempts: Int = 3,
         backoffBase: Double = 10, backoffMax: Double = 1_000, timeout: Double? = nil) -> NewJob {
    NewJob(key: key, kind: "noop", kindVersion: 1, paramsJSON: #"{"key":"\#(key)"}"#, needs: needs,
           priority: priority, maxAttempts: maxAttempts, backoffBaseSeconds: backoffBase,
           backoffMaxSeconds: backoffMax, timeoutSeconds: timeout, resourcesJSON: "{}",
           memoize: true)
}

func newRun(_ jobs: [NewJob], name: String = "test", yaml: String = "name: test\n") -> NewRun {
    NewRun(pipelineName: name, pipelineYAML: yaml, pipelineHash: "hash-of:" + yaml,
           paramsJSON: "{}", artifactRoot: "artifacts", jobs: jobs)
}

extension JobStore {
    /// State of each job of a run by key.
    func states(runID: Int64) throws -> [String: JobState] {
        Dictionary(uniqueKeysWithValues: try jobs(runID: runID).map { ($0.key, $0.state) })
    }

    func requireJob(runID: Int64, key: String) throws -> JobRecord {
        try #require(try job(runID: runID, key: key), "no job \(key) in run \(runID)")
    }

    /// Claims the next job, failing the test if none is ready.
    func mustClaim(_ worker: String = "w1", lease: TimeInterval = 60, now: Date,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> ClaimedJob {
        try #require(try claimNextJob(workerID: worker, leaseDuration: lease, now: now),
                     "expected a claimable job", sourceLocation: sourceLocation)
    }
}

/// Asserts `body` throws exactly `expected`.
func expectStoreError(_ expected: StoreError, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected), nothing thrown", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}
