import APOBenchmarks
import Foundation
import Testing
@testable import APOStore

@Suite struct ConcurrencyTests {
    /// Several stores — separate connection pools on one file, like separate daemons — race to
    /// claim the same queue; every job must be claimed exactly once.
    @Test(arguments: StoreDriverKind.allCases) func racingStoresNeverClaimOneJobTwice(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let jobCount = 300
        let workers = 4
        let runID = try database.openStore().createRun(
            newRun((0..<jobCount).map { job("j\($0)", maxAttempts: 1) }), now: Date())
        let stores = try (0..<workers).map { _ in try database.openStore() }

        let ledger = RaceLedger(workers: workers)
        // Each racer holds its job for a moment so the others get to race for the rest.
        StoreBenchmark.onSeparateThreads(workers) { index in
            do {
                while let claimed = try stores[index].claimNextJob(
                    workerID: "racer-\(index)", leaseDuration: 60, now: Date()) {
                    ledger.claimed(claimed.job.id, by: index)
                    Thread.sleep(forTimeInterval: 0.0005)
                    try stores[index].complete(claimed.lease, outputsJSON: #"{"by":\#(index)}"#,
                                               memoKey: nil, now: Date())
                }
            } catch {
                ledger.failed("racer-\(index): \(error)")
            }
        }
        let (claimedIDs, perWorker, errors) = (ledger.ids, ledger.perWorker, ledger.errors)
        #expect(errors.isEmpty, "\(errors)")
        #expect(claimedIDs.count == jobCount)
        #expect(Set(claimedIDs).count == jobCount, "a job was claimed twice")
        #expect(perWorker.filter { $0 > 0 }.count > 1, "the race had more than one winner: \(perWorker)")

        let store = stores[0]
        #expect(try store.run(runID)?.state == .succeeded)
        let (attemptRows, maxPerJob) = try store.read { db in
            (try db.fetchValue(Int.self, "SELECT COUNT(*) FROM attempts") ?? -1,
             try db.fetchValue(Int.self, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM attempts GROUP BY job_id) AS per_job") ?? -1)
        }
        #expect(attemptRows == jobCount)
        #expect(maxPerJob == 1)
    }

    /// Racing completions of one dependent's dependencies: whichever commits last must queue it
    /// (the run's lock keeps two completions from both missing it), and the run ends once, when
    /// its last job does. Pairs (a_i, b_i) each unblock c_i; four racers complete them at once.
    @Test(arguments: StoreDriverKind.allCases) func racingCompletionsNeverStrandADependent(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let pairs = 60
        let workers = 4
        var jobs: [NewJob] = []
        for i in 0..<pairs {
            jobs += [job("a\(i)", maxAttempts: 1), job("b\(i)", maxAttempts: 1),
                     job("c\(i)", needs: ["a\(i)", "b\(i)"], maxAttempts: 1)]
        }
        let runID = try database.openStore().createRun(newRun(jobs), now: Date())
        let stores = try (0..<workers).map { _ in try database.openStore() }
        let ledger = RaceLedger(workers: workers)
        StoreBenchmark.onSeparateThreads(workers) { index in
            do {
                var next = try stores[index].claimNextJob(workerID: "racer-\(index)", leaseDuration: 60, now: Date())
                while let claimed = next {
                    ledger.claimed(claimed.job.id, by: index)
                    // Alternate the two paths a worker completes by.
                    if claimed.job.id % 2 == 0 {
                        try stores[index].complete(claimed.lease, outputsJSON: "{}", memoKey: nil, now: Date())
                        next = try stores[index].claimNextJob(workerID: "racer-\(index)", leaseDuration: 60, now: Date())
                    } else {
                        next = try stores[index].completeAndClaimNext(claimed.lease, outputsJSON: "{}", memoKey: nil,
                                                                      leaseDuration: 60, now: Date())
                    }
                }
            } catch {
                ledger.failed("racer-\(index): \(error)")
            }
        }
        #expect(ledger.errors.isEmpty, "\(ledger.errors)")
        let store = stores[0]
        let states = try store.states(runID: runID)
        #expect(states.values.allSatisfy { $0 == .succeeded }, "left behind: \(states.filter { $0.value != .succeeded })")
        #expect(Set(ledger.ids).count == 3 * pairs)
        #expect(try store.run(runID)?.state == .succeeded)
    }

    @Test(arguments: StoreDriverKind.allCases) func queueBenchmarkRunsEveryJobOnce(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        for combined in [false, true] {
            let result = try StoreBenchmark.run(path: database.path, jobs: 100, workers: 2,
                                                combined: combined)
            #expect(result.jobs == 100)
            #expect(result.jobsPerSecond > 0)
            #expect(result.claimP99Milliseconds >= result.claimP50Milliseconds)
        }
    }
}

/// What the racing threads saw, under a lock.
private final class RaceLedger: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var ids: [Int64] = []
    private(set) var perWorker: [Int]
    private(set) var errors: [String] = []

    init(workers: Int) { perWorker = Array(repeating: 0, count: workers) }

    func claimed(_ id: Int64, by worker: Int) {
        lock.lock(); defer { lock.unlock() }
        ids.append(id)
        perWorker[worker] += 1
    }

    func failed(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        errors.append(message)
    }
}
