import APOJSON
import APOStore
import Foundation

/// `GET /api/jobs/{id}`: everything about one job.
public struct JobDetailBody: Codable, Sendable {
    public struct Attempt: Codable, Sendable {
        public let id: Int64
        public let number: Int
        public let worker: String
        public let startedAt: Date
        public let lastHeartbeatAt: Date?
        public let finishedAt: Date?
        public let outcome: String?
        public let error: String?
        public let computePath: String?
        public let cpuSeconds: Double?

        public init(_ attempt: AttemptRecord) {
            id = attempt.id
            number = attempt.number
            worker = attempt.workerID
            startedAt = attempt.startedAt
            lastHeartbeatAt = attempt.lastHeartbeatAt
            finishedAt = attempt.finishedAt
            outcome = attempt.outcome
            error = attempt.error
            computePath = attempt.computePath
            cpuSeconds = attempt.cpuSeconds
        }
    }

    public struct MetricPoint: Codable, Sendable {
        public let step: Int
        public let value: Double
        public let at: Date
    }

    public let job: JobBody
    public let params: JSONValue?
    public let resources: JSONValue?
    public let outputs: JSONValue?
    public let attempts: [Attempt]
    /// One series per metric name, in step order.
    public let metrics: [String: [MetricPoint]]
    public let artifacts: [ArtifactBody]

    public init(job: JobRecord, cell: String?, attempts: [AttemptRecord], metrics: [MetricRecord],
                artifacts: [ArtifactBody], now: Date) {
        self.job = JobBody(job, cell: cell, now: now)
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
public struct ArtifactBody: Codable, Sendable {
    public let jobId: Int64
    public let job: String
    public let name: String
    public let type: String
    public let sha256: String
    public let size: Int64
    /// Relative to the run's artifact folder (absolute when it lies outside it).
    public let path: String
    public let url: String
    public let createdAt: Date

    /// - Parameters:
    ///   - path: the artifact's path relative to the run's folder.
    ///   - url: where the API serves it.
    public init(_ artifact: ArtifactRecord, path: String, url: String) {
        jobId = artifact.jobID
        job = artifact.jobKey
        name = artifact.name
        type = artifact.type.rawValue
        sha256 = artifact.sha256
        size = artifact.size
        self.path = path
        self.url = url
        createdAt = artifact.createdAt
    }

    public func record(run: RunRecord) -> ArtifactRecord {
        let full = path.hasPrefix("/") ? path : URL(fileURLWithPath: run.artifactRoot).appendingPathComponent(path).path
        return ArtifactRecord(id: 0, runID: run.id, jobID: jobId, jobKey: job, name: name, path: full,
                              type: ArtifactType(rawValue: type) ?? .file, sha256: sha256, size: size, createdAt: createdAt)
    }
}
