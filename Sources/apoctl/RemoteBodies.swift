import APOPipeline
import APORuntime
import APOStore
import Foundation

// The API's JSON (deploy/openapi.yaml) read back into the store's records. Fields the API does
// not carry are given neutral values; no command prints them.

struct RemoteRun: Decodable {
    let id: Int64
    let pipeline: String
    let pipelineSha256: String
    let state: String
    let jobStates: [String: Int]
    let createdAt: Date
    let finishedAt: Date?
    let artifactRoot: String

    var record: RunRecord {
        var counts: [JobState: Int] = [:]
        for (state, count) in jobStates { if let state = JobState(rawValue: state) { counts[state] = count } }
        return RunRecord(id: id, pipelineID: 0, pipelineName: pipeline, pipelineHash: pipelineSha256,
                         state: RunState(rawValue: state) ?? .running, paramsJSON: "{}", artifactRoot: artifactRoot,
                         createdAt: createdAt, finishedAt: finishedAt, jobCounts: counts)
    }
}

struct RemoteJob: Decodable {
    struct Progress: Decodable {
        let done: Int
        let total: Int
        let message: String?
    }

    let id: Int64
    let runId: Int64
    let key: String
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
    let resources: ParamValue?
    let outputs: ParamValue?

    var record: JobRecord {
        JobRecord(id: id, runID: runId, key: key, kind: kind, kindVersion: 0, paramsJSON: "{}",
                  state: JobState(rawValue: state) ?? .blocked, priority: 0,
                  resourcesJSON: resources.flatMap { try? MemoKey.canonicalJSON($0) } ?? "{}",
                  attempts: attempts, maxAttempts: maxAttempts, backoffBaseSeconds: 0, backoffMaxSeconds: 0,
                  timeoutSeconds: nil, notBefore: nil, memoize: false,
                  // The worker stored them in this same canonical form.
                  outputsJSON: outputs.flatMap { try? MemoKey.canonicalJSON($0) },
                  memoKey: nil, memoizedFromJobID: memoizedFromJobId, error: error, cancelRequested: cancelRequested,
                  progressDone: progress.done, progressTotal: progress.total, progressMessage: progress.message,
                  leaseWorkerID: nil, leaseExpiresAt: nil, createdAt: createdAt, startedAt: startedAt,
                  finishedAt: finishedAt, needs: needs)
    }
}

struct RemoteRunDetail: Decodable {
    let run: RemoteRun
    let jobs: [RemoteJob]
}

struct RemoteJobDetail: Decodable {
    let job: RemoteJob
}

struct RemoteLogPage: Decodable {
    struct Line: Decodable {
        let id: Int64
        let jobId: Int64
        let job: String
        let stream: String
        let line: String
        let at: Date
    }

    let lines: [Line]
}

struct RemoteArtifact: Decodable {
    let jobId: Int64
    let job: String
    let name: String
    let type: String
    let sha256: String
    let size: Int64
    /// Relative to the run's artifact folder (absolute when it lies outside it).
    let path: String
    let createdAt: Date

    func record(run: RunRecord) -> ArtifactRecord {
        let full = path.hasPrefix("/") ? path : URL(fileURLWithPath: run.artifactRoot).appendingPathComponent(path).path
        return ArtifactRecord(id: 0, runID: run.id, jobID: jobId, jobKey: job, name: name, path: full,
                              type: ArtifactType(rawValue: type) ?? .file, sha256: sha256, size: size, createdAt: createdAt)
    }
}

struct RemoteHost: Decodable {
    let name: String
    let state: String
    let daemons: Int
    let workers: Int
    let threads: Int?
    let memoryMB: Int?
    let labels: [String: String]
    let lastHeartbeatAt: Date
    let runningJobs: Int

    var record: HostRecord {
        HostRecord(name: name, daemons: daemons, workers: workers, threads: threads, memoryMB: memoryMB, labels: labels,
                   lastHeartbeatAt: lastHeartbeatAt, runningJobs: runningJobs, isLost: state == "lost")
    }
}
