import APOChaos
import APOPipeline
import APOStore
import Foundation
import GRDB
import Testing
@testable import APORuntime

@Suite(.serialized)
struct ChaosTests {
    let registry = JobKindRegistry.registry([ArtifactWritingKind.self, DirectoryWritingKind.self])

    /// Two runs of the same two jobs (a file and a directory artifact), run to the end in-process.
    func twoRuns(_ sandbox: RuntimeSandbox, _ store: JobStore) throws -> (oracle: Int64, trial: Int64) {
        let jobs = [TestRuns.job("file", "test-artifact", params: #"{"text":"apo"}"#),
                    TestRuns.job("dir", "test-directory")]
        let oracle = try store.createRun(TestRuns.run(jobs, in: sandbox), now: Date())
        let trial = try store.createRun(TestRuns.run(jobs, in: sandbox), now: Date())
        let worker = Worker(store: store, registry: registry,
                            configuration: WorkerConfiguration(workerID: "w", leaseDuration: 30))
        while try worker.runOnce() != nil {}
        return (oracle, trial)
    }

    /// The check itself must be able to fail: each kind of damage it exists to catch is counted.
    @Test func theVerdictCountsEachKindOfDamage() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let (oracleRun, trialRun) = try twoRuns(sandbox, store)
        let oracle = try ChaosOracle(store: store, runID: oracleRun)
        #expect(oracle.artifacts.count == 2)
        let clean = try ChaosVerdict(store: store, runID: trialRun, oracle: oracle)
        #expect(clean.isClean, "\(clean.problems)")

        let artifacts = try store.artifacts(runID: trialRun)
        let file = try #require(artifacts.first { $0.type == .file })
        let root = try #require(try store.run(trialRun)?.artifactRoot)
        // A stale attempt rewrote a published file, left a file of its own, and landed a metric.
        try Data("APO".utf8).write(to: URL(fileURLWithPath: file.path))
        try Data("stale".utf8).write(to: URL(fileURLWithPath: root + "/.attempts/leftover"))
        let attempt = try #require(try store.attempts(jobID: file.jobID).first)
        try GRDB.DatabaseQueue(path: sandbox.databasePath).write { db in
            try db.execute(sql: "INSERT INTO metrics (job_id, attempt_id, step, name, value, recorded_at) VALUES (?, ?, 1, 'late', 1, ?)",
                           arguments: [file.jobID, attempt.id, Date().addingTimeInterval(60).timeIntervalSince1970])
        }
        let damaged = try ChaosVerdict(store: store, runID: trialRun, oracle: oracle)
        #expect(damaged.mismatched == 1, "\(damaged.problems)")
        #expect(damaged.staleWrites == 2, "\(damaged.problems)")
        #expect(damaged.lost == 0)
        #expect(!damaged.isClean)

        // A run whose job did not succeed lost that job and its artifacts.
        let failing = try store.createRun(TestRuns.run([
            TestRuns.job("file", "test-artifact", params: #"{"explode":true}"#, maxAttempts: 1),
            TestRuns.job("dir", "test-directory"),
        ], in: sandbox), now: Date())
        let worker = Worker(store: store, registry: registry, configuration: WorkerConfiguration(workerID: "w", leaseDuration: 30))
        while try worker.runOnce() != nil {}
        let lost = try ChaosVerdict(store: store, runID: failing, oracle: oracle)
        #expect(lost.lost == 2, "the failed job and its artifact: \(lost.problems)")
    }

    /// The CI version of `apoctl bench chaos`: the chaos pipeline on the real model, once
    /// undisturbed and once under kills and freezes, all figures zero.
    @Test func chaosBenchShortRunIsClean() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = sandbox.binaries.appendingPathComponent("apoctl")
        process.arguments = ["bench", "chaos", "--trials", "1", "--short", "--seed", "3"]
        process.currentDirectoryURL = repository
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let summary = try #require(text.split(separator: "\n").last { $0.hasPrefix("chaos: ") }, "\(text)")
        #expect(summary.hasSuffix("0 lost, 0 duplicated, 0 mismatched, 0 stale writes, 0 orphans"), "\(text)")
        // It really disturbed the run.
        let numbers = summary.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
        #expect(numbers.count == 8)
        #expect(numbers[1] + numbers[2] > 0, "no kill and no stop: \(summary)")
    }
}
