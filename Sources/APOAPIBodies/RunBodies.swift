import APOJSON
import APOStore
import Foundation

// The API's JSON (deploy/openapi.yaml), written once: apod encodes these bodies from the store's
// records, `apoctl --server` decodes them back into records, so each command prints the same
// thing against a server as against the database. Fields the API does not carry come back as
// neutral values no command prints.

/// A run as the API shows it (the list and the head of a run's page).
public struct RunBody: Codable, Sendable {
    public let id: Int64
    public let pipeline: String
    public let pipelineSha256: String
    public let state: String
    public let params: JSONValue?
    /// Job count per state; states without jobs are absent.
    public let jobStates: [String: Int]
    public let jobs: Int
    public let createdAt: Date
    public let finishedAt: Date?
    public let durationSeconds: Double
    public let artifactRoot: String

    public init(_ run: RunRecord, now: Date) {
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

    public var record: RunRecord {
        var counts: [JobState: Int] = [:]
        for (state, count) in jobStates { if let state = JobState(rawValue: state) { counts[state] = count } }
        return RunRecord(id: id, pipelineID: 0, pipelineName: pipeline, pipelineHash: pipelineSha256,
                         state: RunState(rawValue: state) ?? .running, paramsJSON: params?.canonicalText ?? "{}",
                         artifactRoot: artifactRoot, createdAt: createdAt, finishedAt: finishedAt, jobCounts: counts)
    }
}

/// One node of a run's DAG.
public struct JobBody: Codable, Sendable {
    public struct Progress: Codable, Sendable {
        public let done: Int
        public let total: Int
        public let message: String?
    }

    public let id: Int64
    public let runId: Int64
    public let key: String
    /// The matrix cell of a job copy (`seed=2`); absent for a job every cell shares.
    public let cell: String?
    public let kind: String
    public let state: String
    public let attempts: Int
    public let maxAttempts: Int
    public let needs: [String]
    public let progress: Progress
    public let cancelRequested: Bool
    public let memoizedFromJobId: Int64?
    public let error: String?
    public let createdAt: Date
    public let startedAt: Date?
    public let finishedAt: Date?
    public let durationSeconds: Double?
    /// CPU seconds its attempts spent (absent: none recorded any).
    public let cpuSeconds: Double?
    /// What the job asks of a host (`resources:`), and its outputs once it succeeded: what
    /// `apoctl show` prints (a queued job's wait for a host, `--json` outputs).
    public let resources: JSONValue?
    public let outputs: JSONValue?

    /// - Parameter cell: the matrix cell the job's key names (`MatrixCell.name(ofJobKey:)`).
    public init(_ job: JobRecord, cell: String?, now: Date) {
        id = job.id
        runId = job.runID
        key = job.key
        self.cell = cell
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
        cpuSeconds = job.cpuSeconds
        resources = JSONValue(text: job.resourcesJSON)
        outputs = JSONValue(text: job.outputsJSON)
    }

    public var record: JobRecord {
        JobRecord(id: id, runID: runId, key: key, kind: kind, kindVersion: 0, paramsJSON: "{}",
                  state: JobState(rawValue: state) ?? .blocked, priority: 0,
                  resourcesJSON: resources?.canonicalText ?? "{}",
                  attempts: attempts, maxAttempts: maxAttempts, backoffBaseSeconds: 0, backoffMaxSeconds: 0,
                  timeoutSeconds: nil, notBefore: nil, memoize: false,
                  // The worker stored them in this same canonical form.
                  outputsJSON: outputs?.canonicalText,
                  memoKey: nil, memoizedFromJobID: memoizedFromJobId, error: error, cancelRequested: cancelRequested,
                  progressDone: progress.done, progressTotal: progress.total, progressMessage: progress.message,
                  leaseWorkerID: nil, leaseExpiresAt: nil, createdAt: createdAt, startedAt: startedAt,
                  finishedAt: finishedAt, needs: needs, cpuSeconds: cpuSeconds)
    }
}

/// `GET /api/runs/{id}`: the run and its DAG. `edges` repeat `needs` as pairs of job keys
/// (`from` must finish before `to`), the form a graph drawing takes directly.
public struct RunDetailBody: Codable, Sendable {
    public struct Edge: Codable, Sendable {
        public let from: String
        public let to: String
    }

    /// An apod process that served the database while the run was unfinished.
    public struct DaemonSessionBody: Codable, Sendable {
        public let daemon: String
        public let host: String
        public let startedAt: Date
        public let lastHeartbeatAt: Date
        public let stoppedAt: Date?
        /// "alive", "stopped" (cleanly) or "lost".
        public let state: String

        public init(_ session: DaemonSession) {
            daemon = session.daemon
            host = session.host
            startedAt = session.startedAt
            lastHeartbeatAt = session.lastHeartbeatAt
            stoppedAt = session.stoppedAt
            state = session.stoppedAt != nil ? "stopped" : session.isLost ? "lost" : "alive"
        }

        public var record: DaemonSession {
            DaemonSession(daemon: daemon, host: host, startedAt: startedAt, lastHeartbeatAt: lastHeartbeatAt,
                          stoppedAt: stoppedAt, isLost: state == "lost")
        }
    }

    /// Sessions that ended before the run did (`RunServiceHistory`): stops it resumed from.
    public struct Interruptions: Codable, Sendable {
        public let clean: Int
        public let lost: Int
    }

    public let run: RunBody
    public let jobs: [JobBody]
    public let edges: [Edge]
    /// Oldest first; absent from servers older than the field.
    public let daemonSessions: [DaemonSessionBody]?
    public let interruptions: Interruptions?

    /// - Parameter cell: each job key's matrix cell.
    public init(run: RunRecord, jobs: [JobRecord], daemonSessions: [DaemonSession], now: Date, cell: (String) -> String?) {
        self.run = RunBody(run, now: now)
        self.jobs = jobs.map { JobBody($0, cell: cell($0.key), now: now) }
        edges = jobs.flatMap { job in job.needs.map { Edge(from: $0, to: job.key) } }
        self.daemonSessions = daemonSessions.map(DaemonSessionBody.init)
        let history = RunServiceHistory(sessions: daemonSessions, runEnd: run.finishedAt)
        interruptions = Interruptions(clean: history.interruptions.clean, lost: history.interruptions.lost)
    }
}
