import APOPipeline
import APOStore
import Foundation

/// A run as the API shows it (the list and the head of a run's page).
struct RunBody: Encodable {
    let id: Int64
    let pipeline: String
    let pipelineSha256: String
    let state: String
    let params: JSONValue?
    /// Job count per state; states without jobs are absent.
    let jobStates: [String: Int]
    let jobs: Int
    let createdAt: Date
    let finishedAt: Date?
    let durationSeconds: Double
    let artifactRoot: String

    init(_ run: RunRecord, now: Date) {
        id = run.id
        pipeline = run.pipelineName
        pipelineSha256 = run.pipelineHash
        state = run.state.rawValue
        params = JSONValue(text: run.paramsJSON)
        jobStates = Dictionary(uniqueKeysWithValues: run.jobCounts.map { ($0.key.rawValue, $0.value) })
        jobs = run.jobCounts.values.reduce(0, +)
        createdAt = run.createdAt
        finishedAt = run.finishedAt
        durationSeconds = (run.finishedAt ?? now).timeIntervalSince(run.createdAt)
        artifactRoot = run.artifactRoot
    }
}

/// One node of a run's DAG.
struct JobBody: Encodable {
    struct Progress: Encodable {
        let done: Int
        let total: Int
        let message: String?
    }

    let id: Int64
    let runId: Int64
    let key: String
    /// The matrix cell of a job copy (`seed=2`); absent for a job every cell shares.
    let cell: String?
    let kind: String
    let state: String
    let attempts: Int
    let maxAttempts: Int
    let needs: [String]
    let progress: Progress
    let cancelRequested: Bool
    let memoizedFromJobId: Int64?
    let error: String?
    let createdAt: Date
    let startedAt: Date?
    let finishedAt: Date?
    let durationSeconds: Double?
    /// What the job asks of a host (`resources:`), and its outputs once it succeeded: what
    /// `apoctl show` prints (a queued job's wait for a host, `--json` outputs).
    let resources: JSONValue?
    let outputs: JSONValue?

    init(_ job: JobRecord, now: Date) {
        id = job.id
        runId = job.runID
        key = job.key
        cell = MatrixCell.name(ofJobKey: job.key)
        kind = job.kind
        state = job.state.rawValue
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        needs = job.needs
        progress = Progress(done: job.progressDone, total: job.progressTotal, message: job.progressMessage)
        cancelRequested = job.cancelRequested
        memoizedFromJobId = job.memoizedFromJobID
        error = job.error
        createdAt = job.createdAt
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        durationSeconds = job.startedAt.map { (job.finishedAt ?? now).timeIntervalSince($0) }
        resources = JSONValue(text: job.resourcesJSON)
        outputs = JSONValue(text: job.outputsJSON)
    }
}

/// `GET /api/runs/{id}`: the run and its DAG. `edges` repeat `needs` as pairs of job keys
/// (`from` must finish before `to`), the form a graph drawing takes directly.
struct RunDetailBody: Encodable {
    struct Edge: Encodable {
        let from: String
        let to: String
    }

    let run: RunBody
    let jobs: [JobBody]
    let edges: [Edge]

    init(run: RunRecord, jobs: [JobRecord], now: Date) {
        self.run = RunBody(run, now: now)
        self.jobs = jobs.map { JobBody($0, now: now) }
        edges = jobs.flatMap { job in job.needs.map { Edge(from: $0, to: job.key) } }
    }
}
