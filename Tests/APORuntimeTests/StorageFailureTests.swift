import APOPipeline
import APOStore
import Foundation
import GRDB
import Testing
@testable import APORuntime

/// Storage that fails under a run: a full artifact file system, an input artifact changed between
/// jobs. The job fails with an error naming what and where; nothing half-written is visible; the
/// database stays intact; and once the cause is gone, `apoctl resume` finishes the run.
@Suite(.serialized)
struct StorageFailureTests {
    /// A tmpfs of `megabytes` at `path` (the tests run as root, as CI does; refusing to mount is a
    /// failure of the test machine, reported as such rather than skipped).
    func mountSmallFileSystem(at path: String, megabytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            throw RuntimeSandbox.Failure(description: "cannot mount a tmpfs at \(path) (status \(mount.terminationStatus)): this test needs root, as deploy/test.sh has in CI")
        }
    }

    func unmount(_ path: String) {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", path]
        try? umount.run()
        umount.waitUntilExit()
    }

    @Test func aFullArtifactFileSystemFailsTheJobCleanlyAndResumeFinishesAfterSpaceIsFreed() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let small = sandbox.directory.appendingPathComponent("small").path
        try mountSmallFileSystem(at: small, megabytes: 4)
        defer { unmount(small) }
        // Leave about 40 KB: prepare-data's eight JSON files need several hundred.
        let filler = small + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 4 * 1024 * 1024 - 40 * 1024))

        let data = PipelineResilienceTests.repositoryRoot
            .appendingPathComponent("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz").standardized.path
        let file = try sandbox.write("full.yaml", """
            name: full
            jobs:
              - id: prepare
                kind: prepare-data
                retries: {max_attempts: 2, backoff_seconds: 0.05, max_backoff_seconds: 0.1}
                params: {input: "\(data)", max_queries: 200, seed: 7}
            """)
        let submit = try sandbox.apoctl(["submit", file, "--artifacts", small])
        #expect(submit.status == 0, "\(submit.stderr)")
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let daemon = try sandbox.startDaemon(workers: 1, leaseSeconds: 5)
        let failed = try sandbox.waitForRun(runID, timeout: 60)
        #expect(failed.state == .failed)
        let store = try sandbox.store()
        let job = try #require(try store.jobs(runID: runID).first)
        let error = job.error ?? ""
        #expect(error.contains("No space left on device") || error.contains("no space left on device"), "\(error)")
        #expect(error.contains(small), "the error names the path: \(error)")
        // Nothing half-written is visible: no published file, no staging or temporary left.
        let root = try #require(try store.run(runID)?.artifactRoot)
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { entry in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + entry, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.filter { $0 != RunFolderOwner.fileName }
        #expect(files.isEmpty, "left on the full file system: \(files)")
        #expect(try store.artifacts(runID: runID).isEmpty)
        let integrity = try DatabaseQueue(path: sandbox.databasePath).read { db in
            try String.fetchOne(db, sql: "PRAGMA integrity_check")
        }
        #expect(integrity == "ok")

        try FileManager.default.removeItem(atPath: filler)
        let resume = try sandbox.apoctl(["resume", String(runID)])
        #expect(resume.status == 0, "\(resume.stderr)")
        let finished = try sandbox.waitForRun(runID, timeout: 60)
        #expect(finished.state == .succeeded, "\(sandbox.daemonLogs())")
        #expect(try store.artifacts(runID: runID).count == 8)
        sandbox.signal(daemon, SIGTERM)
        _ = sandbox.wait(for: daemon, timeout: 20)
    }

    /// A byte flipped in an upstream artifact between two jobs is caught by its sha256 before the
    /// downstream job uses it; the error names the artifact and the job that produced it, and the
    /// job fails at once (reading the same bytes again cannot help).
    @Test func aFlippedByteInAnInputArtifactIsCaughtBeforeUse() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("make", "test-artifact", params: #"{"text":"the upstream bytes"}"#),
            TestRuns.job("use", "test-artifact", params: #"{"text":"${jobs.make.outputs.path}"}"#, needs: ["make"]),
        ], in: sandbox), now: Date())
        let worker = Worker(store: store, registry: JobKindRegistry.registry([ArtifactWritingKind.self]),
                            configuration: WorkerConfiguration(workerID: "w", leaseDuration: 30))
        #expect(try worker.runOnce() == .succeeded)
        let made = try #require(try store.artifacts(runID: runID).first)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: made.path))
        bytes[4] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: made.path))

        #expect(try worker.runOnce() == .failed(retryable: false))
        let use = try #require(try store.job(runID: runID, key: "use"))
        #expect(use.state == .failed)
        let error = use.error ?? ""
        #expect(error.contains("input artifact 'out/result.txt' of job make"), "\(error)")
        #expect(error.contains("changed since it was recorded"), "\(error)")
        #expect(error.contains(made.sha256), "\(error)")
    }
}
