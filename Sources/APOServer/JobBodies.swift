import APOStore
import Foundation

/// `GET /api/jobs/{id}`: everything about one job.
struct JobDetailBody: Encodable {
    struct Attempt: Encodable {
        let id: Int64
        let number: Int
        let worker: String
        let startedAt: Date
        let lastHeartbeatAt: Date?
        let finishedAt: Date?
        let outcome: String?
        let error: String?
        let computePath: String?

        init(_ attempt: AttemptRecord) {
            id = attempt.id
            number = attempt.number
            worker = attempt.workerID
            startedAt = attempt.startedAt
            lastHeartbeatAt = attempt.lastHeartbeatAt
            finishedAt = attempt.finishedAt
            outcome = attempt.outcome
            error = attempt.error
            computePath = attempt.computePath
        }
    }

    struct MetricPoint: Encodable {
        let step: Int
        let value: Double
        let at: Date
    }

    let job: JobBody
    let params: JSONValue?
    let resources: JSONValue?
    let outputs: JSONValue?
    let attempts: [Attempt]
    /// One series per metric name, in step order.
    let metrics: [String: [MetricPoint]]
    let artifacts: [ArtifactBody]

    init(job: JobRecord, attempts: [AttemptRecord], metrics: [MetricRecord], artifacts: [ArtifactBody], now: Date) {
        self.job = JobBody(job, now: now)
        params = JSONValue(text: job.paramsJSON)
        resources = JSONValue(text: job.resourcesJSON)
        outputs = JSONValue(text: job.outputsJSON)
        self.attempts = attempts.map(Attempt.init)
        self.metrics = Dictionary(grouping: metrics, by: \.name).mapValues { series in
            series.map { MetricPoint(step: $0.step, value: $0.value, at: $0.recordedAt) }
        }
        self.artifacts = artifacts
    }
}

/// One artifact, with the URL that downloads it (a directory's files are under its URL).
struct ArtifactBody: Encodable {
    let jobId: Int64
    let job: String
    let name: String
    let type: String
    let sha256: String
    let size: Int64
    /// Relative to the run's artifact folder.
    let path: String
    let url: String
    let createdAt: Date

    init(_ artifact: ArtifactRecord, run: RunRecord) {
        jobId = artifact.jobID
        job = artifact.jobKey
        name = artifact.name
        type = artifact.type.rawValue
        sha256 = artifact.sha256
        size = artifact.size
        path = ArtifactPaths.relative(artifact.path, to: run.artifactRoot) ?? artifact.path
        url = "/runs/\(run.id)/artifacts/" + ArtifactPaths.urlEncoded(path)
        createdAt = artifact.createdAt
    }
}
