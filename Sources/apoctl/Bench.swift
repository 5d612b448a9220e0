import APORuntime
import ArgumentParser
import Foundation

extension Apoctl {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the job queue: store level (`queue`) or through apod and its workers (`e2e`).",
            subcommands: [Queue.self, EndToEnd.self])

        /// A fresh database in a temporary directory unless --db is given: never the user's apo.db.
        static func benchDatabase(_ explicit: String?) throws -> (path: String, cleanup: () -> Void) {
            if let explicit { return (URL(fileURLWithPath: explicit).standardizedFileURL.path, {}) }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return (dir.appendingPathComponent("bench.db").path, { try? FileManager.default.removeItem(at: dir) })
        }

        struct Queue: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Insert N no-op jobs, then claim and complete them from 1 and 2 threads (own connections).")

            @Option(name: .long, help: "Jobs per measurement.")
            var jobs: Int = 5000

            @Option(name: .long, help: "Database to use (default: a fresh temporary one).")
            var db: String?

            @Flag(name: .long) var json = false

            func run() throws {
                let (path, cleanup) = try Bench.benchDatabase(db)
                defer { cleanup() }
                var results: [QueueBenchmark.Result] = []
                for threads in [1, 2] {
                    let r = try QueueBenchmark.run(databasePath: path, jobs: jobs, threads: threads)
                    results.append(r)
                    if !json {
                        print(String(format: "store, %d thread(s): %d jobs inserted in %.3f s; claimed+completed in %.3f s = %.0f jobs/s",
                                     threads, r.jobs, r.insertSeconds, r.drainSeconds, r.jobsPerSecond))
                    }
                }
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(results.map { ["jobs": Double($0.jobs), "threads": Double($0.threads), "jobs_per_second": $0.jobsPerSecond] }), as: UTF8.self))
                }
            }
        }

        struct EndToEnd: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "e2e",
                abstract: "Start apod with N workers, run no-op jobs end to end, and measure scheduling latency over a dependency chain.")

            @Option(name: .long, help: "Independent no-op jobs for the throughput figure.")
            var jobs: Int = 2000

            @Option(name: .long, help: "Worker processes.")
            var workers: Int = 2

            @Option(name: .long, help: "Length of the dependency chain for the latency figure.")
            var chain: Int = 200

            @Option(name: .long, help: "The apod executable (default: next to apoctl).")
            var apod: String?

            @Option(name: .long, help: "Database to use (default: a fresh temporary one).")
            var db: String?

            @Flag(name: .long) var json = false

            func run() throws {
                let daemon = apod.map { URL(fileURLWithPath: $0) }
                    ?? WorkerSupervisor.currentExecutable().deletingLastPathComponent().appendingPathComponent("apod")
                guard FileManager.default.isExecutableFile(atPath: daemon.path) else {
                    throw CommandFailure(code: .notFound, message: "error: no apod at \(daemon.path); build it (swift build) or pass --apod")
                }
                let (path, cleanup) = try Bench.benchDatabase(db)
                defer { cleanup() }
                let r = try EndToEndBenchmark.run(databasePath: path, apod: daemon, jobs: jobs, workers: workers,
                                                  chainLength: chain, log: { if !json { print($0) } })
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(r), as: UTF8.self))
                } else {
                    print(String(format: "end to end, %d workers: %d jobs in %.3f s = %.0f jobs/s", r.workers, r.jobs, r.seconds, r.jobsPerSecond))
                    print(String(format: "scheduling latency over a %d-job chain: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                                 r.chainLength, r.latencyP50ms, r.latencyP99ms, r.latencyMaxMs))
                }
            }
        }
    }
}
