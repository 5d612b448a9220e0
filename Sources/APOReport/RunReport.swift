import APOJSON
import APOPipeline
import APOStore
import Foundation

/// Everything `apoctl report` shows about one run, read from the store and the run's artifacts,
/// rendered as one self-contained HTML page (inline CSS and SVG, no script, no network; see
/// RunReport+HTML.swift) or as Markdown (RunReport+Markdown.swift). Invariant: every job, attempt,
/// metric and artifact belongs to `run`.
public struct RunReport {
    public struct JobEntry {
        public var job: JobRecord
        public var attempts: [AttemptRecord]
        public var metrics: [MetricRecord]
        /// Round from a key `rN.…` (or `CELL/rN.…`); nil for jobs outside the rounds.
        public var round: Int? { RunReport.round(ofKey: job.key) }
    }

    /// One `score` job's rewards (histograms of the samples per round).
    public struct ScoreSet {
        public var jobKey: String
        public var round: Int?
        public var path: String
        public var scores: [Double]
    }

    public var run: RunRecord
    public var jobs: [JobEntry]
    public var artifacts: [ArtifactRecord]
    public var evaluations: [(jobKey: String, evaluation: EvaluateKind.Evaluation)]
    public var scoreSets: [ScoreSet]
    /// Files the report could not read (shown on the page, never fatal).
    public var problems: [String]
    /// The apod sessions that served the run, and how many stops it was resumed from.
    public var service = RunServiceHistory(sessions: [], runEnd: nil)
    public var generatedAt: Date

    public static func round(ofKey fullKey: String) -> Int? {
        let key = MatrixCell.jobID(ofJobKey: fullKey)  // a matrix copy's `seed=2/r1.…` is in round 1 too
        guard key.hasPrefix("r"), let dot = key.firstIndex(of: ".") else { return nil }
        return Int(key[key.index(after: key.startIndex)..<dot])
    }

    /// The job's step: its id without a matrix cell and a round (`apo_rm` of `seed=2/r1.apo_rm`).
    public static func step(ofKey fullKey: String) -> String {
        let key = MatrixCell.jobID(ofJobKey: fullKey)
        guard round(ofKey: fullKey) != nil, let dot = key.firstIndex(of: ".") else { return key }
        return String(key[key.index(after: dot)...])
    }

    /// One step's CPU time over its copies (`cpuBySteps`).
    struct StepCPU {
        let step: String
        let kind: String
        var jobs: Int
        var seconds: Double
        var wasted: Double
    }

    /// Reads a run; missing or unreadable artifact files become `problems`, not errors.
    public static func load(store: JobStore, runID: Int64, now: Date = Date()) throws -> RunReport {
        guard let run = try store.run(runID) else { throw StoreError.notFound(what: "run", id: runID) }
        let jobs = try store.jobs(runID: runID).map {
            JobEntry(job: $0, attempts: try store.attempts(jobID: $0.id), metrics: try store.metrics(jobID: $0.id))
        }
        let artifacts = try store.artifacts(runID: runID)
        var report = RunReport(run: run, jobs: jobs, artifacts: artifacts, evaluations: [], scoreSets: [],
                               problems: [], generatedAt: now)
        report.service = RunServiceHistory(sessions: try store.daemonSessions(of: run, now: now), runEnd: run.finishedAt)
        for entry in jobs where entry.job.state == .succeeded {
            let outputs = entry.job.outputsJSON.flatMap { try? JSONValue.fromJSON($0) }
            func output(_ name: String) -> String? {
                if case .object(let o)? = outputs { return o[name]?.stringValue }
                return nil
            }
            switch entry.job.kind {
            case EvaluateKind.name:
                guard let path = output("metrics") else { continue }
                do {
                    report.evaluations.append((entry.job.key, try EvaluateKind.Evaluation.read(URL(fileURLWithPath: path))))
                } catch { report.problems.append("\(entry.job.key): \(error)") }
            case "score":
                // The scores file is the score job's only RM-scores artifact; take the first that parses.
                let candidates = artifacts.filter { $0.jobID == entry.job.id }.map(\.path) + [output("scores")].compactMap { $0 }
                for path in candidates {
                    if let scores = try? RMScoresFile.read(URL(fileURLWithPath: path)) {
                        report.scoreSets.append(ScoreSet(jobKey: entry.job.key, round: entry.round, path: path,
                                                         scores: scores.map(\.score)))
                        break
                    }
                }
            default: break
            }
        }
        report.evaluations.sort { ($0.evaluation.round, $0.evaluation.arm, $0.jobKey) < ($1.evaluation.round, $1.evaluation.arm, $1.jobKey) }
        return report
    }
}
