import Foundation
import Testing
@testable import APOStore

@Suite struct QueueTests {
    @Test(arguments: StoreDriverKind.allCases) func dagBecomesReadyInDependencyOrder(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        // a → b, a → c, (b, c) → d; e is independent with a higher priority.
        let runID = try store.createRun(newRun([
            job("a"), job("b", needs: ["a"]), job("c", needs: ["a"]), job("d", needs: ["b", "c"]),
            job("e", priority: 5),
        ]), now: t0)
        #expect(try store.states(runID: runID) == [
            "a": .queued, "b": .blocked, "c": .blocked, "d": .blocked, "e": .queued,
        ])
        #expect(try store.requireJob(runID: runID, key: "d").needs == ["b", "c"])

        let e = try store.mustClaim(now: at(1))
        #expect(e.job.key == "e", "higher priority first")
        let a = try store.mustClaim(now: at(1))
        #expect(a.job.key == "a")
        #expect(try store.claimNextJob(workerID: "w1", leaseDuration: 60, now: at(1)) == nil)

        try store.complete(a.lease, outputsJSON: #"{"x":1}"#, memoKey: nil, now: at(2))
        #expect(try store.states(runID: runID)["b"] == .queued)
        #expect(try store.states(runID: runID)["c"] == .queued)
        let b = try store.mustClaim(now: at(3))
        let c = try store.mustClaim(now: at(3))
        #expect([b.job.key, c.job.key] == ["b", "c"])
        #expect(b.dependencyOutputs == ["a": #"{"x":1}"#])

        try store.complete(b.lease, outputsJSON: #"{"b":true}"#, memoKey: nil, now: at(4))
        #expect(try store.states(runID: runID)["d"] == .blocked, "d still needs c")
        #expect(try store.claimNextJob(workerID: "w1", leaseDuration: 60, now: at(4)) == nil)
        try store.complete(c.lease, outputsJSON: #"{"c":true}"#, memoKey: nil, now: at(5))
        let d = try store.mustClaim(now: at(6))
        #expect(d.job.key == "d")
        #expect(d.dependencyOutputs == ["b": #"{"b":true}"#, "c": #"{"c":true}"#])
        try store.complete(d.lease, outputsJSON: "{}", memoKey: nil, now: at(7))
        #expect(try store.run(runID)?.state == .running, "e is still running")
        try store.complete(e.lease, outputsJSON: "{}", memoKey: nil, now: at(8))
        let run = try #require(try store.run(runID))
        #expect(run.state == .succeeded)
        #expect(run.finishedAt == at(8))
        #expect(run.jobCounts == [.succeeded: 5])
        let json = String(decoding: try JSONEncoder().encode(run.jobCounts), as: UTF8.self)
        #expect(json == #"{"succeeded":5}"#)
    }

    /// Among ready jobs of equal priority: the older run first; within a run, the job with the
    /// longest chain still to come after it (a wide DAG's critical path), then the lower id.
    @Test(arguments: StoreDriverKind.allCases) func claimsTakeTheLongestChainFirstWithinARun(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        // side (chain 1) and short (chain 2) come first by id; long heads a chain of 3.
        let older = try store.createRun(newRun([job("side"), job("short"), job("short2", needs: ["short"]),
                                                job("long"), job("long2", needs: ["long"]), job("long3", needs: ["long2"])]),
                                        now: at(0))
        let newer = try store.createRun(newRun([job("n1"), job("n2", needs: ["n1"]), job("n3", needs: ["n2"]),
                                                job("n4", needs: ["n3"])]), now: at(1))
        let urgent = try store.createRun(newRun([job("urgent", priority: 5)]), now: at(2))
        let chains = try store.read { db in
            try db.fetchAll("SELECT key, chain_length FROM jobs WHERE run_id = ?", [older]).map { row -> (String, Int) in
                (row["key"], row["chain_length"])
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: chains) == ["side": 1, "short": 2, "short2": 1, "long": 3, "long2": 2, "long3": 1])
        var claimed: [String] = []
        while let next = try store.claimNextJob(workerID: "w1", leaseDuration: 60, now: at(3)) {
            claimed.append(next.job.key)
        }
        #expect(claimed == ["urgent", "long", "short", "side", "n1"])
        _ = (newer, urgent)
    }

    /// A worker reads its clock before waiting for the write lock; if another worker completed the
    /// dependency meanwhile, the claim's time is older than that completion.
    @Test(arguments: StoreDriverKind.allCases) func aJobNeverStartsBeforeItsDependenciesFinished(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b", needs: ["a"])]), now: t0)
        let a = try store.mustClaim(now: at(1))
        try store.complete(a.lease, outputsJSON: "{}", memoKey: nil, now: at(5))
        let b = try store.mustClaim(now: at(4))  // the clock was read at 4, the lock came after 5
        #expect(b.job.key == "b")
        #expect(try store.requireJob(runID: runID, key: "b").startedAt == at(5))
    }

    @Test(arguments: StoreDriverKind.allCases) func completeAndClaimNextHandsOverTheUnblockedDependent(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b", needs: ["a"])]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        let b = try #require(try store.completeAndClaimNext(a.lease, outputsJSON: #"{"a":1}"#,
                                                            memoKey: nil, leaseDuration: 60,
                                                            now: at(1)))
        #expect(b.job.key == "b")
        #expect(b.lease.workerID == "w1")
        #expect(b.dependencyOutputs == ["a": #"{"a":1}"#])
        #expect(try store.completeAndClaimNext(b.lease, outputsJSON: "{}", memoKey: nil,
                                               leaseDuration: 60, now: at(2)) == nil)
        #expect(try store.run(runID)?.state == .succeeded)
        // A stale lease neither completes nor claims.
        let runID2 = try store.createRun(newRun([job("c")], yaml: "second"), now: at(3))
        expectStoreError(.leaseLost(jobID: a.job.id)) {
            _ = try store.completeAndClaimNext(a.lease, outputsJSON: "{}", memoKey: nil,
                                               leaseDuration: 60, now: at(4))
        }
        #expect(try store.states(runID: runID2) == ["c": .queued])
    }

    @Test(arguments: StoreDriverKind.allCases) func invalidDAGsAreRefusedAndNothingIsStored(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        expectStoreError(.duplicateJobKey("a")) {
            try store.createRun(newRun([job("a"), job("a")]), now: t0)
        }
        expectStoreError(.unknownDependency(job: "b", needs: "zz")) {
            try store.createRun(newRun([job("a"), job("b", needs: ["zz"])]), now: t0)
        }
        expectStoreError(.dependencyCycle(["a", "b"])) {
            try store.createRun(newRun([job("a", needs: ["b"]), job("b", needs: ["a"]), job("c")]),
                                now: t0)
        }
        #expect(try store.runs(limit: 10).isEmpty)
    }

    @Test(arguments: StoreDriverKind.allCases) func claimHeartbeatComplete(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a")]), now: t0)
        let claimed = try store.mustClaim("worker-7", lease: 30, now: at(10))
        #expect(claimed.job.state == .running)
        #expect(claimed.job.attempts == 1)
        #expect(claimed.lease.workerID == "worker-7")
        #expect(claimed.lease.expiresAt == at(40))
        #expect(!claimed.lease.token.isEmpty)

        #expect(try store.heartbeat(claimed.lease, leaseDuration: 30, now: at(20)) == .keepGoing)
        try store.updateProgress(claimed.lease, done: 3, total: 10, message: "step 3", now: at(21))
        var job = try store.requireJob(runID: runID, key: "a")
        #expect(job.leaseExpiresAt == at(50))
        #expect(job.leaseWorkerID == "worker-7")
        #expect((job.progressDone, job.progressTotal, job.progressMessage) == (3, 10, "step 3"))

        try store.complete(claimed.lease, outputsJSON: #"{"out":"x"}"#, memoKey: "m", now: at(30))
        job = try store.requireJob(runID: runID, key: "a")
        #expect(job.state == .succeeded)
        #expect(job.outputsJSON == #"{"out":"x"}"#)
        #expect(job.progressDone == 10)
        #expect(job.leaseWorkerID == nil)
        let attempts = try store.attempts(jobID: job.id)
        #expect(attempts.count == 1)
        #expect(attempts[0].outcome == "succeeded")
        #expect(attempts[0].lastHeartbeatAt == at(20))
        #expect(attempts[0].finishedAt == at(30))
        #expect(attempts[0].leaseToken == claimed.lease.token)

        // The lease died with the job's completion.
        expectStoreError(.leaseLost(jobID: job.id)) {
            _ = try store.heartbeat(claimed.lease, leaseDuration: 30, now: at(31))
        }
        expectStoreError(.leaseLost(jobID: job.id)) {
            try store.complete(claimed.lease, outputsJSON: "{}", memoKey: nil, now: at(31))
        }
    }

    @Test(arguments: StoreDriverKind.allCases) func staleTokenIsRejectedAfterReap(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a")]), now: t0)
        let first = try store.mustClaim("w1", lease: 30, now: at(0))
        #expect(try store.reapExpiredLeases(now: at(29)).isEmpty, "lease still valid")
        #expect(try store.reapExpiredLeases(now: at(60)) == [first.job.id])
        let requeued = try store.requireJob(runID: runID, key: "a")
        #expect(requeued.state == .queued)
        let notBefore = try #require(requeued.notBefore)

        // The slow worker comes back: every update with its token is refused.
        expectStoreError(.leaseLost(jobID: first.job.id)) {
            _ = try store.heartbeat(first.lease, leaseDuration: 30, now: at(61))
        }
        expectStoreError(.leaseLost(jobID: first.job.id)) {
            try store.complete(first.lease, outputsJSON: "{}", memoKey: nil, now: at(61))
        }
        #expect(try store.claimNextJob(workerID: "w2", leaseDuration: 30,
                                       now: notBefore.addingTimeInterval(-0.001)) == nil,
                "backoff holds the job")
        let second = try store.mustClaim("w2", lease: 30, now: notBefore)
        #expect(second.lease.token != first.lease.token)
        #expect(second.job.attempts == 2)
        expectStoreError(.leaseLost(jobID: first.job.id)) {
            try store.fail(first.lease, error: "late", retryable: false, now: notBefore)
        }
        expectStoreError(.leaseLost(jobID: first.job.id)) { try store.release(first.lease, now: notBefore) }
        try store.complete(second.lease, outputsJSON: "{}", memoKey: nil, now: notBefore)
        #expect(try store.attempts(jobID: first.job.id).map(\.outcome) == ["expired", "succeeded"])
    }

    @Test(arguments: StoreDriverKind.allCases) func reaperFindsLeaseExpiredYesterdayAndNeverHeartbeated(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("beat"), job("silent"), job("alive")]), now: t0)
        let yesterday = at(-86_400)
        let beat = try store.mustClaim("w1", lease: 60, now: yesterday)
        _ = try store.heartbeat(beat.lease, leaseDuration: 60, now: yesterday.addingTimeInterval(30))
        let silent = try store.mustClaim("w2", lease: 60, now: yesterday)  // died before any heartbeat
        let alive = try store.mustClaim("w3", lease: 60, now: at(0))

        let reaped = try store.reapExpiredLeases(now: at(1))
        #expect(reaped == [beat.job.id, silent.job.id])
        let states = try store.states(runID: runID)
        #expect(states == ["beat": .queued, "silent": .queued, "alive": .running])
        let silentAttempt = try #require(try store.attempts(jobID: silent.job.id).first)
        #expect(silentAttempt.outcome == "expired")
        #expect(silentAttempt.lastHeartbeatAt == nil)
        #expect(silentAttempt.error?.contains("w2") == true)
        #expect(try store.requireJob(runID: runID, key: "beat").attempts == 1, "the attempt counts")
        #expect(try store.heartbeat(alive.lease, leaseDuration: 60, now: at(2)) == .keepGoing)
    }

    @Test(arguments: StoreDriverKind.allCases) func timeoutIsEnforcedEvenWhileHeartbeating(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("slow", timeout: 10)]), now: t0)
        let claimed = try store.mustClaim(lease: 60, now: at(0))
        _ = try store.heartbeat(claimed.lease, leaseDuration: 60, now: at(5))
        #expect(try store.reapExpiredLeases(now: at(9)).isEmpty)
        #expect(try store.reapExpiredLeases(now: at(10)) == [claimed.job.id])
        #expect(try store.attempts(jobID: claimed.job.id).first?.outcome == "timed_out")
        #expect(try store.states(runID: runID)["slow"] == .queued)
    }

    @Test(arguments: StoreDriverKind.allCases) func supervisorCanReapLeasesOfADeadWorker(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        let a = try store.mustClaim("dead", lease: 60, now: at(0))
        _ = try store.mustClaim("other", lease: 60, now: at(0))
        #expect(try store.reapLeases(heldBy: "dead", now: at(1)) == [a.job.id])
        #expect(try store.states(runID: runID) == ["a": .queued, "b": .running])
    }

    @Test(arguments: StoreDriverKind.allCases) func backoffGrowsWithEachAttempt(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("flaky", maxAttempts: 5, backoffBase: 10,
                                                    backoffMax: 1_000)]), now: t0)
        var now = at(0)
        var delays: [Double] = []
        for attempt in 1...4 {
            let claimed = try store.mustClaim(lease: 5, now: now)
            #expect(claimed.job.attempts == attempt)
            now = now.addingTimeInterval(5)
            #expect(try store.reapExpiredLeases(now: now) == [claimed.job.id])
            let notBefore = try #require(try store.requireJob(runID: runID, key: "flaky").notBefore)
            #expect(try store.nextNotBefore(now: now) == notBefore)
            delays.append(notBefore.timeIntervalSince(now))
            now = notBefore
        }
        // Attempt n waits 10 · 2^(n-1) s ± 25 % jitter (RetryBackoff's default spread).
        for (index, delay) in delays.enumerated() {
            let nominal = 10 * pow(2, Double(index))
            #expect(delay >= nominal * 0.75 && delay <= nominal * 1.25, "attempt \(index + 1): \(delay)")
        }
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 < $1 }, "\(delays)")
    }

    @Test func retryBackoffIsCappedAndJittered() {
        let backoff = RetryBackoff(baseSeconds: 2, maxSeconds: 30)
        #expect(backoff.delay(afterAttempt: 1, unitRandom: 0.5) == 2)
        #expect(backoff.delay(afterAttempt: 3, unitRandom: 0.5) == 8)
        #expect(backoff.delay(afterAttempt: 3, unitRandom: 0) == 6)
        #expect(backoff.delay(afterAttempt: 50, unitRandom: 0.5) == 30)
        #expect(backoff.delay(afterAttempt: 10_000, unitRandom: 0.999) <= 30 * 1.25)
    }

    @Test(arguments: StoreDriverKind.allCases) func maxAttemptsFailsJobAndAllTransitiveDependents(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            job("a", maxAttempts: 2, backoffBase: 1), job("b", needs: ["a"]), job("c", needs: ["b"]),
            job("side", priority: 1),
        ]), now: t0)
        let side = try store.mustClaim(now: at(0))
        #expect(side.job.key == "side")
        let first = try store.mustClaim(now: at(0))
        try store.fail(first.lease, error: "boom 1", retryable: true, now: at(1))
        #expect(try store.states(runID: runID)["a"] == .queued)
        let second = try store.mustClaim(now: at(10))
        #expect(second.job.attempts == 2)
        try store.fail(second.lease, error: "boom 2", retryable: true, now: at(11))
        #expect(try store.states(runID: runID) == [
            "a": .failed, "b": .upstreamFailed, "c": .upstreamFailed, "side": .running,
        ])
        #expect(try store.requireJob(runID: runID, key: "a").error == "boom 2")
        #expect(try store.requireJob(runID: runID, key: "c").error?.contains("a failed") == true)
        #expect(try store.run(runID)?.state == .running, "side is still running")
        try store.complete(side.lease, outputsJSON: "{}", memoKey: nil, now: at(12))
        #expect(try store.run(runID)?.state == .failed)
        #expect(try store.claimNextJob(workerID: "w", leaseDuration: 5, now: at(100)) == nil)
    }

    @Test(arguments: StoreDriverKind.allCases) func reaperFailsJobAfterMaxAttempts(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a", maxAttempts: 1), job("b", needs: ["a"])]),
                                        now: t0)
        _ = try store.mustClaim(lease: 5, now: at(0))
        _ = try store.reapExpiredLeases(now: at(5))
        #expect(try store.states(runID: runID) == ["a": .failed, "b": .upstreamFailed])
        #expect(try store.run(runID)?.state == .failed)
    }

    @Test(arguments: StoreDriverKind.allCases) func nonRetryableFailureFailsAtOnce(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a", maxAttempts: 5)]), now: t0)
        let claimed = try store.mustClaim(now: at(0))
        try store.fail(claimed.lease, error: "bad input: line 3", retryable: false, now: at(1))
        #expect(try store.states(runID: runID) == ["a": .failed])
        #expect(try store.attempts(jobID: claimed.job.id).map(\.error) == ["bad input: line 3"])
    }

    @Test(arguments: StoreDriverKind.allCases) func releaseGivesTheAttemptBack(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a", maxAttempts: 1)]), now: t0)
        let first = try store.mustClaim(now: at(0))
        try store.release(first.lease, now: at(1))
        let job = try store.requireJob(runID: runID, key: "a")
        #expect(job.state == .queued)
        #expect(job.attempts == 0)
        #expect(job.notBefore == nil, "released jobs are claimable at once")
        let second = try store.mustClaim(now: at(1))
        #expect(second.job.attempts == 1)
        #expect(try store.attempts(jobID: job.id).map(\.number) == [1, 2])
        #expect(try store.attempts(jobID: job.id).first?.outcome == "released")
    }
}
