import APOBenchmarks
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks: the job queue (`queue`, `e2e`), inference (`inference`), reward-model training and scoring (`rm`), and the runtime under kills and freezes (`chaos`).",
            subcommands: [Queue.self, EndToEnd.self, BenchInferenceCommand.self, BenchRMCommand.self, BenchChaosCommand.self])

        /// A fresh database: in a temporary directory, or, when --db names a PostgreSQL server, a
        /// new database there that is dropped afterwards. Never the user's own database.
        static func benchDatabase(_ explicit: String?) throws -> (path: String, cleanup: () -> Void) {
            if let explicit, StoreLocation.isPostgres(explicit) {
                let url = try PostgresScratchDatabase.create(onServer: explicit, prefix: "apo_bench")
                return (url, { PostgresScratchDatabase.drop(url) })
            }
            if let explicit { return (URL(fileURLWithPath: explicit).standardizedFileURL.path, {}) }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return (dir.appendingPathComponent("bench.db").path, { try? FileManager.default.removeItem(at: dir) })
        }

        struct Queue: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Submit N no-op jobs, then claim and complete them from 1 and 2 threads (own connections), with and without completeAndClaimNext.")

            @Option(name: .long, help: "Jobs per measurement.")
            var jobs: Int = 5000

            @Option(name: .long, help: ArgumentHelp("A PostgreSQL server to measure on (postgres://user@host/db).", discussion: "Each measurement gets a new database there, dropped afterwards. Default: a fresh SQLite file in a temporary directory."))
            var db: String?

            @Flag(name: .long) var json = false

            func validate() throws {
                if let db, !StoreLocation.isPostgres(db) {
                    throw ValidationError("--db takes a postgres:// URL (SQLite is measured on a fresh temporary file)")
                }
            }

            func run() throws {
                var results: [StoreBenchmark.Result] = []
                for (workers, combined) in [(1, false), (2, false), (1, true), (2, true)] {
                    let (path, cleanup) = try Bench.benchDatabase(db)
                    defer { cleanup() }
                    let r = try StoreBenchmark.run(path: path, jobs: jobs, workers: workers, combined: combined)
                    results.append(r)
                    if !json {
                        let mode = combined ? ", complete+claim in one transaction" : ""
                        print("store, \(workers) thread(s)\(mode): " + String(format: "%d jobs in %.3f s = %.0f jobs/s (%.0f jobs per CPU-second; claim p50 %.2f ms, p99 %.2f ms)",
                                     r.jobs, r.seconds, r.jobsPerSecond,
                                     r.jobsPerCPUSecond, r.claimP50Milliseconds, r.claimP99Milliseconds))
                    }
                }
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(results), as: UTF8.self))
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

            @Option(name: .long, help: "Daemons sharing the database, each with --workers workers (as hosts would).")
            var daemons: Int = 1

            @Option(name: .long, help: ArgumentHelp("Database to use (default: a fresh temporary one).", discussion: "A postgres:// URL names a server: the benchmark makes a new database there and drops it afterwards."))
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
                let r = try EndToEndBenchmark.run(databasePath: path, apod: daemon, daemons: daemons, jobs: jobs,
                                                  workers: workers, chainLength: chain, log: { if !json { print($0) } })
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(r), as: UTF8.self))
                } else {
                    print(String(format: "end to end, %d daemon(s) × %d workers: %d jobs in %.3f s = %.0f jobs/s", r.daemons, r.workers, r.jobs, r.seconds, r.jobsPerSecond))
                    print(String(format: "scheduling latency over a %d-job chain (handed over by the completing worker): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                                 r.chainLength, r.latencyP50ms, r.latencyP99ms, r.latencyMaxMs))
                    print(String(format: "scheduling latency to an idle worker (polling on SQLite, woken by NOTIFY on PostgreSQL): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                                 r.polledLatencyP50ms, r.polledLatencyP99ms, r.polledLatencyMaxMs))
                    print(String(format: "CPU of apod + workers: %.2f ms per job (%.0f jobs per CPU-second)",
                                 r.cpuMillisecondsPerJob, 1000 / r.cpuMillisecondsPerJob))
                }
            }
        }
    }
}
