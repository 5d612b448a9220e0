import APOEngine
import APOPipeline
import APOStore
import Foundation
import Testing
@testable import APORuntime

@Suite(.serialized)
struct LeftoverSweepTests {
    func touch(_ path: String, _ text: String = "x") throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// What repeated crashes leave — a half-written model beside a published job folder, staging
    /// of dead attempts, a half-written checkpoint step, an earlier adoption's trash — is removed
    /// when apod starts; the running attempt's folders and a failed job's checkpoints are kept.
    @Test func sweepRemovesWhatCrashedAttemptsLeftAndKeepsWhatIsInUse() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("done"), TestRuns.job("busy"), TestRuns.job("broken", maxAttempts: 1),
        ], in: sandbox), now: Date())
        let root = try #require(try store.run(runID)?.artifactRoot)
        let done = try #require(try store.claimNextJob(workerID: "w", leaseDuration: 60, now: Date()))
        try store.complete(done.lease, outputsJSON: "{}", memoKey: nil, now: Date())
        let busy = try #require(try store.claimNextJob(workerID: "w", leaseDuration: 60, now: Date()))
        let broken = try #require(try store.claimNextJob(workerID: "w", leaseDuration: 60, now: Date()))
        try store.fail(broken.lease, error: "bad", retryable: false, now: Date())

        let leftovers = [
            "\(root)/.trash-1234/model.safetensors",
            "\(root)/done/.model.old-5678/model.safetensors",
            "\(root)/done/.samples.json.tmp-9abc",
            "\(root)/.attempts/done/\(done.lease.attemptID)/model/model.safetensors",
            "\(root)/.checkpoints/done/attempt-\(done.lease.attemptID)/train-rm/step-00000002/trainable.f32",
            "\(root)/.attempts/broken/\(broken.lease.attemptID)/scores.json",
            "\(root)/.checkpoints/broken/attempt-\(broken.lease.attemptID)/train-rm/.step-00000004.tmp-77/trainable.f32",
        ]
        let kept = [
            "\(root)/done/samples.json",
            "\(root)/.attempts/busy/\(busy.lease.attemptID)/scores.json",
            "\(root)/.checkpoints/busy/attempt-\(busy.lease.attemptID)/train-rm/.step-00000002.tmp-11/trainable.f32",
            "\(root)/.checkpoints/broken/attempt-\(broken.lease.attemptID)/train-rm/step-00000002/trainable.f32",
            // An attempt newer than any the store knows of (claimed after the sweep read the store).
            "\(root)/.attempts/broken/\(busy.lease.attemptID + 100)/scores.json",
        ]
        for path in leftovers + kept { try touch(path) }

        let result = try LeftoverSweep.run(store: store)
        for path in leftovers {
            #expect(!FileManager.default.fileExists(atPath: path), "left behind: \(path)")
        }
        for path in kept {
            #expect(FileManager.default.fileExists(atPath: path), "removed: \(path)")
        }
        #expect(!result.removed.isEmpty)
    }

    /// Checkpoints pass to the next attempt by adoption: the newest earlier attempt's folder is
    /// renamed to the new attempt's, half-written steps in it are discarded, older ones go.
    @Test func aNewAttemptAdoptsTheNewestEarlierCheckpointsAndDiscardsTemporaries() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let root = sandbox.directory.appendingPathComponent("run").path
        try touch("\(root)/.checkpoints/k/attempt-3/train-rm/step-00000001/state.json", "old")
        try touch("\(root)/.checkpoints/k/attempt-5/train-rm/step-00000004/state.json", "newest")
        try touch("\(root)/.checkpoints/k/attempt-5/train-rm/.step-00000006.tmp-42/state.json", "half")
        try touch("\(root)/.attempts/k/5/model/model.safetensors")
        try touch("\(root)/.attempts/k/9/samples.json")  // a newer attempt's: not ours to touch

        let folders = try AttemptFolders.prepare(root: root, jobKey: "k", attemptID: 7,
                                                 owner: RunFolderOwner(database: "d", run: 1, location: "test"))
        folders.removeTrash()
        #expect(folders.adoptedFrom == "attempt-5")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: "\(root)/.checkpoints/k")
        #expect(checkpoints == ["attempt-7"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folders.checkpoint.path + "/train-rm") == ["step-00000004"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/.attempts/k").sorted() == ["7", "9"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == [".apo-owner.json", ".attempts", ".checkpoints"])
    }

    /// Only what can succeed on another attempt is retried.
    @Test func badInputFailsAtOnceAndIOErrorsAreRetried() {
        let final: [Error] = [
            FormatError(file: "pairs.json", message: "not a list"),
            ModelFileError.invalid(file: "m.gguf", field: "magic", expected: "GGUF", found: "xxxx"),
            RewardDataError.tooFewResponses(source: "pairs.json", count: 1),
            CocoaError(.fileReadNoSuchFile),
            JobParameterError.invalid(name: "lr", message: "bad"),
            CheckpointError.architectureMismatch(path: "c", field: "f", expected: "a", found: "b"),
        ]
        for error in final { #expect(!Worker.isRetryable(error), "\(error) must fail at once") }
        let transient: [Error] = [
            CocoaError(.fileWriteOutOfSpace),
            DurabilityError(path: "/x", operation: "fsync", code: EIO),
            StoreError.leaseLost(jobID: 1),
        ]
        for error in transient { #expect(Worker.isRetryable(error), "\(error) must be retried") }
    }
}
