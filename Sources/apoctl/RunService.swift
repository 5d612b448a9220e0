import APOStore
import Foundation

/// What apoctl's run commands (submit, runs, history, show, watch, logs, cancel, retry, resume,
/// artifacts, hosts) need from apod's job store: read from the database itself
/// (`DatabaseRunService`, `--db`) or through a remote apod's HTTP API (`RemoteRunService`,
/// `--server`). The commands print from the same records either way, so their output is the same.
protocol RunService {
    /// Where the runs are, as messages name it (a database path, a server URL).
    var location: String { get }

    func runs(limit: Int) throws -> [RunRecord]
    func run(_ id: Int64) throws -> RunRecord?
    func jobs(runID: Int64) throws -> [JobRecord]
    func job(_ id: Int64) throws -> JobRecord?
    func logs(runID: Int64, jobID: Int64?, afterID: Int64, limit: Int) throws -> [LogRecord]
    func artifacts(runID: Int64) throws -> [ArtifactRecord]
    func hosts(now: Date, lostAfter: TimeInterval) throws -> [HostRecord]
    /// A run, its jobs and the apod sessions that served it while it was unfinished (oldest
    /// first), in one read: one request through the API.
    func runDetail(_ id: Int64, now: Date) throws -> RunDetail
    /// When a daemon last showed it was alive (nil: never), for `watch` and `logs -f`'s warning.
    func lastDaemonActivity() throws -> Date?

    func cancelRun(_ id: Int64) throws
    func cancelJob(_ id: Int64) throws
    func retryJob(_ id: Int64) throws
    func resumeRun(_ id: Int64) throws
    /// Validates and queues `request`'s pipeline; a rejected one throws exit 3 with every problem.
    func submit(_ request: SubmitRequest) throws -> (runID: Int64, jobCount: Int)
    /// Copies a recorded artifact (or a file below a recorded directory), named by its path
    /// relative to the run's artifact folder, to `destination`.
    func fetchArtifact(run: RunRecord, relativePath: String, to destination: URL) throws
}

/// `apoctl submit`'s arguments.
struct SubmitRequest {
    var file: String
    var preset: String?
    var overrides: [String: String]
    /// `--artifacts`, else `$APO_ARTIFACTS`.
    var artifacts: String?
}

extension RunService {
    /// The run, or exit 4.
    func requireRun(_ id: Int64) throws -> RunRecord {
        guard let run = try run(id) else { throw CommandFailure.notFound("run \(id)") }
        return run
    }
}

/// What `apoctl show` prints about one run.
struct RunDetail {
    let run: RunRecord
    let jobs: [JobRecord]
    let daemonSessions: [DaemonSession]
}
