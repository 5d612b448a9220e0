import Foundation

/// The life cycle of one job. Each case says who moves a job into it and out of it.
public enum JobState: String, Codable, CaseIterable, Sendable {
    /// Waiting for dependencies. In: `createRun`, `retryJob`, `resumeRun`. Out: the store moves it
    /// to `queued` in the transaction that completes its last unfinished dependency; to
    /// `upstream_failed` when a dependency fails or is cancelled; to `cancelled` by the user.
    case blocked
    /// Ready to run; a worker may claim it once `notBefore` (retry backoff) has passed.
    /// Out: `running` by a worker's claim; `cancelled` by the user.
    case queued
    /// Claimed by a worker holding a lease. Out: the lease holder completes, fails, releases or
    /// acknowledges a cancel; the reaper requeues or fails it when the lease expires.
    case running
    /// Finished with outputs (possibly reused from a memoized job). Terminal.
    case succeeded
    /// Attempts exhausted or a non-retryable error. Out: `retryJob` / `resumeRun` by the user.
    case failed
    /// Cancelled by the user. Out: `retryJob` / `resumeRun` by the user.
    case cancelled
    /// A dependency failed or was cancelled, so this job cannot run.
    /// Out: back to `blocked` when the failed dependency is retried or the run resumed.
    case upstreamFailed = "upstream_failed"

    /// States a job may still leave without the user acting.
    public var isActive: Bool { self == .blocked || self == .queued || self == .running }
    /// States `retryJob` and `resumeRun` start again from.
    public var isRetryable: Bool { self == .failed || self == .cancelled || self == .upstreamFailed }
}

// Lets `[JobState: Int]` (a run's job counts) encode as a JSON object keyed by state name.
extension JobState: CodingKeyRepresentable {}

/// A run's state, derived from its jobs: running while any job is blocked, queued or running;
/// otherwise failed if any job failed, cancelled if any was cancelled, failed if any is
/// upstream_failed, else succeeded.
public enum RunState: String, Codable, CaseIterable, Sendable {
    case running, succeeded, failed, cancelled
}

/// One job of a run to be created; `needs` names other jobs of the same run by `key`.
public struct NewJob: Sendable {
    public var key: String
    public var kind: String
    public var kindVersion: Int
    public var paramsJSON: String
    public var needs: [String]
    public var priority: Int
    public var maxAttempts: Int
    public var backoffBaseSeconds: Double
    public var backoffMaxSeconds: Double
    public var timeoutSeconds: Double?
    public var resourcesJSON: String
    public var memoize: Bool

    public init(key: String, kind: String, kindVersion: Int = 1, paramsJSON: String = "{}",
                needs: [String] = [], priority: Int = 0, maxAttempts: Int = 3,
                backoffBaseSeconds: Double = 1, backoffMaxSeconds: Double = 300,
                timeoutSeconds: Double? = nil, resourcesJSON: String = "{}", memoize: Bool = true) {
        self.key = key
        self.kind = kind
        self.kindVersion = kindVersion
        self.paramsJSON = paramsJSON
        self.needs = needs
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.backoffBaseSeconds = backoffBaseSeconds
        self.backoffMaxSeconds = backoffMaxSeconds
        self.timeoutSeconds = timeoutSeconds
        self.resourcesJSON = resourcesJSON
        self.memoize = memoize
    }
}

/// A pipeline submission: the YAML it came from (deduplicated by hash) and its concrete DAG.
public struct NewRun: Sendable {
    public var pipelineName: String
    public var pipelineYAML: String
    public var pipelineHash: String
    public var paramsJSON: String
    public var artifactRoot: String
    public var jobs: [NewJob]

    public init(pipelineName: String, pipelineYAML: String, pipelineHash: String,
                paramsJSON: String = "{}", artifactRoot: String, jobs: [NewJob]) {
        self.pipelineName = pipelineName
        self.pipelineYAML = pipelineYAML
        self.pipelineHash = pipelineHash
        self.paramsJSON = paramsJSON
        self.artifactRoot = artifactRoot
        self.jobs = jobs
    }
}

/// A stored run; `state` is kept consistent with its jobs by every store transition.
public struct RunRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var pipelineID: Int64
    public var pipelineName: String
    public var pipelineHash: String
    public var state: RunState
    public var paramsJSON: String
    public var artifactRoot: String
    public var createdAt: Date
    public var finishedAt: Date?
    /// Job count per state (states with no jobs are absent).
    public var jobCounts: [JobState: Int]
    /// Public: apoctl rebuilds records from apod's HTTP API answers.
    public init(id: Int64, pipelineID: Int64, pipelineName: String, pipelineHash: String, state: RunState,
                paramsJSON: String, artifactRoot: String, createdAt: Date, finishedAt: Date?,
                jobCounts: [JobState: Int]) {
        self.id = id
        self.pipelineID = pipelineID
        self.pipelineName = pipelineName
        self.pipelineHash = pipelineHash
        self.state = state
        self.paramsJSON = paramsJSON
        self.artifactRoot = artifactRoot
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.jobCounts = jobCounts
    }
}

/// A stored job. `attempts` counts attempts started so far (released ones given back).
public struct JobRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var runID: Int64
    public var key: String
    public var kind: String
    public var kindVersion: Int
    public var paramsJSON: String
    public var state: JobState
    public var priority: Int
    public var resourcesJSON: String
    public var attempts: Int
    public var maxAttempts: Int
    public var backoffBaseSeconds: Double
    public var backoffMaxSeconds: Double
    public var timeoutSeconds: Double?
    public var notBefore: Date?
    public var memoize: Bool
    public var outputsJSON: String?
    public var memoKey: String?
    public var memoizedFromJobID: Int64?
    public var error: String?
    public var cancelRequested: Bool
    public var progressDone: Int
    public var progressTotal: Int
    public var progressMessage: String?
    /// The worker holding the current lease, while running.
    public var leaseWorkerID: String?
    public var leaseExpiresAt: Date?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Keys of the jobs this one needs, sorted.
    public var needs: [String]
    /// CPU seconds its attempts spent, summed over those that recorded them (nil: none did).
    public var cpuSeconds: Double?
    /// Public: apoctl rebuilds records from apod's HTTP API answers.
    public init(id: Int64, runID: Int64, key: String, kind: String, kindVersion: Int, paramsJSON: String,
                state: JobState, priority: Int, resourcesJSON: String, attempts: Int, maxAttempts: Int,
                backoffBaseSeconds: Double, backoffMaxSeconds: Double, timeoutSeconds: Double?,
                notBefore: Date?, memoize: Bool, outputsJSON: String?, memoKey: String?,
                memoizedFromJobID: Int64?, error: String?, cancelRequested: Bool, progressDone: Int,
                progressTotal: Int, progressMessage: String?, leaseWorkerID: String?, leaseExpiresAt: Date?,
                createdAt: Date, startedAt: Date?, finishedAt: Date?, needs: [String], cpuSeconds: Double? = nil) {
        self.id = id
        self.runID = runID
        self.key = key
        self.kind = kind
        self.kindVersion = kindVersion
        self.paramsJSON = paramsJSON
        self.state = state
        self.priority = priority
        self.resourcesJSON = resourcesJSON
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.backoffBaseSeconds = backoffBaseSeconds
        self.backoffMaxSeconds = backoffMaxSeconds
        self.timeoutSeconds = timeoutSeconds
        self.notBefore = notBefore
        self.memoize = memoize
        self.outputsJSON = outputsJSON
        self.memoKey = memoKey
        self.memoizedFromJobID = memoizedFromJobID
        self.error = error
        self.cancelRequested = cancelRequested
        self.progressDone = progressDone
        self.progressTotal = progressTotal
        self.progressMessage = progressMessage
        self.leaseWorkerID = leaseWorkerID
        self.leaseExpiresAt = leaseExpiresAt
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.needs = needs
        self.cpuSeconds = cpuSeconds
    }
}

/// One claim of a job by a worker; `outcome` is nil while the attempt is still live.
public struct AttemptRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var jobID: Int64
    public var number: Int
    public var workerID: String
    public var leaseToken: String
    public var startedAt: Date
    public var lastHeartbeatAt: Date?
    public var leaseExpiresAt: Date
    public var finishedAt: Date?
    /// "succeeded", "memoized", "failed", "expired", "timed_out", "released" or "cancelled".
    public var outcome: String?
    public var error: String?
    /// The compute path the worker resolved for this attempt (nil: a kind without compute).
    public var computePath: String? = nil
    /// CPU seconds (user + system) the worker process spent on the attempt's job; nil when it
    /// ran nothing (memoized) or ended without saying (killed, lease lost).
    public var cpuSeconds: Double? = nil
}

/// The right to run one job: valid while `expiresAt > now`; renewed only by its owner (token match).
public struct JobLease: Codable, Equatable, Hashable, Sendable {
    public var jobID: Int64
    public var attemptID: Int64
    /// Random fencing token; every worker update must carry it.
    public var token: String
    public var workerID: String
    public var expiresAt: Date

    public init(jobID: Int64, attemptID: Int64, token: String, workerID: String, expiresAt: Date) {
        self.jobID = jobID
        self.attemptID = attemptID
        self.token = token
        self.workerID = workerID
        self.expiresAt = expiresAt
    }

    public func isExpired(at now: Date) -> Bool { expiresAt <= now }
}

/// A job a worker now owns, with the outputs of the jobs it needs (all succeeded).
public struct ClaimedJob: Sendable {
    public var job: JobRecord
    public var lease: JobLease
    /// Dependency key → that job's outputs JSON.
    public var dependencyOutputs: [String: String]
}

/// What a worker learns when it declares the memo key of the job it has just claimed
/// (`JobStore.declareMemoKey`).
public enum MemoKeyDeclaration: Equatable, Sendable {
    /// No live running job has the key: run the job (or reuse a finished one's outputs).
    case declared
    /// Job `forJobID` is running the same work: the job went back to the queue to wait for it.
    case waiting(forJobID: Int64)
}

/// What a heartbeat tells the worker.
public enum HeartbeatReply: Equatable, Sendable {
    case keepGoing
    /// The user cancelled the job: stop, then call `finishCancelled`.
    case cancelRequested
}

/// One captured output line of a job.
public struct LogRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var runID: Int64
    public var jobID: Int64
    public var jobKey: String
    public var attemptID: Int64?
    public var stream: String
    public var line: String
    public var loggedAt: Date
    /// Public: apoctl rebuilds records from apod's HTTP API answers.
    public init(id: Int64, runID: Int64, jobID: Int64, jobKey: String, attemptID: Int64?, stream: String,
                line: String, loggedAt: Date) {
        self.id = id
        self.runID = runID
        self.jobID = jobID
        self.jobKey = jobKey
        self.attemptID = attemptID
        self.stream = stream
        self.line = line
        self.loggedAt = loggedAt
    }
}

/// What an artifact row points at; mirrors the `artifacts.type` CHECK in Migrations/.
public enum ArtifactType: String, Codable, Sendable {
    case file
    /// A directory committed as a whole (a trained model); sha256 and size cover all its files.
    case directory
}

/// A file or directory a job produced, already in its final place.
public struct ArtifactRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var runID: Int64
    public var jobID: Int64
    public var jobKey: String
    public var name: String
    public var path: String
    public var type: ArtifactType
    public var sha256: String
    public var size: Int64
    public var createdAt: Date
    /// Public: apoctl rebuilds records from apod's HTTP API answers.
    public init(id: Int64, runID: Int64, jobID: Int64, jobKey: String, name: String, path: String,
                type: ArtifactType, sha256: String, size: Int64, createdAt: Date) {
        self.id = id
        self.runID = runID
        self.jobID = jobID
        self.jobKey = jobKey
        self.name = name
        self.path = path
        self.type = type
        self.sha256 = sha256
        self.size = size
        self.createdAt = createdAt
    }
}

/// One scalar a job reported at a step (a loss, an accuracy, ...).
public struct MetricRecord: Codable, Equatable, Sendable {
    public var id: Int64
    public var jobID: Int64
    public var step: Int
    public var name: String
    public var value: Double
    public var recordedAt: Date
}
