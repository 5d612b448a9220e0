import APOStore
import Foundation

/// Store-level queue throughput: no-op jobs claimed and completed per second by `workers` threads,
/// each with its own `JobStore` (own connections, as separate worker processes would have).
/// (Named apart from APORuntime's `QueueBenchmark`, which drives `apoctl bench`.)
public enum StoreBenchmark {
    public struct Result: Codable, Sendable {
        public var jobs: Int
        public var workers: Int
        /// Whether each completion claimed the next job in the same transaction.
        public var combined: Bool
        /// Time to submit the run (one transaction for all jobs).
        public var submitSeconds: Double
        /// Wall time from the first claim to the last completion.
        public var seconds: Double
        public var jobsPerSecond: Double
        /// CPU time (user + system) the process spent while draining, in seconds. On a machine
        /// shared with other work, `jobs / cpuSeconds` says what the queue costs independent of
        /// how often its threads were preempted.
        public var cpuSeconds: Double
        public var jobsPerCPUSecond: Double
        /// Latency of one claim transaction (picking, leasing, attempt row), in milliseconds;
        /// with `combined`, of one complete-and-claim-next transaction.
        public var claimP50Milliseconds: Double
        public var claimP99Milliseconds: Double
        /// Latency of one complete transaction, in milliseconds (0 with `combined`).
        public var completeP50Milliseconds: Double
        public var completeP99Milliseconds: Double
    }

    /// Submits `jobs` independent no-op jobs to a fresh database at `path`, then lets `workers`
    /// threads claim and complete them until the queue is empty. Verifies every job ran exactly
    /// once and throws otherwise. With `combined`, each worker completes a job and claims the
    /// next one in a single transaction (`completeAndClaimNext`).
    public static func run(path: String, jobs: Int, workers: Int = 1,
                           combined: Bool = false) throws -> Result {
        if !StoreLocation.isPostgres(path) {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try JobStore(path: path)
        let newJobs = (0..<jobs).map { index in
            NewJob(key: "noop-\(index)", kind: "noop", paramsJSON: "{}", maxAttempts: 1)
        }
        let submitStart = Date()
        let runID = try store.createRun(
            NewRun(pipelineName: "queue-benchmark", pipelineYAML: "name: queue-benchmark\n",
                   pipelineHash: "queue-benchmark-\(jobs)", artifactRoot: "", jobs: newJobs),
            now: submitStart)
        let submitSeconds = Date().timeIntervalSince(submitStart)

        let stores = try (0..<workers).map { _ in try JobStore(path: path) }
        let ledger = Ledger()
        let cpuStart = processCPUSeconds()
        let start = Date()
        onSeparateThreads(workers) { index in
            var claims: [Double] = []
            var completes: [Double] = []
            claims.reserveCapacity(jobs / workers + 1)
            completes.reserveCapacity(jobs / workers + 1)
            do {
                if combined {
                    var t0 = DispatchTime.now().uptimeNanoseconds
                    var next = try stores[index].claimNextJob(
                        workerID: "bench-\(index)", leaseDuration: 60, now: Date())
                    while let claimed = next {
                        claims.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                        t0 = DispatchTime.now().uptimeNanoseconds
                        next = try stores[index].completeAndClaimNext(
                            claimed.lease, outputsJSON: "{}", memoKey: nil, leaseDuration: 60,
                            now: Date())
                    }
                } else {
                    while true {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        guard let claimed = try stores[index].claimNextJob(
                            workerID: "bench-\(index)", leaseDuration: 60, now: Date()) else { break }
                        let t1 = DispatchTime.now().uptimeNanoseconds
                        try stores[index].complete(claimed.lease, outputsJSON: "{}", memoKey: nil,
                                                   now: Date())
                        let t2 = DispatchTime.now().uptimeNanoseconds
                        claims.append(Double(t1 - t0) / 1e6)
                        completes.append(Double(t2 - t1) / 1e6)
                    }
                }
            } catch {
                ledger.record(error: error)
            }
            ledger.record(claims: claims, completes: completes)
        }
        let seconds = Date().timeIntervalSince(start)
        let cpuSeconds = processCPUSeconds() - cpuStart
        if let error = ledger.firstError { throw error }
        let (claimLatencies, completeLatencies) = (ledger.claims, ledger.completes)
        let counts = try store.run(runID)?.jobCounts ?? [:]
        guard counts == [.succeeded: jobs], claimLatencies.count == jobs else {
            throw StoreError.invalidJob(key: "queue-benchmark",
                                        reason: "expected \(jobs) jobs run once each, got \(counts)")
        }
        return Result(jobs: jobs, workers: workers, combined: combined, submitSeconds: submitSeconds, seconds: seconds,
                      jobsPerSecond: Double(jobs) / seconds, cpuSeconds: cpuSeconds,
                      jobsPerCPUSecond: Double(jobs) / max(cpuSeconds, 1e-9),
                      claimP50Milliseconds: percentile(claimLatencies, 0.50),
                      claimP99Milliseconds: percentile(claimLatencies, 0.99),
                      completeP50Milliseconds: percentile(completeLatencies, 0.50),
                      completeP99Milliseconds: percentile(completeLatencies, 0.99))
    }

    /// Latencies and the first error, gathered from the worker threads under a lock.
    private final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var claims: [Double] = []
        private(set) var completes: [Double] = []
        private(set) var firstError: Error?

        func record(claims: [Double], completes: [Double]) {
            lock.lock(); defer { lock.unlock() }
            self.claims += claims
            self.completes += completes
        }

        func record(error: Error) {
            lock.lock(); defer { lock.unlock() }
            if firstError == nil { firstError = error }
        }
    }

    /// Runs `body(0..<count)` on `count` dedicated threads released at the same moment (unlike
    /// `concurrentPerform`, which never runs more bodies at once than there are cores), and
    /// returns when all have finished.
    public static func onSeparateThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            Thread.detachNewThread {
                start.wait()
                body(index)
                done.leave()
            }
        }
        for _ in 0..<count { start.signal() }
        done.wait()
    }

    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
    }
}
