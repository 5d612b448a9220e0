import APORuntime
import APOStore
import Foundation

/// Percentiles of a sample, nearest-rank.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Runs of no-op jobs for the benchmarks.
public enum BenchmarkRuns {
    static func noop(jobs: Int, chained: Bool = false, tag: String) -> NewRun {
        let newJobs = (0..<jobs).map { i in
            NewJob(key: "noop\(i)", kind: "noop", kindVersion: 1, paramsJSON: "{}",
                   needs: chained && i > 0 ? ["noop\(i - 1)"] : [], priority: 0, maxAttempts: 1,
                   backoffBaseSeconds: 1, backoffMaxSeconds: 1, timeoutSeconds: nil,
                   resourcesJSON: "{}", memoize: false)
        }
        return wrap(newJobs, tag: tag, chained: chained)
    }

    /// A chain A0 → A1 → … of 50 ms sleeps where every Ai also has a no-op side job Si. The chain
    /// jobs have the higher priority, so a completing worker hands itself A(i+1) in the same
    /// transaction, and Si must be found by another worker, idle thanks to the 50 ms spacing, by
    /// polling the queue: the latency of Si is the polling path without queueing behind other work.
    static func chainWithSideJobs(length: Int) -> NewRun {
        var newJobs: [NewJob] = []
        for i in 0..<length {
            newJobs.append(NewJob(key: "a\(i)", kind: "sleep", kindVersion: 1, paramsJSON: #"{"seconds":0.05}"#,
                                  needs: i > 0 ? ["a\(i - 1)"] : [], priority: 1, maxAttempts: 1,
                                  backoffBaseSeconds: 1, backoffMaxSeconds: 1, timeoutSeconds: nil,
                                  resourcesJSON: "{}", memoize: false))
            newJobs.append(NewJob(key: "s\(i)", kind: "noop", kindVersion: 1, paramsJSON: "{}",
                                  needs: ["a\(i)"], priority: 0, maxAttempts: 1,
                                  backoffBaseSeconds: 1, backoffMaxSeconds: 1, timeoutSeconds: nil,
                                  resourcesJSON: "{}", memoize: false))
        }
        return wrap(newJobs, tag: "side-chain", chained: true)
    }

    static func wrap(_ newJobs: [NewJob], tag: String, chained: Bool) -> NewRun {
        let jobs = newJobs.count
        // The run folder exists, as `apoctl submit` makes it (workers on a shared database check),
        // and is the run's own: a folder belongs to one run of one database (`RunFolderOwner`).
        let root = NSTemporaryDirectory() + "apo-bench/\(tag)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return NewRun(pipelineName: "bench-\(tag)", pipelineYAML: "# apoctl bench \(tag): \(jobs) noop jobs\n",
                      pipelineHash: FileDigest.sha256(of: Data("bench-\(tag)-\(jobs)-\(chained)".utf8)),
                      paramsJSON: "{}", artifactRoot: root, jobs: newJobs)
    }
}

/// No-op jobs through a real `apod` and its worker processes.
public enum EndToEndBenchmark {
    public struct Result: Encodable {
        public let jobs: Int
        public let workers: Int
        /// Daemons sharing the database, each with `workers` workers.
        public let daemons: Int
        public let seconds: Double
        public var jobsPerSecond: Double { Double(jobs) / seconds }
        public let chainLength: Int
        /// Dependency finished → dependent claimed, in milliseconds, along a plain chain (the
        /// completing worker claims the dependent in the same transaction).
        public let latencyP50ms: Double
        public let latencyP99ms: Double
        public let latencyMaxMs: Double
        /// The same for dependents another, idle worker has to find by polling.
        public let polledLatencyP50ms: Double
        public let polledLatencyP99ms: Double
        public let polledLatencyMaxMs: Double
        /// CPU time of apod and its workers over the whole benchmark (warm-up, throughput and
        /// chain jobs), per job: what a job costs independent of how busy the machine was.
        public let cpuMillisecondsPerJob: Double
    }

    public struct BenchmarkError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func run(databasePath: String, apod: URL, daemons daemonCount: Int = 1, jobs: Int, workers: Int,
                           chainLength: Int, log: (String) -> Void) throws -> Result {
        let store = try JobStore(path: databasePath)
        let cpuBefore = childrenCPUSeconds()
        let daemons = try (1...max(daemonCount, 1)).map { index -> Process in
            let daemon = Process()
            daemon.executableURL = apod
            daemon.arguments = ["--db", databasePath, "--workers", String(workers), "--lease-seconds", "30",
                                "--log-level", "warning", "--host", "bench-\(index)"]
            try daemon.run()
            return daemon
        }
        defer {
            for daemon in daemons where daemon.isRunning {
                kill(daemon.processIdentifier, SIGTERM)
                daemon.waitUntilExit()
            }
        }
        // Warm-up: wait until the workers are up and claiming.
        let warmup = try store.createRun(BenchmarkRuns.noop(jobs: workers * daemons.count * 2, tag: "e2e-warmup"), now: Date())
        try waitForRun(warmup, store: store, timeout: 60, daemons: daemons)

        log("throughput: \(jobs) independent noop jobs, \(workers) workers")
        let start = Date()
        let runID = try store.createRun(BenchmarkRuns.noop(jobs: jobs, tag: "e2e-throughput"), now: Date())
        try waitForRun(runID, store: store, timeout: 600, daemons: daemons)
        let seconds = Date().timeIntervalSince(start)

        log("latency: chain of \(chainLength) noop jobs")
        let chainID = try store.createRun(BenchmarkRuns.noop(jobs: chainLength, chained: true, tag: "e2e-chain"), now: Date())
        try waitForRun(chainID, store: store, timeout: 600, daemons: daemons)
        let chain = try store.jobs(runID: chainID).sorted { $0.id < $1.id }
        var latencies: [Double] = []
        for (upstream, downstream) in zip(chain, chain.dropFirst()) {
            guard let finished = upstream.finishedAt, let started = downstream.startedAt else { continue }
            latencies.append(started.timeIntervalSince(finished) * 1000)
        }

        let sideLength = min(chainLength, 100)
        log("latency: chain of \(sideLength) 50 ms sleeps, each with a no-op side job for an idle worker")
        let sideID = try store.createRun(BenchmarkRuns.chainWithSideJobs(length: sideLength), now: Date())
        try waitForRun(sideID, store: store, timeout: 600, daemons: daemons)
        let side = Dictionary(uniqueKeysWithValues: try store.jobs(runID: sideID).map { ($0.key, $0) })
        var polled: [Double] = []
        for i in 0..<sideLength {
            guard let finished = side["a\(i)"]?.finishedAt, let started = side["s\(i)"]?.startedAt else { continue }
            polled.append(started.timeIntervalSince(finished) * 1000)
        }

        for daemon in daemons {
            kill(daemon.processIdentifier, SIGTERM)
            daemon.waitUntilExit()
        }
        let cpu = childrenCPUSeconds() - cpuBefore
        let totalJobs: Int = jobs + chainLength + 2 * sideLength + workers * daemons.count * 2
        return Result(jobs: jobs, workers: workers, daemons: daemons.count, seconds: seconds, chainLength: chainLength,
                      latencyP50ms: percentile(latencies, 50), latencyP99ms: percentile(latencies, 99),
                      latencyMaxMs: latencies.max() ?? .nan,
                      polledLatencyP50ms: percentile(polled, 50), polledLatencyP99ms: percentile(polled, 99),
                      polledLatencyMaxMs: polled.max() ?? .nan,
                      cpuMillisecondsPerJob: cpu * 1000 / Double(totalJobs))
    }

    static func waitForRun(_ runID: Int64, store: JobStore, timeout: TimeInterval, daemons: [Process]) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let run = try store.run(runID) else { throw BenchmarkError(description: "run \(runID) vanished") }
            if run.state == .succeeded { return }
            if run.state != .running { throw BenchmarkError(description: "run \(runID) ended \(run.state.rawValue)") }
            if let daemon = daemons.first(where: { !$0.isRunning }) {
                throw BenchmarkError(description: "apod exited with status \(daemon.terminationStatus)")
            }
            // Not faster: on PostgreSQL each look is two statements the server (on the same cores)
            // runs instead of the workers' (pg_stat_statements: 6 % of its time at 5 ms).
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw BenchmarkError(description: "run \(runID) did not finish within \(Int(timeout)) s")
    }
}

/// User + system CPU of every waited-for descendant (apod, and the workers apod waited for).
func childrenCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    #else
    getrusage(RUSAGE_CHILDREN, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
