import APOStore
import Foundation
import Testing
@testable import APORuntime

/// A run folder belongs to one run of one database (`RunFolderOwner`). A copy of the database
/// hands out the same attempt ids as the original, and an attempt takes over the staging and
/// checkpoints of earlier ids: without the owner check, an apod serving a copy (to look at it)
/// takes the original's live attempt's checkpoints away.
@Suite(.serialized)
struct RunFolderOwnerProcessTests {
    func touch(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func aCopyOfTheDatabaseNeverWritesIntoTheOriginalsRunFolder() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: owned\njobs:\n  - {id: a, kind: noop}\n")
        let submitted = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submitted)")
        let store = try sandbox.store()
        let root = try #require(try store.run(runID)?.artifactRoot)
        let owner = try #require(try RunFolderOwner.read(root: root))
        #expect(owner.run == runID)
        #expect(owner.database == (try store.databaseIdentity().id))

        // The original's attempt is live when the file is copied: staging and a checkpoint on disk.
        let claimed = try #require(try store.claimNextJob(workerID: "w1@elsewhere:1", leaseDuration: 1, now: Date()))
        let attempt = claimed.lease.attemptID
        let staging = "\(root)/.attempts/a/\(attempt)/partial.json"
        let checkpoint = "\(root)/.checkpoints/a/attempt-\(attempt)/step-1/state.json"
        let trash = "\(root)/.trash-earlier/model.bin"
        for path in [staging, checkpoint, trash] { try touch(path) }
        store.driver.close()
        let copy = sandbox.directory.appendingPathComponent("copy.db").path
        try FileManager.default.copyItem(atPath: sandbox.databasePath, toPath: copy)

        // apod on the copy: its sweep, its reaper and its worker all see the original's folder.
        let copyDaemon = try sandbox.spawn("apod", ["--db", copy, "--workers", "1", "--lease-seconds", "1",
                                                    "--log-level", "info"], stderrName: "copy-apod.log")
        let copyStore = try JobStore(path: copy)
        try sandbox.waitUntil("the copy's job to fail", timeout: 30) {
            try copyStore.jobs(runID: runID).first?.state == .failed
        }
        let error = try #require(try copyStore.jobs(runID: runID).first?.error)
        #expect(error.contains("run \(runID)'s folder \(root) belongs to run \(runID) of another apo database"), "\(error)")
        #expect(error.contains("apoctl adopt-folder \(runID)"), "\(error)")
        for path in [staging, checkpoint, trash] {
            #expect(FileManager.default.fileExists(atPath: path), "the copy's apod touched \(path)")
        }
        #expect(sandbox.read("copy-apod.log").contains("leftover sweep skips"))
        sandbox.signal(copyDaemon, SIGTERM)
        #expect(sandbox.wait(for: copyDaemon, timeout: 15))

        // The original carries on in its own folder: its sweep clears the trash, and the job's next
        // attempt adopts the live attempt's checkpoints.
        try sandbox.startDaemon(workers: 1, leaseSeconds: 1)
        #expect(try sandbox.waitForRun(runID).state == .succeeded)
        #expect(!FileManager.default.fileExists(atPath: trash))
        let log = try sandbox.apoctl(["logs", "\(runID)/a"]).stdout
        #expect(log.contains("checkpoints: adopted attempt-\(attempt)"), "\(log)")

        // `apoctl adopt-folder` hands the folder to the copy, whose retried job then runs there.
        let adopted = try sandbox.run("apoctl", ["adopt-folder", String(runID), "--db", copy])
        #expect(adopted.status == 0, "\(adopted)")
        #expect(adopted.stdout.contains("now belongs to this database"), "\(adopted)")
        #expect(try RunFolderOwner.read(root: root)?.database == (try copyStore.databaseIdentity().id))
        #expect(try sandbox.run("apoctl", ["retry", "\(runID)/a", "--db", copy]).status == 0)
        let again = try sandbox.spawn("apod", ["--db", copy, "--workers", "1", "--lease-seconds", "1"],
                                      stderrName: "copy-apod-2.log")
        try sandbox.waitUntil("the copy's retried job to succeed", timeout: 30) {
            try copyStore.jobs(runID: runID).first?.state == .succeeded
        }
        sandbox.signal(again, SIGTERM)
    }
}
