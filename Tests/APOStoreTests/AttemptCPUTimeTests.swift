import Foundation
import Testing
@testable import APOStore

/// Each attempt keeps the CPU seconds its worker reported — with a success in the completion,
/// otherwise recorded before the outcome — and a job's record sums them over its attempts.
@Suite struct AttemptCPUTimeTests {
    @Test(arguments: StoreDriverKind.allCases) func attemptsKeepTheirCPUTimeAndJobsSumIt(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            job("a", backoffBase: 0, backoffMax: 0), job("b"), job("c"),
        ]), now: t0)

        // a: the first attempt fails after 1.25 CPU-s, the retry succeeds after 0.5.
        let first = try store.mustClaim(now: at(1))
        #expect(first.job.key == "a")
        try store.recordCPUTime(first.lease, seconds: 1.25)
        try store.fail(first.lease, error: "boom", retryable: true, now: at(2))
        let retry = try store.mustClaim(now: at(3))
        #expect(retry.job.key == "a")
        try store.complete(retry.lease, JobCompletion(outputsJSON: "{}", cpuSeconds: 0.5), now: at(4))

        // b: succeeds without saying (an older worker); c: never runs.
        let b = try store.mustClaim(now: at(5))
        #expect(b.job.key == "b")
        try store.complete(b.lease, JobCompletion(outputsJSON: "{}"), now: at(6))

        let a = try store.requireJob(runID: runID, key: "a")
        #expect(try store.attempts(jobID: a.id).map(\.cpuSeconds) == [1.25, 0.5])
        #expect(try store.attempts(jobID: a.id).map(\.outcome) == ["failed", "succeeded"])
        let byKey = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.key, $0.cpuSeconds) })
        #expect(byKey == ["a": 1.75, "b": nil, "c": nil])
        #expect(try store.job(a.id)?.cpuSeconds == 1.75)
        #expect(try store.attempts(jobID: b.job.id).map(\.cpuSeconds) == [nil])
    }

    @Test(arguments: StoreDriverKind.allCases) func aReleasedAttemptKeepsWhatItSpent(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a")]), now: t0)
        let claimed = try store.mustClaim(now: at(1))
        try store.recordCPUTime(claimed.lease, seconds: 3)
        try store.release(claimed.lease, now: at(2))
        let next = try store.mustClaim(now: at(3))
        // The handed-off completion (complete and claim the next in one transaction) carries it too.
        _ = try store.completeAndClaimNext(next.lease, JobCompletion(outputsJSON: "{}", cpuSeconds: 4),
                                           leaseDuration: 60, now: at(4))
        let a = try store.requireJob(runID: runID, key: "a")
        #expect(try store.attempts(jobID: a.id).map(\.outcome) == ["released", "succeeded"])
        #expect(try store.attempts(jobID: a.id).map(\.cpuSeconds) == [3, 4])
        #expect(a.cpuSeconds == 7)
    }
}
