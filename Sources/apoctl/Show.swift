import APOPipeline
import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

/// One job as `show --json` prints it.
struct JobSummary: Encodable {
    let id: Int64
    let key: String
    /// The matrix cell of a job copy (`seed=2` of `seed=2/r1.apo_rm`); absent for a shared job.
    let cell: String?
    let kind: String
    let state: String
    let attempts: Int
    let maxAttempts: Int
    let needs: [String]
    let startedAt: Date?
    let finishedAt: Date?
    let durationSeconds: Double?
    /// CPU seconds its attempts spent (absent: none recorded any).
    let cpuSeconds: Double?
    let progressDone: Int
    let progressTotal: Int
    let progressMessage: String?
    let memoizedFromJobID: Int64?
    let error: String?
    let outputs: String?

    init(_ job: JobRecord, now: Date) {
        id = job.id
        key = job.key
        cell = MatrixCell.name(ofJobKey: job.key)
        kind = job.kind
        state = job.state.rawValue
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        needs = job.needs
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        durationSeconds = job.startedAt.map { (job.finishedAt ?? now).timeIntervalSince($0) }
        cpuSeconds = job.cpuSeconds
        progressDone = job.progressDone
        progressTotal = job.progressTotal
        progressMessage = job.progressMessage
        memoizedFromJobID = job.memoizedFromJobID
        error = job.error
        outputs = job.outputsJSON
    }
}

extension Apoctl {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a run's DAG: every job (rounds expanded) with its state, attempts, needs, duration and CPU time.",
            discussion: "A matrixed run lists the jobs shared by every cell first, then each cell's jobs under its name (--json: each job's `cell`).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        struct Output: Encodable {
            let run: RunSummary
            let jobs: [JobSummary]
        }

        func run() throws {
            let store = try global.runService()
            let record = try store.requireRun(runID)
            let jobs = try store.jobs(runID: runID)
            let now = Date()
            let summary = RunSummary(run: record, jobs: jobs, now: now)
            if global.json {
                return try global.printJSON(Output(run: summary, jobs: jobs.map { JobSummary($0, now: now) }))
            }
            print("run \(record.id)  \(record.pipelineName)  \(record.state.rawValue)  \(summary.progressText)  \(Formatting.duration(summary.durationSeconds))")
            print("artifacts: \(record.artifactRoot)")
            // Hosts alive now, to say why a queued job waits when none of them may take it.
            let aliveHosts = try store.hosts(now: now, lostAfter: JobStore.hostLostAfterSeconds).filter { !$0.isLost }
            let keyWidth = max(12, min(40, (jobs.map(\.key.count).max() ?? 0) + 1))
            print("  \(Formatting.column("JOB", 6)) \(Formatting.column("KEY", keyWidth)) \(Formatting.column("KIND", 16)) \(Formatting.column("STATE", 15)) \(Formatting.column("TRIES", 6)) \(Formatting.column("TIME", 8)) \(Formatting.column("CPU", 8)) NEEDS")
            let groups = MatrixCell.groups(jobs, key: \.key)
            for (cell, members) in groups {
                if groups.count > 1 || cell != nil { print(cell.map { "cell \($0):" } ?? "shared by every cell:") }
                for job in members { printLine(job, keyWidth: keyWidth, aliveHosts: aliveHosts, now: now) }
            }
        }

        private func printLine(_ job: JobRecord, keyWidth: Int, aliveHosts: [HostRecord], now: Date) {
            let s = JobSummary(job, now: now)
            var state = s.state
            if let from = s.memoizedFromJobID { state = "reused(\(from))" }
            let time = s.durationSeconds.map(Formatting.duration) ?? "-"
            let cpu = s.cpuSeconds.map(Formatting.duration) ?? "-"
            let needs = s.needs.isEmpty ? "-" : s.needs.joined(separator: ", ")
            print("  \(Formatting.column(String(s.id), 6)) \(Formatting.column(s.key, keyWidth)) \(Formatting.column(s.kind, 16)) \(Formatting.column(state, 15)) \(Formatting.column("\(s.attempts)/\(s.maxAttempts)", 6)) \(Formatting.column(time, 8)) \(Formatting.column(cpu, 8)) \(needs)")
            if job.state == .running, job.progressTotal > 0 {
                let pct = Double(job.progressDone) / Double(job.progressTotal)
                print("         \(Formatting.bar(fraction: pct, width: 20)) \(Int(pct * 100))% \(job.progressMessage ?? "")")
            }
            if job.state == .queued, let needs = ResourceNeeds(resourcesJSON: job.resourcesJSON),
               !aliveHosts.contains(where: needs.isOffered(by:)) {
                print("         waiting for a host with \(needs.description): no live host offers it (apoctl hosts)")
            }
            if let error = s.error, job.state != .succeeded {
                print("         error: \(error.split(separator: "\n").first.map(String.init) ?? error)")
            }
        }
    }
}
