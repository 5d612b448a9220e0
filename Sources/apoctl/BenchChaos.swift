import APOChaos
import APORuntime
import APOStore
import ArgumentParser
import Foundation

/// `apoctl bench chaos`: the spine's promise checked at volume. The pipeline runs once
/// undisturbed (the oracle), then N times in fresh databases while apod and its workers are
/// killed and frozen; each trial must end with every job succeeded exactly once, every artifact
/// equal to the oracle's, no stale write, nothing left running and no orphan process.
struct BenchChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Run a pipeline N times while killing and freezing apod and its workers; check each run against an undisturbed one.",
        discussion: """
            Prints one line per trial and then
              chaos: N trials, K kills, S stops, L lost, D duplicated, M mismatched, W stale writes, O orphans
            and exits 1 when any of L, D, M, W, O is not zero. Relative paths in the pipeline are resolved from the \
            current directory (run it from the repository root). --short is the CI version: smaller inputs, fewer \
            disturbances.
            """)

    @Option(name: .long, help: "Disturbed runs.")
    var trials: Int = 3

    @Option(name: .long, help: "The pipeline to run.")
    var pipeline: String = "pipelines/chaos.yaml"

    @Option(name: .customLong("param"), help: ArgumentHelp("Override a pipeline parameter.", valueName: "name=value"))
    var params: [String] = []

    @Option(name: .long, help: "Worker processes per apod.")
    var workers: Int = 2

    @Option(name: .customLong("lease-seconds"), help: "apod's lease; a frozen worker loses its job after this long.")
    var leaseSeconds: Double = 3

    @Option(name: .customLong("max-disturbances"), help: "Kills and stops per trial at most.")
    var maxDisturbances: Int = 8

    @Option(name: .long, help: "Seed of the disturbances (trial i uses seed + i).")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "The CI version: max_queries=8, nap_seconds=0.5, at most 5 disturbances.")
    var short = false

    @Option(name: .long, help: "Keep every trial's database, artifacts and apod log under this directory (about 1 GB a trial).")
    var keep: String?

    @Option(name: .long, help: "The apod executable (default: next to apoctl).")
    var apod: String?

    func validate() throws {
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1") }
        guard leaseSeconds >= 1 else { throw ValidationError("--lease-seconds must be at least 1") }
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)  // one line per trial, also when written to a file
        let daemon = apod.map { URL(fileURLWithPath: $0) }
            ?? WorkerSupervisor.currentExecutable().deletingLastPathComponent().appendingPathComponent("apod")
        guard FileManager.default.isExecutableFile(atPath: daemon.path) else {
            throw CommandFailure(code: .notFound, message: "error: no apod at \(daemon.path); build it (swift build) or pass --apod")
        }
        var settings = ChaosSettings(apod: daemon, pipeline: pipeline, overrides: try overrides())
        settings.workers = workers
        settings.leaseSeconds = leaseSeconds
        settings.maxDisturbances = short ? min(maxDisturbances, 5) : maxDisturbances
        let base = keep.map { URL(fileURLWithPath: $0).standardizedFileURL }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("apo-chaos-\(UUID().uuidString.prefix(8))")
        // Without --keep, the oracle and clean trials are removed; a failing trial is kept and named.
        defer { if keep == nil { try? FileManager.default.removeItem(at: base.appendingPathComponent("oracle")) } }

        let started = Date()
        let oracleTrial = ChaosTrial(settings: settings, directory: base.appendingPathComponent("oracle"), seed: seed)
        let oracleRun = try oracleTrial.run(disturb: false)
        let oracleStore = try JobStore(path: oracleRun.databasePath)
        let oracle = try ChaosOracle(store: oracleStore, runID: oracleRun.runID)
        let oracleVerdict = try ChaosVerdict(store: oracleStore, runID: oracleRun.runID, oracle: oracle)
        guard oracleVerdict.isClean, oracleRun.orphans == 0 else {
            throw CommandFailure(code: .runFailed, message: "chaos: the undisturbed run is not clean:\n  " + oracleVerdict.problems.joined(separator: "\n  "))
        }
        print(String(format: "oracle: %d jobs, %d artifacts in %.0f s", oracle.jobs.count, oracle.artifacts.count, Date().timeIntervalSince(started)))

        var total = ChaosTotals()
        for trial in 1...trials {
            let t0 = Date()
            let chaos = ChaosTrial(settings: settings, directory: base.appendingPathComponent("trial-\(trial)"),
                                   seed: seed &+ UInt64(trial))
            let result = try chaos.run(disturb: true)
            let verdict = try ChaosVerdict(store: try JobStore(path: result.databasePath), runID: result.runID, oracle: oracle)
            total.add(result, verdict)
            print(String(format: "trial %d: %d kills, %d stops, %d lost, %d duplicated, %d mismatched, %d stale writes, %d orphans (%.0f s)",
                         trial, result.kills, result.stops, verdict.lost, verdict.duplicated, verdict.mismatched,
                         verdict.staleWrites, result.orphans, Date().timeIntervalSince(t0)))
            if !verdict.isClean || result.orphans > 0 {
                for line in result.events + verdict.problems { print("  \(line)") }
                print("  kept: \(chaos.directory.path)")
            } else if keep == nil {
                // Each trial holds two fp32 models (about 1 GB): a clean one goes at once.
                try? FileManager.default.removeItem(at: chaos.directory)
            }
        }
        print(total.summary)
        if !total.isClean { throw ExitCode(1) }
    }

    func overrides() throws -> [String: String] {
        var overrides: [String: String] = short ? ["max_queries": "8", "nap_seconds": "0.5"] : [:]
        for assignment in params {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw CommandFailure(code: .usage, message: "error: --param '\(assignment)' is not name=value")
            }
            overrides[String(assignment[..<eq])] = String(assignment[assignment.index(after: eq)...])
        }
        return overrides
    }
}

/// The figures of all trials together: the command's last line.
struct ChaosTotals {
    var trials = 0, kills = 0, stops = 0, lost = 0, duplicated = 0, mismatched = 0, staleWrites = 0, orphans = 0

    mutating func add(_ r: ChaosTrialResult, _ v: ChaosVerdict) {
        trials += 1
        kills += r.kills
        stops += r.stops
        lost += v.lost
        duplicated += v.duplicated
        mismatched += v.mismatched
        staleWrites += v.staleWrites
        orphans += r.orphans
    }

    var isClean: Bool { lost + duplicated + mismatched + staleWrites + orphans == 0 }

    var summary: String {
        "chaos: \(trials) trials, \(kills) kills, \(stops) stops, \(lost) lost, \(duplicated) duplicated, "
            + "\(mismatched) mismatched, \(staleWrites) stale writes, \(orphans) orphans"
    }
}
