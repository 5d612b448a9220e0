import APOJSON
import APOPipeline
import APOStore
import Foundation
import Testing
@testable import APORuntime

/// Writes `params.text` to an artifact, or fails inside the writer when `params.explode` is set.
enum ArtifactWritingKind: JobKind {
    static let name = "test-artifact"
    static let version = 1
    static let parameters = [
        ParameterSpec("text", .string, default: .string("hello"), help: "content"),
        ParameterSpec("explode", .bool, default: .bool(false), help: "throw halfway through writing"),
    ]
    static let outputs = ["path"]

    struct Explosion: Error {}

    static func run(_ context: any JobContext) throws -> JobOutputs {
        let text = try context.stringParam("text")
        let explode = try context.boolParam("explode")
        let url = try context.writeArtifact(named: "out/result.txt") { tmp in
            try Data(text.utf8).write(to: tmp)
            if explode { throw Explosion() }
        }
        return ["path": .string(url.path)]
    }
}

/// Writes a small directory artifact `model` (a stand-in for a trained model); its first
/// `fail_after_write_times` attempts fail right after writing it, as a job that dies between
/// saving its model and finishing would. The content names the attempt, so a test can tell
/// which attempt's directory a row describes.
enum DirectoryWritingKind: JobKind {
    static let name = "test-directory"
    static let version = 1
    static let parameters = [
        ParameterSpec("text", .string, default: .string("weights"), help: "content"),
        ParameterSpec("fail_after_write_times", .int, default: .int(0), help: "fail the first N attempts after writing"),
    ]
    static let outputs = ["model"]

    struct FailedAfterWriting: RetryableError {}

    static func run(_ context: any JobContext) throws -> JobOutputs {
        // Attempts are counted in the checkpoint directory, which each attempt adopts from the one before.
        let counter = context.checkpointDirectory.appendingPathComponent("attempts")
        let attempt = ((try? String(contentsOf: counter, encoding: .utf8)).flatMap { Int($0) } ?? 0) + 1
        try Data(String(attempt).utf8).write(to: counter)
        let text = try context.stringParam("text")
        let url = try context.writeArtifact(named: "model") { tmp in
            try FileManager.default.createDirectory(at: tmp.appendingPathComponent("tokenizer"), withIntermediateDirectories: true)
            try Data("\(text) from attempt \(attempt)".utf8).write(to: tmp.appendingPathComponent("model.safetensors"))
            try Data(#"{"layers":2}"#.utf8).write(to: tmp.appendingPathComponent("config.json"))
            try Data("vocab".utf8).write(to: tmp.appendingPathComponent("tokenizer/vocab.txt"))
        }
        if attempt <= (try context.intParam("fail_after_write_times")) { throw FailedAfterWriting() }
        return ["model": .string(url.path)]
    }
}

/// Reports the threads the worker gave it.
enum ThreadsReportingKind: JobKind {
    static let name = "test-threads"
    static let version = 1
    static let parameters = [ParameterSpec("threads", .int, default: .int(0), help: "0: the worker's")]
    static let outputs = ["threads"]
    static func run(_ context: any JobContext) throws -> JobOutputs {
        ["threads": .int(try context.threadsParam())]
    }
}

/// Runs until cancelled, checking often; for lease-loss tests.
enum SpinKind: JobKind {
    static let name = "test-spin"
    static let version = 1
    static let parameters: [ParameterSpec] = []
    static let outputs: [String] = []
    static func run(_ context: any JobContext) throws -> JobOutputs {
        let end = Date().addingTimeInterval(10)
        while Date() < end {
            try context.checkCancelled()
            Thread.sleep(forTimeInterval: 0.01)
        }
        return [:]
    }
}

/// The worker in-process, on a real database file, with test kinds.
@Suite(.serialized)
struct WorkerTests {
    let registry = JobKindRegistry.registry([ArtifactWritingKind.self, DirectoryWritingKind.self, SpinKind.self,
                                             SleepKind.self, NoopKind.self, ThreadsReportingKind.self])

    func worker(_ store: JobStore, lease: TimeInterval = 2) -> Worker {
        Worker(store: store, registry: registry,
               configuration: WorkerConfiguration(workerID: "test-worker", leaseDuration: lease))
    }

    @Test func artifactIsRenamedIntoPlaceAndRecordedWithItsDigest() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("ok", "test-artifact", params: #"{"text":"apo"}"#),
            TestRuns.job("bad", "test-artifact", params: #"{"explode":true}"#, maxAttempts: 1),
        ], in: sandbox), now: Date())
        let w = worker(store)
        #expect(try w.runOnce() == .succeeded)
        // An error that says nothing about I/O fails at once: another attempt would meet it again.
        #expect(try w.runOnce() == .failed(retryable: false))

        let artifacts = try store.artifacts(runID: runID)
        #expect(artifacts.count == 1)
        let artifact = try #require(artifacts.first)
        #expect(artifact.path.hasSuffix("/ok/out/result.txt"))
        #expect(try String(contentsOfFile: artifact.path, encoding: .utf8) == "apo")
        // sha256("apo"), from `printf apo | sha256sum`.
        #expect(artifact.sha256 == "0724c9fcf7392c05c6f68c83705ab2866be0751e68e13154b01f0061ef0e84e1")
        #expect(artifact.size == 3)
        // The failed writer left neither the final file nor its temporary file behind.
        let badDir = URL(fileURLWithPath: artifact.path).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("bad/out")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: badDir.path))?.isEmpty ?? true)
    }

    @Test func directoryArtifactIsOneRowAcrossRetriesAndMemoizedReuse() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let model = TestRuns.job("train", "test-directory", params: #"{"fail_after_write_times":1}"#, memoize: true)
        let firstRun = try store.createRun(TestRuns.run([model], in: sandbox), now: Date())
        let w = worker(store)
        // Attempt 1 writes its directory, then fails: nothing is published, nothing recorded.
        #expect(try w.runOnce() == .failed(retryable: true))
        #expect(try store.artifacts(runID: firstRun).isEmpty)
        let root = try #require(try store.run(firstRun)?.artifactRoot)
        #expect(!FileManager.default.fileExists(atPath: root + "/train/model"))

        // Attempt 2 (after the retry backoff) publishes its directory as one row.
        var outcome: AttemptOutcome?
        try sandbox.waitUntil("the retry to be claimed", timeout: 5) {
            outcome = try w.runOnce()
            return outcome != nil
        }
        #expect(outcome == .succeeded)
        let artifacts = try store.artifacts(runID: firstRun)
        #expect(artifacts.count == 1, "\(artifacts)")
        let artifact = try #require(artifacts.first)
        #expect(artifact.type == .directory)
        #expect(artifact.path.hasSuffix("/train/model"))
        let job = try #require(try store.jobs(runID: firstRun).first)
        #expect(job.outputsJSON?.contains(artifact.path) == true)
        #expect(try String(contentsOfFile: artifact.path + "/model.safetensors", encoding: .utf8) == "weights from attempt 2")
        let oracle = try DirectoryDigestOracle.digest(of: URL(fileURLWithPath: artifact.path))
        #expect(artifact.sha256 == oracle.sha256)
        #expect(artifact.size == oracle.size)
        #expect(artifact.size == Int64("weights from attempt 2".utf8.count + #"{"layers":2}"#.utf8.count + "vocab".utf8.count))
        // Neither the first attempt's directory nor a temporary one is left beside it, and the
        // job's staging and checkpoint folders are gone once it succeeded.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: artifact.path).deletingLastPathComponent().path)
        #expect(siblings == ["model"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == [".apo-owner.json", ".attempts", ".checkpoints", "train"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.attempts").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.checkpoints").isEmpty)

        // The same job in a new run is memoized: it lists the same directory, once.
        let secondRun = try store.createRun(TestRuns.run([model], in: sandbox), now: Date())
        #expect(try w.runOnce() == .memoized(fromJobID: job.id))
        let reused = try store.artifacts(runID: secondRun)
        #expect(reused.map { [$0.name, $0.path, $0.type.rawValue, $0.sha256] }
            == [["model", artifact.path, "directory", artifact.sha256]])
        #expect(try store.artifacts(runID: firstRun).count == 1)
    }

    /// A job's `resources.threads` caps the worker's threads for it; it never raises them.
    @Test func resourcesThreadsCapTheThreadsAJobGets() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("one", "test-threads", resources: #"{"threads":1}"#),
            TestRuns.job("none", "test-threads"),
            TestRuns.job("many", "test-threads", resources: #"{"threads":16}"#),
        ], in: sandbox), now: Date())
        var configuration = WorkerConfiguration(workerID: "test-worker", leaseDuration: 2)
        configuration.threads = 4
        let w = Worker(store: store, registry: registry, configuration: configuration)
        for _ in 0..<3 { #expect(try w.runOnce() == .succeeded) }
        let outputs = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.key, $0.outputsJSON ?? "") })
        #expect(outputs == ["one": #"{"threads":1}"#, "none": #"{"threads":4}"#, "many": #"{"threads":4}"#])
    }

    @Test func jobPastItsTimeoutFailsAndIsRetried() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("nap", "sleep", params: #"{"seconds":20}"#, maxAttempts: 2, timeout: 0.3),
        ], in: sandbox), now: Date())
        let started = Date()
        #expect(try worker(store).runOnce() == .timedOut)
        #expect(Date().timeIntervalSince(started) < 2)
        let job = try #require(try store.jobs(runID: runID).first)
        #expect(job.state == .queued, "one attempt left")
        #expect(job.error?.contains("timed out") == true)
    }

    @Test func lostLeaseStopsTheJobAndWritesNothing() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([TestRuns.job("spin", "test-spin")], in: sandbox), now: Date())
        let reaper = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            // As if the lease had expired long ago: the reaper takes the job away.
            _ = try? store.reapExpiredLeases(now: Date().addingTimeInterval(3600))
        }
        reaper.start()
        let started = Date()
        #expect(try worker(store, lease: 1.5).runOnce() == .leaseLost)
        #expect(Date().timeIntervalSince(started) < 3)
        let job = try #require(try store.jobs(runID: runID).first)
        #expect(job.state == .queued, "requeued by the reaper, not completed by the stale worker")
        #expect(try store.attempts(jobID: job.id).map(\.outcome) == ["expired"])
    }

    @Test func memoKeyFollowsInputContentNotInputPath() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let a = try sandbox.write("a.txt", "same bytes")
        let b = try sandbox.write("b.txt", "same bytes")
        let c = try sandbox.write("c.txt", "other bytes")
        func key(_ path: String, seed: Int = 1) throws -> String {
            try MemoKey.compute(kind: "k", kindVersion: 1,
                                params: ["input": .string(path), "seed": .int(seed)],
                                dependencyPaths: [path]).value
        }
        #expect(try key(a) == key(b))
        #expect(try key(a) != key(c))
        #expect(try key(a) != key(a, seed: 2))
        #expect(try MemoKey.compute(kind: "k", kindVersion: 2, params: ["input": .string(a), "seed": .int(1)],
                                    dependencyPaths: [a]).value != key(a))
        // The compute path is part of the work: bf16 is never reused for fp32, nor one kernel family for another.
        func key(compute: String?) throws -> String {
            try MemoKey.compute(kind: "k", kindVersion: 1, params: ["input": .string(a), "seed": .int(1)],
                                dependencyPaths: [a], computeIdentity: compute).value
        }
        #expect(try key(compute: nil) == key(a))
        #expect(try key(compute: "bf16/avx512-bf16/openblas-haswell") != key(compute: "fp32/fp32-haswell/openblas-haswell"))
        #expect(try key(compute: "fp32/fp32-haswell/openblas-haswell") != key(compute: "fp32/fp32-cooperlake/openblas-cooperlake"))
    }

    /// `gradient_checkpointing` changes how much memory training takes, not what it computes (bit
    /// for bit, `GradientCheckpointingTests`): flipping it must find the earlier result.
    @Test func knobsThatKeepOutputsStayOutOfTheMemoKey() throws {
        func key(_ changes: [String: JSONValue]) throws -> String {
            var params: [String: JSONValue] = ["train": .array([.string("/nonexistent/pairs.json")]), "lr": .double(1e-4)]
            for spec in TrainRMKind.parameters where params[spec.name] == nil { params[spec.name] = spec.defaultValue }
            params.merge(changes) { _, new in new }
            return try MemoKey.compute(kind: TrainRMKind.name, kindVersion: TrainRMKind.version,
                                       params: MemoKey.outputParameters(params, declared: TrainRMKind.parameters),
                                       dependencyPaths: []).value
        }
        #expect(try key(["gradient_checkpointing": .bool(true)]) == key(["gradient_checkpointing": .bool(false)]))
        #expect(try key(["lr": .double(2e-4)]) != key([:]))
        for kind in [TrainRMKind.parameters, TrainLLMKind.parameters, DPOKind.parameters] {
            #expect(kind.filter { !$0.changesOutputs }.map(\.name) == ["gradient_checkpointing"])
        }
    }

    @Test func missingParamsGetTheKindDefaults() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([TestRuns.job("plain", "noop")], in: sandbox), now: Date())
        #expect(try worker(store).runOnce() == .succeeded)
        #expect(try store.jobs(runID: runID).first?.outputsJSON?.contains(#""attempt":1"#) == true)
    }
}
