import APOAPIBodies
import APOPipeline
import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a run's DAG: every job (rounds expanded) with its state, attempts, needs, duration and CPU time.",
            discussion: "A matrixed run lists the jobs shared by every cell first, then each cell's jobs under its name. --json prints each job as the HTTP API's GET /api/runs/{id} does (with its `cell`).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        struct Output: Encodable {
            let run: RunSummary
            let jobs: [JobBody]
        }

        func run() throws {
            let store = try global.runService()
            let now = Date()
            let detail = try store.runDetail(runID, now: now)
            let (record, jobs) = (detail.run, detail.jobs)
            let summary = RunSummary(run: record, jobs: jobs, now: now)
            if global.json {
                return try global.printJSON(Output(run: summary, jobs: jobs.map {
                    JobBody($0, cell: MatrixCell.name(ofJobKey: $0.key), now: now)
                }))
            }
            print("run \(record.id)  \(record.pipelineName)  \(record.state.rawValue)  \(summary.progressText)  \(Formatting.duration(summary.durationSeconds))")
            print("artifacts: \(record.artifactRoot)")
            if !detail.daemonSessions.isEmpty {
                print(RunServiceHistory(sessions: detail.daemonSessions, runEnd: record.finishedAt).summary)
            }
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
            var state = job.state.rawValue
            if let from = job.memoizedFromJobID { state = "reused(\(from))" }
            let time = job.startedAt.map { Formatting.duration((job.finishedAt ?? now).timeIntervalSince($0)) } ?? "-"
            let cpu = job.cpuSeconds.map(Formatting.duration) ?? "-"
            let needs = job.needs.isEmpty ? "-" : job.needs.joined(separator: ", ")
            print("  \(Formatting.column(String(job.id), 6)) \(Formatting.column(job.key, keyWidth)) \(Formatting.column(job.kind, 16)) \(Formatting.column(state, 15)) \(Formatting.column("\(job.attempts)/\(job.maxAttempts)", 6)) \(Formatting.column(time, 8)) \(Formatting.column(cpu, 8)) \(needs)")
            if job.state == .running, job.progressTotal > 0 {
                let pct = Double(job.progressDone) / Double(job.progressTotal)
                print("         \(Formatting.bar(fraction: pct, width: 20)) \(Int(pct * 100))% \(job.progressMessage ?? "")")
            }
            if job.state == .queued, let needs = ResourceNeeds(resourcesJSON: job.resourcesJSON),
               !aliveHosts.contains(where: needs.isOffered(by:)) {
                print("         waiting for a host with \(needs.description): no live host offers it (apoctl hosts)")
            }
            if let error = job.error, job.state != .succeeded {
                print("         error: \(error.split(separator: "\n").first.map(String.init) ?? error)")
            }
        }
    }
}
