import Foundation
import Testing
@testable import APOStore

/// In-flight memoization (`declareMemoKey`): a job whose memo key a live running job has declared
/// waits in the queue for it instead of doing the same work.
@Suite struct InFlightMemoTests {
    @Test(arguments: StoreDriverKind.allCases) func runningTwinMakesTheSecondWaitUntilItsResultCanBeReused(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K", now: at(0)) == .declared)
        #expect(try store.job(a.job.id)?.memoKey == "K", "the running row carries its key")

        let b = try store.mustClaim("w2", now: at(1))
        #expect(b.job.key == "b")
        #expect(try store.declareMemoKey(b.lease, memoKey: "K", now: at(1)) == .waiting(forJobID: a.job.id))
        let waiting = try store.requireJob(runID: runID, key: "b")
        #expect(waiting.state == .queued)
        #expect(waiting.memoKey == "K")
        #expect(waiting.attempts == 0, "waiting does not spend an attempt")
        #expect(try store.attempts(jobID: waiting.id).map(\.outcome) == ["released"])
        let logged = try store.logs(runID: runID, jobID: waiting.id, afterID: 0, limit: 10).map(\.line)
        #expect(logged.count == 1 && logged[0].hasPrefix("waiting for job \(a.job.id) (run \(runID), a)"), "\(logged)")

        // Not claimable while a runs (no busy re-claiming), and the cheap read agrees.
        #expect(try store.claimNextJob(workerID: "w2", leaseDuration: 60, now: at(2)) == nil)
        #expect(try store.hasClaimableJob(now: at(2)) == false)

        try store.complete(a.lease, outputsJSON: #"{"out":"a"}"#, memoKey: "K", now: at(3))
        let again = try store.mustClaim("w2", now: at(4))
        #expect(again.job.id == waiting.id)
        #expect(again.job.memoKey == nil, "a claim clears the key until the attempt declares it")
        #expect(try store.declareMemoKey(again.lease, memoKey: "K", now: at(4)) == .declared)
        let earlier = try #require(try store.findMemoizedJob(memoKey: "K"))
        #expect(earlier.id == a.job.id)
        try store.completeMemoized(again.lease, fromJobID: earlier.id, now: at(5))
        let reused = try store.requireJob(runID: runID, key: "b")
        #expect(reused.state == .succeeded)
        #expect(reused.memoizedFromJobID == a.job.id)
        #expect(reused.outputsJSON == #"{"out":"a"}"#)
        #expect(try store.attempts(jobID: reused.id).map(\.outcome) == ["released", "memoized"])
        #expect(try store.run(runID)?.state == .succeeded)
    }

    @Test(arguments: StoreDriverKind.allCases) func differentKeysDoNotWait(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        _ = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K1", now: at(0)) == .declared)
        let b = try store.mustClaim("w2", now: at(1))
        #expect(try store.declareMemoKey(b.lease, memoKey: "K2", now: at(1)) == .declared)
        #expect(try store.job(b.job.id)?.state == .running)
    }

    @Test(arguments: StoreDriverKind.allCases) func failedTwinLetsTheWaiterRunItself(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a", maxAttempts: 1), job("b")]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K", now: at(0)) == .declared)
        let b = try store.mustClaim("w2", now: at(1))
        #expect(try store.declareMemoKey(b.lease, memoKey: "K", now: at(1)) == .waiting(forJobID: a.job.id))

        try store.fail(a.lease, error: "boom", retryable: false, now: at(2))
        #expect(try store.requireJob(runID: runID, key: "a").state == .failed)
        let again = try store.mustClaim("w2", now: at(3))
        #expect(again.job.key == "b")
        #expect(try store.declareMemoKey(again.lease, memoKey: "K", now: at(3)) == .declared,
                "a failed job with the key holds nobody back")
        #expect(try store.findMemoizedJob(memoKey: "K") == nil, "so b runs the work itself")
        try store.complete(again.lease, outputsJSON: #"{"out":"b"}"#, memoKey: "K", now: at(4))
        #expect(try store.findMemoizedJob(memoKey: "K")?.id == again.job.id)
    }

    @Test(arguments: StoreDriverKind.allCases) func cancelledTwinLetsTheWaiterRunItself(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K", now: at(0)) == .declared)
        let b = try store.mustClaim("w2", now: at(1))
        #expect(try store.declareMemoKey(b.lease, memoKey: "K", now: at(1)) == .waiting(forJobID: a.job.id))

        // A cancel request alone does not free the waiter: a still runs until its worker stops.
        try store.cancelJob(a.job.id, now: at(2))
        #expect(try store.claimNextJob(workerID: "w2", leaseDuration: 60, now: at(2)) == nil)
        try store.finishCancelled(a.lease, now: at(3))
        #expect(try store.requireJob(runID: runID, key: "a").state == .cancelled)
        let again = try store.mustClaim("w2", now: at(4))
        #expect(again.job.key == "b")
        #expect(try store.declareMemoKey(again.lease, memoKey: "K", now: at(4)) == .declared)
        #expect(try store.findMemoizedJob(memoKey: "K") == nil)
    }

    @Test(arguments: StoreDriverKind.allCases) func expiredLeaseDoesNotBlockTheWaiter(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        // a's worker dies after declaring: its lease (10 s) is never renewed.
        let a = try store.mustClaim("w1", lease: 10, now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K", now: at(0)) == .declared)
        let b = try store.mustClaim("w2", now: at(1))
        #expect(try store.declareMemoKey(b.lease, memoKey: "K", now: at(1)) == .waiting(forJobID: a.job.id))
        #expect(try store.claimNextJob(workerID: "w2", leaseDuration: 60, now: at(9)) == nil)

        // Past the expiry, before any reaper ran: b is claimable and goes ahead.
        #expect(try store.hasClaimableJob(now: at(10)))
        let again = try store.mustClaim("w2", lease: 60, now: at(10))
        #expect(again.job.key == "b")
        #expect(try store.declareMemoKey(again.lease, memoKey: "K", now: at(10)) == .declared)

        // The reaper requeues a (keeping its key); now a waits for b, not the other way round.
        #expect(try store.reapExpiredLeases(now: at(11)) == [a.job.id])
        #expect(try store.requireJob(runID: runID, key: "a").state == .queued)
        #expect(try store.claimNextJob(workerID: "w3", leaseDuration: 60, now: at(40)) == nil,
                "a's backoff has passed, but b is running its work")
        try store.complete(again.lease, outputsJSON: #"{"out":"b"}"#, memoKey: "K", now: at(41))
        let retried = try store.mustClaim("w3", now: at(42))
        #expect(retried.job.key == "a")
        #expect(try store.declareMemoKey(retried.lease, memoKey: "K", now: at(42)) == .declared)
        #expect(try store.findMemoizedJob(memoKey: "K")?.id == again.job.id)
    }

    @Test(arguments: StoreDriverKind.allCases) func waiterWhoseCancelWasRequestedIsCancelled(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b")]), now: t0)
        let a = try store.mustClaim("w1", now: at(0))
        #expect(try store.declareMemoKey(a.lease, memoKey: "K", now: at(0)) == .declared)
        let b = try store.mustClaim("w2", now: at(1))
        try store.cancelJob(b.job.id, now: at(1))
        #expect(try store.declareMemoKey(b.lease, memoKey: "K", now: at(2)) == .waiting(forJobID: a.job.id))
        #expect(try store.requireJob(runID: runID, key: "b").state == .cancelled)
    }

    @Test(arguments: StoreDriverKind.allCases) func declaringWithALostLeaseThrows(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        _ = try store.createRun(newRun([job("a")]), now: t0)
        let a = try store.mustClaim("w1", lease: 10, now: at(0))
        try store.reapExpiredLeases(now: at(11))
        expectStoreError(.leaseLost(jobID: a.job.id)) {
            _ = try store.declareMemoKey(a.lease, memoKey: "K", now: at(12))
        }
    }
}
