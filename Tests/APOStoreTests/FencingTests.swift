import Foundation
import Testing
@testable import APOStore

/// Every worker-side write carries the lease, and the store rejects a stale one: an attempt whose
/// lease expired and was handed to another attempt writes nothing — no log line, metric, progress,
/// artifact row, outcome — and never runs its publication.
@Suite struct FencingTests {
    /// One job claimed by w1, expired and reaped, then claimed again by w2.
    func staleAndLive(_ store: JobStore) throws -> (stale: ClaimedJob, live: ClaimedJob, runID: Int64) {
        let runID = try store.createRun(newRun([job("a", backoffBase: 0, backoffMax: 0)]), now: t0)
        let stale = try store.mustClaim("w1", lease: 3, now: at(0))
        #expect(try store.reapExpiredLeases(now: at(4)) == [stale.job.id])
        let live = try store.mustClaim("w2", lease: 60, now: at(5))
        #expect(live.job.id == stale.job.id)
        return (stale, live, runID)
    }

    func rowCounts(_ store: JobStore) throws -> [Int] {
        try store.read { db in
            try ["log_lines", "metrics", "artifacts"].map { try db.fetchValue(Int.self, "SELECT COUNT(*) FROM \($0)")! }
        }
    }

    @Test(arguments: StoreDriverKind.allCases) func aStaleAttemptWritesNothing(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let (stale, live, _) = try staleAndLive(store)
        let before = try rowCounts(store)
        let lost = StoreError.leaseLost(jobID: stale.job.id)
        expectStoreError(lost) { try store.appendLogs(stale.lease, stream: "job", lines: ["late"], now: at(6)) }
        expectStoreError(lost) { try store.recordMetric(stale.lease, step: 1, name: "loss", value: 1, now: at(6)) }
        expectStoreError(lost) { try store.updateProgress(stale.lease, done: 1, total: 2, message: nil, now: at(6)) }
        expectStoreError(lost) { _ = try store.heartbeat(stale.lease, leaseDuration: 3, now: at(6)) }
        expectStoreError(lost) { try store.recordCPUTime(stale.lease, seconds: 9) }
        var ranBody = false
        expectStoreError(lost) { try store.holdingLease(stale.lease) { ranBody = true } }
        #expect(!ranBody)
        var published = false
        let completion = JobCompletion(
            outputsJSON: #"{"x":"stale"}"#,
            artifacts: [StagedArtifact(name: "out.json", path: "a/out.json", sha256: "stale", size: 1)],
            publish: { published = true })
        expectStoreError(lost) { try store.complete(stale.lease, completion, now: at(6)) }
        expectStoreError(lost) { try store.fail(stale.lease, error: "late", retryable: true, now: at(6)) }
        expectStoreError(lost) { try store.release(stale.lease, now: at(6)) }
        #expect(!published, "a stale completion must never publish files")
        #expect(try rowCounts(store) == before)

        // The live attempt is untouched and completes with its own artifact.
        try store.recordMetric(live.lease, step: 1, name: "loss", value: 0.5, now: at(7))
        try store.complete(live.lease, JobCompletion(
            outputsJSON: #"{"x":"live"}"#,
            artifacts: [StagedArtifact(name: "out.json", path: "a/out.json", sha256: "live", size: 2)],
            publish: { published = true }), now: at(8))
        #expect(published)
        // After the live attempt's success, the stale one still cannot overwrite its row.
        published = false
        expectStoreError(lost) { try store.complete(stale.lease, completion, now: at(9)) }
        #expect(!published)
        let job = try #require(try store.job(live.job.id))
        #expect(job.state == .succeeded)
        #expect(job.outputsJSON == #"{"x":"live"}"#)
        let artifacts = try store.artifacts(runID: job.runID)
        #expect(artifacts.map(\.sha256) == ["live"])
        #expect(try store.staleWrites().isEmpty)
    }

    /// A publication that fails rolls the completion back: the job is still running under the
    /// same lease, no artifact row exists, and the worker can then fail the attempt.
    @Test(arguments: StoreDriverKind.allCases) func aFailedPublicationRollsTheCompletionBack(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        _ = try store.createRun(newRun([job("a")]), now: t0)
        let claimed = try store.mustClaim(now: at(0))
        struct DiskFull: Error {}
        #expect(throws: DiskFull.self) {
            try store.complete(claimed.lease, JobCompletion(
                outputsJSON: "{}", artifacts: [StagedArtifact(name: "x", path: "a/x", sha256: "s", size: 1)],
                publish: { throw DiskFull() }), now: at(1))
        }
        #expect(try store.job(claimed.job.id)?.state == .running)
        #expect(try rowCounts(store) == [0, 0, 0])
        try store.fail(claimed.lease, error: "no space left on device", retryable: true, now: at(2))
        #expect(try store.job(claimed.job.id)?.state == .queued)
    }

    /// The `stale_writes` view finds a row recorded after its attempt ended (written here by hand,
    /// as a store without fencing would have written it).
    @Test(arguments: StoreDriverKind.allCases) func theStaleWritesViewSeesARowWrittenAfterItsAttemptEnded(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let (stale, _, _) = try staleAndLive(store)
        #expect(try store.staleWrites().isEmpty)
        try store.driver.write { db in
            try db.execute("""
                INSERT INTO metrics (job_id, attempt_id, step, name, value, recorded_at) VALUES (?, ?, 1, 'loss', 1, ?)
                """, [stale.job.id, stale.lease.attemptID, at(6).timeIntervalSince1970])
        }
        #expect(try store.staleWrites() == ["metric of job \(stale.job.id) by attempt \(stale.lease.attemptID)"])
    }
}
