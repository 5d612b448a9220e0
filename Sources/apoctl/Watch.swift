import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a run live: one progress bar per running job, with ETA.",
            discussion: "Redraws in place on a terminal, prints plain lines otherwise. Exits when the run ends: 0 succeeded, 1 failed, 5 cancelled. Warns once on stderr when no apod has heartbeated on the database for 10 s.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        @Option(name: .long, help: "Seconds between refreshes.")
        var interval: Double = 0.5

        func run() throws {
            let store = try global.runService()
            _ = try store.requireRun(runID)
            var display = WatchDisplay(interactive: isatty(STDOUT_FILENO) != 0 && !global.json)
            var liveness = DaemonLivenessWarning(store: store)
            while true {
                let now = Date()
                let record = try store.requireRun(runID)
                let jobs = try store.jobs(runID: runID)
                let summary = RunSummary(run: record, jobs: jobs, now: now)
                display.show(record, summary: summary, jobs: jobs, now: now)
                if record.state != .running {
                    print("run \(record.id) \(record.state.rawValue) after \(Formatting.duration(summary.durationSeconds))")
                    switch record.state {
                    case .succeeded: return
                    case .cancelled: throw ExitCode(ApoctlExit.cancelled.rawValue)
                    default: throw ExitCode(ApoctlExit.runFailed.rawValue)
                    }
                }
                liveness.check(now: Date())
                Thread.sleep(forTimeInterval: interval)
            }
        }
    }
}

/// What `apoctl watch` shows at each refresh: on a terminal, a frame redrawn in place (the run's
/// line and one progress bar per running job); otherwise plain lines, one per state change and
/// per 10 % of a job's progress.
struct WatchDisplay {
    let interactive: Bool
    var estimators: [Int64: ProgressEstimator] = [:]
    var lastStates: [Int64: JobState] = [:]
    var lastPercent: [Int64: Int] = [:]
    var drawnLines = 0

    mutating func show(_ record: RunRecord, summary: RunSummary, jobs: [JobRecord], now: Date) {
        for job in jobs where job.state == .running {
            estimators[job.id, default: ProgressEstimator()].observe(done: job.progressDone, at: now)
        }
        if interactive {
            var lines = ["run \(record.id) \(record.pipelineName): \(record.state.rawValue), \(summary.progressText), \(Formatting.duration(summary.durationSeconds))"]
            for job in jobs where job.state == .running { lines.append(progressLine(job, now: now)) }
            redraw(lines)
        } else {
            printChanges(jobs, now: now)
        }
    }

    /// Moves the cursor up over the previous frame and writes `lines` over it.
    mutating func redraw(_ lines: [String]) {
        var screen = ""
        if drawnLines > 0 { screen += "\u{1B}[\(drawnLines)A" }
        for line in lines { screen += "\u{1B}[2K" + line + "\n" }
        // Clear lines left over from a longer previous frame.
        if drawnLines > lines.count {
            for _ in lines.count..<drawnLines { screen += "\u{1B}[2K\n" }
            screen += "\u{1B}[\(drawnLines - lines.count)A"
        }
        drawnLines = lines.count
        FileHandle.standardOutput.write(Data(screen.utf8))
    }

    mutating func printChanges(_ jobs: [JobRecord], now: Date) {
        for job in jobs {
            if lastStates[job.id] != job.state {
                lastStates[job.id] = job.state
                var line = "\(Formatting.timestamp(now)) \(job.key): \(job.state.rawValue)"
                if job.state == .failed || job.state == .queued, let e = job.error { line += " (\(e))" }
                if job.memoizedFromJobID != nil { line += " (reused)" }
                print(line)
            }
            if job.state == .running, job.progressTotal > 0 {
                let pct = job.progressDone * 100 / job.progressTotal
                if pct / 10 != (lastPercent[job.id] ?? -1) / 10 {
                    lastPercent[job.id] = pct
                    print("\(Formatting.timestamp(now)) \(progressLine(job, now: now))")
                }
            }
        }
        fflush(stdout)
    }

    func progressLine(_ job: JobRecord, now: Date) -> String {
        let elapsed = job.startedAt.map { now.timeIntervalSince($0) } ?? 0
        guard job.progressTotal > 0 else {
            return "  \(Formatting.column(job.key, 24)) running \(Formatting.duration(elapsed)) \(job.progressMessage ?? "")"
        }
        let fraction = Double(job.progressDone) / Double(job.progressTotal)
        let eta = estimators[job.id]?.eta(total: job.progressTotal).map { "ETA \(Formatting.duration($0))" } ?? "ETA ?"
        return "  \(Formatting.column(job.key, 24)) \(Formatting.bar(fraction: fraction, width: 30)) \(String(format: "%3d%%", Int(fraction * 100))) \(job.progressDone)/\(job.progressTotal) \(eta) \(job.progressMessage ?? "")"
    }
}
