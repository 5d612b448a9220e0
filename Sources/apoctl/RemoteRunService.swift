import APOAPIBodies
import APOPipeline
import APORuntime
import APOStore
import Foundation

/// The run commands through a remote apod's HTTP API (`--server URL`, `server:`): the API's
/// answers turned back into the store's records, so each command prints what it prints against
/// the database.
struct RemoteRunService: RunService {
    let client: APIClient

    var location: String { client.base.absoluteString }

    func runs(limit: Int) throws -> [RunRecord] {
        try client.get([RunBody].self, "api/runs", query: [URLQueryItem(name: "limit", value: String(min(limit, 1000)))])
            .map(\.record)
    }

    func run(_ id: Int64) throws -> RunRecord? {
        try client.getIfFound(RunDetailBody.self, "api/runs/\(id)")?.run.record
    }

    func jobs(runID: Int64) throws -> [JobRecord] {
        guard let detail = try client.getIfFound(RunDetailBody.self, "api/runs/\(runID)") else {
            throw CommandFailure.notFound("run \(runID)")
        }
        return detail.jobs.map(\.record)
    }

    func runDetail(_ id: Int64, now: Date) throws -> RunDetail {
        guard let detail = try client.getIfFound(RunDetailBody.self, "api/runs/\(id)") else {
            throw CommandFailure.notFound("run \(id)")
        }
        return RunDetail(run: detail.run.record, jobs: detail.jobs.map(\.record),
                         daemonSessions: (detail.daemonSessions ?? []).map(\.record))
    }

    func job(_ id: Int64) throws -> JobRecord? {
        try client.getIfFound(JobDetailBody.self, "api/jobs/\(id)")?.job.record
    }

    func logs(runID: Int64, jobID: Int64?, afterID: Int64, limit: Int) throws -> [LogRecord] {
        let path = jobID.map { "api/jobs/\($0)/logs" } ?? "api/runs/\(runID)/logs"
        let query = [URLQueryItem(name: "after", value: String(afterID)),
                     URLQueryItem(name: "limit", value: String(min(max(limit, 1), 10_000)))]
        return try client.get(LogPageBody.self, path, query: query).lines.map { $0.record(runID: runID) }
    }

    func artifacts(runID: Int64) throws -> [ArtifactRecord] {
        let run = try requireRun(runID)
        return try client.get([ArtifactBody].self, "api/runs/\(runID)/artifacts").map { $0.record(run: run) }
    }

    func hosts(now: Date, lostAfter: TimeInterval) throws -> [HostRecord] {
        try client.get([HostRecord].self, "api/hosts").map { host in
            var record = host
            // The server judges with the default threshold; another one is applied here.
            if lostAfter != JobStore.hostLostAfterSeconds {
                record.isLost = now.timeIntervalSince(record.lastHeartbeatAt) > lostAfter
            }
            return record
        }
    }

    func lastDaemonActivity() throws -> Date? {
        try client.get([HostRecord].self, "api/hosts").map(\.lastHeartbeatAt).max()
    }

    func cancelRun(_ id: Int64) throws { try client.post("api/runs/\(id)/cancel") }
    func cancelJob(_ id: Int64) throws { try client.post("api/jobs/\(id)/cancel") }
    func retryJob(_ id: Int64) throws { try client.post("api/jobs/\(id)/retry") }
    func resumeRun(_ id: Int64) throws { try client.post("api/runs/\(id)/resume") }

    /// The file and the preset go to apod, which validates them as `submit` does locally; input
    /// files and relative paths are the server's (apod's working directory), not this machine's.
    func submit(_ request: SubmitRequest) throws -> (runID: Int64, jobCount: Int) {
        let yaml = try Self.read(request.file, what: "pipeline file")
        var query = request.overrides.sorted { $0.key < $1.key }.map { URLQueryItem(name: "param", value: "\($0.key)=\($0.value)") }
        if let artifacts = request.artifacts { query.append(URLQueryItem(name: "artifacts", value: artifacts)) }
        if let preset = request.preset { query.append(URLQueryItem(name: "preset", value: try Self.read(preset, what: "params preset"))) }
        let answer = try client.send("POST", "api/runs", query: query, body: Data(yaml.utf8),
                                     contentType: "application/yaml", allowing: [422])
        if answer.status == 422 {
            let message = (try? JSONDecoder().decode(ErrorBody.self, from: answer.body))?.error ?? "the pipeline is invalid"
            throw CommandFailure(code: .invalidPipeline, message: Self.renamed(message, file: request.file, preset: request.preset))
        }
        let created = try JSONDecoder().decode(CreatedRunBody.self, from: answer.body)
        return (created.run, created.jobs)
    }

    func fetchArtifact(run: RunRecord, relativePath: String, to destination: URL) throws {
        let encoded = relativePath.split(separator: "/").map {
            $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#%"))) ?? String($0)
        }.joined(separator: "/")
        try client.download("runs/\(run.id)/artifacts/\(encoded)", to: destination)
    }

    private static func read(_ path: String, what: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CommandFailure(code: .invalidPipeline, message: "\(path):0:0: error: cannot read \(what): \(error.localizedDescription)")
        }
    }

    /// The server names the body `body` and the preset `preset`; the user knows them by their files.
    static func renamed(_ message: String, file: String, preset: String?) -> String {
        message.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            if line.hasPrefix("body:") { return file + line.dropFirst("body".count) }
            if let preset, line.hasPrefix("preset:") { return preset + line.dropFirst("preset".count) }
            return String(line)
        }.joined(separator: "\n")
    }
}
