import APOStore
import Foundation

/// Percentiles of a sample, nearest-rank.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// No-op jobs through the store alone: insert, then claim + complete as fast as possible.
public enum QueueBenchmark {
    public struct Result: Encodable {
        public let jobs: Int
        public let threads: Int
        public let insertSeconds: Double
        public let drainSeconds: Double
        public var jobsPerSecond: Double { Double(jobs) / drainSeconds }
    }

    static func noopRun(jobs: Int, chained: Bool = false, tag: String) -> NewRun {
        let newJobs = (0..<jobs).map { i in
            NewJob(key: "noop\(i)", kind: "noop", kindVersion: 1, paramsJSON: "{}",
                   needs: chained && i > 0 ? ["noop\(i - 1)"] : [], priority: 0, maxAttempts: 1,
                   backoffBaseSeconds: 1, backoffMaxSeconds: 1, timeoutSeconds: nil,
                   resourcesJSON: "{}", memoize: false)
        }
        return NewRun(pipelineName: "bench-\(tag)", pipelineYAML: "# apoctl bench \(tag): \(jobs) noop jobs\n",
                      pipelineHash: FileDigest.sha256(of: Data("bench-\(tag)-\(jobs)-\(chained)".utf8)),
                      paramsJSON: "{}", artifactRoot: NSTemporaryDirectory() + "apo-bench", jobs: newJobs)
    }

    /// Each thread opens its own `JobStore` (own connection), as separate worker processes would.
    public static func run(databasePath: String, jobs: Int, threads: Int) throws -> Result {
        let setup = try JobStore(path: databasePath)
        let insertStart = Date()
        _ = try setup.createRun(noopRun(jobs: jobs, tag: "queue-\(threads)t"), now: Date())
        let insertSeconds = Date().timeIntervalSince(insertStart)
        let stores = try (0..<threads).map { _ in try JobStore(path: databasePath) }
        let errors = ErrorBox()
        let group = DispatchGroup()
        let start = Date()
        for t in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    while let claimed = try stores[t].claimNextJob(workerID: "bench-\(t)", leaseDuration: 30, now: Date()) {
                        try stores[t].complete(claimed.lease, outputsJSON: "{}", memoKey: nil, now: Date())
                    }
                } catch {
                    errors.set(error)
                }
            }.start()
        }
        group.wait()
        let drainSeconds = Date().timeIntervalSince(start)
        if let error = errors.value { throw error }
        return Result(jobs: jobs, threads: threads, insertSeconds: insertSeconds, drainSeconds: drainSeconds)
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.lock(); if stored == nil { stored = e }; lock.unlock() }
    var value: Error? { lock.lock(); defer { lock.unlock() }; return stored }
}

/// No-op jobs through a real `apod` and its worker processes.
public enum EndToEndBenchmark {
    public struct Result: Encodable {
        public let jobs: Int
        public let workers: Int
        public let seconds: Double
        public var jobsPerSecond: Double { Double(jobs) / seconds }
        public let chainLength: Int
        /// Dependency finished → dependent claimed, in milliseconds.
        public let latencyP50ms: Double
        public let latencyP99ms: Double
        public let latencyMaxMs: Double
    }

    public struct BenchmarkError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func run(databasePath: String, apod: URL, jobs: Int, workers: Int, chainLength: Int,
                           log: (String) -> Void) throws -> Result {
        let store = try JobStore(path: databasePath)
        let daemon = Process()
        daemon.executableURL = apod
        daemon.arguments = ["--db", databasePath, "--workers", String(workers), "--lease-seconds", "30", "--log-level", "warning"]
        try daemon.run()
        defer {
            if daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        // Warm-up: wait until the workers are up and claiming.
        let warmup = try store.createRun(QueueBenchmark.noopRun(jobs: workers * 2, tag: "e2e-warmup"), now: Date())
        try waitForRun(warmup, store: store, timeout: 60, daemon: daemon)

        log("throughput: \(jobs) independent noop jobs, \(workers) workers")
        let start = Date()
        let runID = try store.createRun(QueueBenchmark.noopRun(jobs: jobs, tag: "e2e-throughput"), now: Date())
        try waitForRun(runID, store: store, timeout: 600, daemon: daemon)
        let seconds = Date().timeIntervalSince(start)

        log("latency: chain of \(chainLength) noop jobs")
        let chainID = try store.createRun(QueueBenchmark.noopRun(jobs: chainLength, chained: true, tag: "e2e-chain"), now: Date())
        try waitForRun(chainID, store: store, timeout: 600, daemon: daemon)
        let chain = try store.jobs(runID: chainID).sorted { $0.id < $1.id }
        var latencies: [Double] = []
        for (upstream, downstream) in zip(chain, chain.dropFirst()) {
            guard let finished = upstream.finishedAt, let started = downstream.startedAt else { continue }
            latencies.append(started.timeIntervalSince(finished) * 1000)
        }
        return Result(jobs: jobs, workers: workers, seconds: seconds, chainLength: chainLength,
                      latencyP50ms: percentile(latencies, 50), latencyP99ms: percentile(latencies, 99),
                      latencyMaxMs: latencies.max() ?? .nan)
    }

    static func waitForRun(_ runID: Int64, store: JobStore, timeout: TimeInterval, daemon: Process) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let run = try store.run(runID) else { throw BenchmarkError(description: "run \(runID) vanished") }
            if run.state == .succeeded { return }
            if run.state != .running { throw BenchmarkError(description: "run \(runID) ended \(run.state.rawValue)") }
            if !daemon.isRunning { throw BenchmarkError(description: "apod exited with status \(daemon.terminationStatus)") }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw BenchmarkError(description: "run \(runID) did not finish within \(Int(timeout)) s")
    }
}
