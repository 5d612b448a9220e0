import APOPipeline
import APOStore
import Foundation
import Synchronization
import Testing
@testable import APORuntime

/// Writes a file artifact, then — on its first attempt only — waits for a gate file before writing
/// a model directory and a second file: an attempt frozen mid-write (as by SIGSTOP or a VM pause)
/// that wakes up after its job was handed to another attempt. Every artifact names the attempt.
enum GatedWriterKind: JobKind {
    static let name = "test-gated-writer"
    static let version = 1
    static let parameters = [ParameterSpec("gate", .string, help: "file whose existence lets attempt 1 go on")]
    static let outputs = ["first", "model", "second"]

    static func run(_ context: any JobContext) throws -> JobOutputs {
        let counter = context.checkpointDirectory.appendingPathComponent("attempts")
        let attempt = ((try? String(contentsOf: counter, encoding: .utf8)).flatMap { Int($0) } ?? 0) + 1
        try Data(String(attempt).utf8).write(to: counter)
        let first = try context.writeArtifact(named: "first.json") { try Data("first of attempt \(attempt)".utf8).write(to: $0) }
        context.log("attempt \(attempt) staged first.json")
        if attempt == 1 {
            let gate = try context.stringParam("gate")
            while !FileManager.default.fileExists(atPath: gate) { Thread.sleep(forTimeInterval: 0.01) }
            // Deliberately no checkCancelled(): a kind busy in a long write does not look.
            context.log("attempt 1 woke up")
            context.recordMetric(step: 1, name: "late", value: 1)
            try? Data("checkpoint of attempt 1".utf8).write(to: context.checkpointDirectory.appendingPathComponent("late"))
        }
        let model = try context.writeArtifact(named: "model") { tmp in
            try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: false)
            try Data("weights of attempt \(attempt)".utf8).write(to: tmp.appendingPathComponent("model.safetensors"))
        }
        let second = try context.writeArtifact(named: "second.json") { try Data("second of attempt \(attempt)".utf8).write(to: $0) }
        return ["first": .string(first.path), "model": .string(model.path), "second": .string(second.path)]
    }
}

@Suite(.serialized)
struct StaleAttemptTests {
    let registry = JobKindRegistry.registry([GatedWriterKind.self])

    /// Every file under `root` (relative path → bytes).
    func tree(_ root: String) -> [String: Data] {
        var files: [String: Data] = [:]
        for case let relative as String in FileManager.default.enumerator(atPath: root)?.allObjects ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[relative] = FileManager.default.contents(atPath: root + "/" + relative)
            }
        }
        return files
    }

    @Test func anAttemptWhoseLeaseIsTakenMidWriteLeavesTheNewerAttemptsOutputsUntouched() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let gate = sandbox.directory.appendingPathComponent("gate").path
        let params = try MemoKey.canonicalJSON(.object(["gate": .string(gate)]))
        let runID = try store.createRun(TestRuns.run([TestRuns.job("w", "test-gated-writer", params: params)], in: sandbox),
                                        now: Date())
        let root = try #require(try store.run(runID)?.artifactRoot)
        let stale = Worker(store: store, registry: registry,
                           configuration: WorkerConfiguration(workerID: "stale", leaseDuration: 30))
        let fresh = Worker(store: store, registry: registry,
                           configuration: WorkerConfiguration(workerID: "fresh", leaseDuration: 30))

        let staleOutcome = Mutex<AttemptOutcome?>(nil)
        let staleDone = DispatchSemaphore(value: 0)
        let thread = Thread {
            let outcome = try? stale.runOnce()
            staleOutcome.withLock { $0 = outcome }
            staleDone.signal()
        }
        thread.start()
        try sandbox.waitUntil("attempt 1 to stage its first artifact") {
            try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 10).contains { $0.line == "attempt 1 staged first.json" }
        }
        // The lease is taken away as if it had expired while the worker was frozen.
        // (The store's clock is passed in: "later" is 31 s on, past the 30 s lease, and the retry
        // is claimed once its backoff of at most 0.2 s has passed too.)
        #expect(try store.reapExpiredLeases(now: Date().addingTimeInterval(31)).count == 1)
        #expect(try fresh.runOnce(now: Date().addingTimeInterval(32)) == .succeeded)
        let job = try #require(try store.jobs(runID: runID).first)
        #expect(job.state == .succeeded)
        let rowsAfterFresh = try store.artifacts(runID: runID)
        let filesAfterFresh = tree(root)
        let logsAfterFresh = try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 100).count
        #expect(rowsAfterFresh.map(\.name) == ["first.json", "model", "second.json"])
        #expect(filesAfterFresh["w/second.json"] == Data("second of attempt 2".utf8))
        #expect(filesAfterFresh["w/model/model.safetensors"] == Data("weights of attempt 2".utf8))

        // Attempt 1 wakes up and goes on writing.
        _ = FileManager.default.createFile(atPath: gate, contents: Data())
        #expect(staleDone.wait(timeout: .now() + 20) == .success)
        #expect(staleOutcome.withLock { $0 } == .leaseLost)

        #expect(try store.artifacts(runID: runID) == rowsAfterFresh)
        #expect(tree(root) == filesAfterFresh, "the stale attempt changed files under the run folder")
        #expect(try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 100).count == logsAfterFresh)
        #expect(try store.metrics(jobID: job.id).isEmpty)
        #expect(try store.staleWrites().isEmpty)
        #expect(try store.jobs(runID: runID).first?.outputsJSON == job.outputsJSON)
        // Nothing but the published outputs is left: no staging, no checkpoint, no temporary.
        #expect(filesAfterFresh.keys.sorted() == [RunFolderOwner.fileName, "w/first.json", "w/model/model.safetensors", "w/second.json"])
    }
}
