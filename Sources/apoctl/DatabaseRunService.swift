import APOPipeline
import APORuntime
import APOStore
import Foundation

/// The run commands on the database itself (`--db`, `$APO_DB`, `db:`). Opened at the first
/// call, so `submit` rejects a bad pipeline before a database file is created.
final class DatabaseRunService: RunService {
    private let open: () throws -> JobStore
    private var opened: JobStore?
    /// As given (`--db`), for messages.
    let databasePath: String

    init(databasePath: String, open: @escaping () throws -> JobStore) {
        self.databasePath = databasePath
        self.open = open
    }

    private var store: JobStore {
        get throws {
            if let opened { return opened }
            let store = try open()
            opened = store
            return store
        }
    }

    var location: String { databasePath }

    func runs(limit: Int) throws -> [RunRecord] { try store.runs(limit: limit) }
    func run(_ id: Int64) throws -> RunRecord? { try store.run(id) }
    func jobs(runID: Int64) throws -> [JobRecord] { try store.jobs(runID: runID) }
    func job(_ id: Int64) throws -> JobRecord? { try store.job(id) }
    func artifacts(runID: Int64) throws -> [ArtifactRecord] { try store.artifacts(runID: runID) }
    func lastDaemonActivity() throws -> Date? { try store.lastDaemonActivity() }

    func logs(runID: Int64, jobID: Int64?, afterID: Int64, limit: Int) throws -> [LogRecord] {
        try store.logs(runID: runID, jobID: jobID, afterID: afterID, limit: limit)
    }

    func hosts(now: Date, lostAfter: TimeInterval) throws -> [HostRecord] {
        try storeCall { try store.hosts(now: now, lostAfter: lostAfter) }
    }

    func runDetail(_ id: Int64, now: Date) throws -> RunDetail {
        let run = try requireRun(id)
        return RunDetail(run: run, jobs: try jobs(runID: id), daemonSessions: try storeCall { try store.daemonSessions(of: run, now: now) })
    }

    func cancelRun(_ id: Int64) throws { try storeCall { try store.cancelRun(id, now: Date()) } }
    func cancelJob(_ id: Int64) throws { try storeCall { try store.cancelJob(id, now: Date()) } }
    func retryJob(_ id: Int64) throws { try storeCall { try store.retryJob(id, now: Date()) } }
    func resumeRun(_ id: Int64) throws { try storeCall { try store.resumeRun(id, now: Date()) } }

    func submit(_ request: SubmitRequest) throws -> (runID: Int64, jobCount: Int) {
        // Validated (input files too) before the database is opened: a rejected pipeline leaves
        // no trace, not even a new empty database file.
        let pipeline = try Self.validate(request)
        let base: URL
        do {
            base = try RunSubmission.artifactBase(option: request.artifacts, databasePath: databasePath)
        } catch let missing as ArtifactBaseMissing {
            throw CommandFailure(code: .usage, message: missing.description)
        }
        return try RunSubmission.submit(pipeline, store: try store, artifactBase: base, now: Date())
    }

    private static func validate(_ request: SubmitRequest) throws -> ExpandedPipeline {
        do {
            return try RunSubmission.load(file: request.file, preset: request.preset, overrides: request.overrides)
        } catch let rejected as PipelineRejected {
            throw CommandFailure(code: .invalidPipeline, message: rejected.description)
        }
    }

    func fetchArtifact(run: RunRecord, relativePath: String, to destination: URL) throws {
        let root = URL(fileURLWithPath: run.artifactRoot).standardizedFileURL
        let file = root.appendingPathComponent(relativePath).standardizedFileURL
        let missing = CommandFailure.notFound("artifact '\(relativePath)' of run \(run.id)")
        // As apod serves them: a recorded file, or a file below a recorded directory, never
        // another file of the run folder.
        let covered = try store.artifacts(runID: run.id).contains { artifact in
            let recorded = URL(fileURLWithPath: artifact.path).standardizedFileURL.path
            switch artifact.type {
            case .file: return recorded == file.path
            case .directory: return file.path.hasPrefix(recorded + "/")
            }
        }
        var isDirectory: ObjCBool = false
        guard covered, file.path.hasPrefix(root.path + "/"),
              FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue
        else { throw missing }
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(at: file, to: destination)
    }

    /// A store call, with "not found" as exit 4.
    private func storeCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            if case .notFound(let what, let id) = error { throw CommandFailure.notFound("\(what) \(id)") }
            throw CommandFailure(code: .runFailed, message: "error: \(error)")
        }
    }
}
