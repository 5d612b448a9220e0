import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

/// One run as `runs`, `history` and `show` print it in --json.
struct RunSummary: Encodable {
    let id: Int64
    let pipeline: String
    let state: String
    let jobs: Int
    let jobStates: [String: Int]
    let createdAt: Date
    let finishedAt: Date?
    let durationSeconds: Double
    let artifactRoot: String

    init(run: RunRecord, jobs: [JobRecord], now: Date) {
        id = run.id
        pipeline = run.pipelineName
        state = run.state.rawValue
        self.jobs = jobs.count
        jobStates = Dictionary(grouping: jobs, by: { $0.state.rawValue }).mapValues(\.count)
        createdAt = run.createdAt
        finishedAt = run.finishedAt
        durationSeconds = (run.finishedAt ?? now).timeIntervalSince(run.createdAt)
        artifactRoot = run.artifactRoot
    }

    var progressText: String {
        "\(jobStates["succeeded", default: 0])/\(jobs) done"
            + (jobStates["running"].map { ", \($0) running" } ?? "")
            + (jobStates["failed"].map { ", \($0) failed" } ?? "")
    }
}

extension Apoctl {
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recent runs with their state.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "How many runs to list, newest first.")
        var limit: Int = 20

        func run() throws {
            let store = try global.runService()
            let now = Date()
            let summaries = try store.runs(limit: limit).map { RunSummary(run: $0, jobs: try store.jobs(runID: $0.id), now: now) }
            if global.json { return try global.printJSON(summaries) }
            if summaries.isEmpty { return print("no runs in \(store.location)") }
            print("\(Formatting.column("RUN", 6)) \(Formatting.column("PIPELINE", 22)) \(Formatting.column("STATE", 10)) \(Formatting.column("JOBS", 28)) CREATED (UTC)")
            for s in summaries {
                print("\(Formatting.column(String(s.id), 6)) \(Formatting.column(s.pipeline, 22)) \(Formatting.column(s.state, 10)) \(Formatting.column(s.progressText, 28)) \(Formatting.timestamp(s.createdAt))")
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Past runs with their durations and retry counts.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "How many runs to list, newest first.")
        var limit: Int = 50

        struct Entry: Encodable {
            let run: RunSummary
            let attempts: Int
            let retriedJobs: Int
            let memoizedJobs: Int
        }

        func run() throws {
            let store = try global.runService()
            let now = Date()
            let entries = try store.runs(limit: limit).filter { $0.state != .running }.map { run -> Entry in
                let jobs = try store.jobs(runID: run.id)
                return Entry(run: RunSummary(run: run, jobs: jobs, now: now),
                             attempts: jobs.reduce(0) { $0 + $1.attempts },
                             retriedJobs: jobs.filter { $0.attempts > 1 }.count,
                             memoizedJobs: jobs.filter { $0.memoizedFromJobID != nil }.count)
            }
            if global.json { return try global.printJSON(entries) }
            if entries.isEmpty { return print("no finished runs in \(store.location)") }
            print("\(Formatting.column("RUN", 6)) \(Formatting.column("PIPELINE", 22)) \(Formatting.column("STATE", 10)) \(Formatting.column("JOBS", 5)) \(Formatting.column("RETRIED", 8)) \(Formatting.column("REUSED", 7)) \(Formatting.column("DURATION", 9)) FINISHED (UTC)")
            for e in entries {
                let finished = e.run.finishedAt.map(Formatting.timestamp) ?? "-"
                print("\(Formatting.column(String(e.run.id), 6)) \(Formatting.column(e.run.pipeline, 22)) \(Formatting.column(e.run.state, 10)) \(Formatting.column(String(e.run.jobs), 5)) \(Formatting.column(String(e.retriedJobs), 8)) \(Formatting.column(String(e.memoizedJobs), 7)) \(Formatting.column(Formatting.duration(e.run.durationSeconds), 9)) \(finished)")
            }
        }
    }
}
