import APOStore
import Foundation
import GRDB
import Testing

/// Bad database files as the real `apoctl` and `apod` meet them: a clear message naming the file,
/// exit code 6, and the file exactly as it was.
@Suite(.serialized)
struct DatabaseFileProcessTests {
    static let readingCommands: [[String]] = [
        ["runs"], ["history"], ["show", "1"], ["watch", "1"], ["logs", "1"], ["logs", "1", "-f"],
        ["artifacts", "1"], ["cancel", "1"], ["retry", "1"], ["resume", "1"], ["report", "1"],
    ]

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func readingCommandsRefuseAMissingDatabaseAndCreateNothing() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let typo = sandbox.directory.appendingPathComponent("typo.db").path
        for command in Self.readingCommands {
            let result = try sandbox.run("apoctl", command + ["--db", typo], timeout: 10)
            #expect(result.status == 6, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("error: no database at \(typo)"), "\(command): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: typo), "\(command) created the database")
        }
        // $APO_DB is read the same way.
        let help = try sandbox.run("apoctl", ["--help"])
        #expect(help.stdout.contains("6  the database cannot be used"))
        // Only submit creates a database.
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: noop}]\n")
        let submitted = try sandbox.run("apoctl", ["submit", file, "--db", typo])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(try sandbox.run("apoctl", ["runs", "--db", typo]).status == 0)
    }

    @Test func garbageFileIsRefusedByApoctlAndApodAndLeftUntouched() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        var generator = SystemRandomNumberGenerator()
        let garbage = Data((0..<16384).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try garbage.write(to: URL(fileURLWithPath: sandbox.databasePath))
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: noop}]\n")
        for command in [["submit", file], ["runs"], ["show", "1"]] {
            let result = try sandbox.apoctl(command)
            #expect(result.status == 6, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("\(sandbox.databasePath) is not an apo database"), "\(command): \(result.stderr)")
            #expect(result.stderr.contains("left untouched"))
        }
        let daemon = try sandbox.run("apod", ["--db", sandbox.databasePath, "--workers", "1"], timeout: 20)
        #expect(daemon.status == 6, "\(daemon.stderr)")
        #expect(daemon.stderr.contains("\(sandbox.databasePath) is not an apo database"), "\(daemon.stderr)")
        #expect(try bytes(sandbox.databasePath) == garbage)
        for suffix in ["-wal", "-shm"] {
            #expect(!FileManager.default.fileExists(atPath: sandbox.databasePath + suffix))
        }
    }

    @Test func readOnlyDatabaseIsRefusedForSubmitAndNothingIsLost() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: noop}]\n")
        #expect(try sandbox.apoctl(["submit", file]).status == 0)
        chmod(sandbox.databasePath, 0o444)
        defer { chmod(sandbox.databasePath, 0o644) }
        let before = try bytes(sandbox.databasePath)
        let result = try sandbox.apoctl(["submit", file])
        #expect(result.status == 6, "\(result.stderr)")
        #expect(result.stderr.contains("\(sandbox.databasePath) is read-only"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try bytes(sandbox.databasePath) == before)
        chmod(sandbox.databasePath, 0o644)
        let runs = try sandbox.apoctl(["runs", "--json"])
        #expect(runs.status == 0)
        #expect(try sandbox.store().runs(limit: 10).count == 1)
    }

    @Test func databaseLockedLongerThanTheBusyTimeoutIsRefusedAndNothingIsLost() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: noop}]\n")
        #expect(try sandbox.apoctl(["submit", file]).status == 0)
        // A second connection (this test process) holds the file's exclusive lock.
        var unsafe = Configuration()
        unsafe.allowsUnsafeTransactions = true  // the lock outlives one access on purpose
        let holder = try DatabaseQueue(path: sandbox.databasePath, configuration: unsafe)
        try holder.inDatabase { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "BEGIN EXCLUSIVE")
            try db.execute(sql: "UPDATE runs SET params_json = params_json")
        }
        let started = Date()
        let result = try sandbox.apoctl(["submit", file], timeout: 30)
        let waited = Date().timeIntervalSince(started)
        #expect(result.status == 6, "\(result.stderr)")
        #expect(result.stderr.contains("\(sandbox.databasePath) is locked by another process (waited 5 s)"), "\(result.stderr)")
        #expect(waited >= 4.5, "gave up after \(waited) s, before the 5 s busy timeout")
        try holder.inDatabase { db in
            try db.execute(sql: "ROLLBACK")
            try db.execute(sql: "PRAGMA locking_mode = NORMAL")
            _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs")
        }
        try holder.close()
        #expect(try sandbox.apoctl(["submit", file]).status == 0)
        #expect(try sandbox.store().runs(limit: 10).count == 2)
    }

    // MARK: - No daemon

    /// Runs `apoctl ARGS` in the background until `condition` holds on its stderr.
    func waitForStderr(_ sandbox: RuntimeSandbox, _ name: String, timeout: TimeInterval = 15,
                       _ condition: (String) -> Bool) throws {
        try sandbox.waitUntil("\(name) to say it", timeout: timeout) { condition(sandbox.read(name)) }
    }

    @Test func watchWarnsOnceWhenNoDaemonEverRanThenFollowsTheRun() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: sleep, params: {seconds: 0.5}}]\n")
        let out = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(out.stderr)")
        let watch = try sandbox.spawn("apoctl", ["watch", String(runID), "--db", sandbox.databasePath],
                                      stderrName: "watch.err", stdoutName: "watch.out")
        try waitForStderr(sandbox, "watch.err") { $0.contains("warning: no apod has ever run on \(sandbox.databasePath)") }
        try sandbox.startDaemon(workers: 1)
        #expect(sandbox.wait(for: watch, timeout: 30))
        #expect(watch.terminationStatus == 0, "\(sandbox.read("watch.err"))")
        #expect(sandbox.read("watch.err").components(separatedBy: "warning:").count == 2, "\(sandbox.read("watch.err"))")
    }

    @Test func logsFollowWarnsWhenTheLastHeartbeatIsStale() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: sleep, params: {seconds: 0.5}}]\n")
        let out = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(out.stderr)")
        // A daemon that died a minute ago (killed: its row was never removed).
        try sandbox.store().recordDaemonHeartbeat(id: "gone:1", host: "gone", pid: 1, workers: 2,
                                                  startedAt: Date(timeIntervalSinceNow: -120),
                                                  now: Date(timeIntervalSinceNow: -60))
        let logs = try sandbox.spawn("apoctl", ["logs", String(runID), "-f", "--db", sandbox.databasePath],
                                     stderrName: "logs.err", stdoutName: "logs.out")
        try waitForStderr(sandbox, "logs.err") {
            $0.contains("warning: no apod has heartbeated on \(sandbox.databasePath) for 1m0")
        }
        try sandbox.startDaemon(workers: 1)
        #expect(sandbox.wait(for: logs, timeout: 30))
        #expect(logs.terminationStatus == 0)
        #expect(sandbox.read("logs.err").components(separatedBy: "warning:").count == 2)
    }

    @Test func watchDoesNotWarnWhileADaemonServesTheDatabase() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        try sandbox.startDaemon(workers: 1)
        let store = try sandbox.store()
        try sandbox.waitUntil("apod's first heartbeat") { try store.lastDaemonActivity() != nil }
        // Longer than the first check's delay (3 s), with the worker busy on the job throughout.
        let file = try sandbox.write("p.yaml", "name: p\njobs: [{id: a, kind: sleep, params: {seconds: 4.5}}]\n")
        let out = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(out.stderr)")
        let watch = try sandbox.apoctl(["watch", String(runID)], timeout: 30)
        #expect(watch.status == 0, "\(watch.stderr)")
        #expect(!watch.stderr.contains("warning"), "\(watch.stderr)")
    }
}
