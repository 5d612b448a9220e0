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
    let registry = JobKindRegistry.registry([ArtifactWritingKind.self, SpinKind.self, SleepKind.self, NoopKind.self])

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
        #expect(try w.runOnce() == .failed(retryable: true))

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
