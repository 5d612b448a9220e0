import APOStore
import Foundation

/// One log line of `GET /api/runs/{id}/logs` and `/api/jobs/{id}/logs` (and of their event streams).
public struct LogLineBody: Codable, Sendable {
    public let id: Int64
    public let jobId: Int64
    public let job: String
    public let stream: String
    public let line: String
    public let at: Date

    public init(_ record: LogRecord) {
        id = record.id
        jobId = record.jobID
        job = record.jobKey
        stream = record.stream
        line = record.line
        at = record.loggedAt
    }

    public func record(runID: Int64) -> LogRecord {
        LogRecord(id: id, runID: runID, jobID: jobId, jobKey: job, attemptID: nil, stream: stream, line: line, loggedAt: at)
    }
}

/// A page of log lines.
public struct LogPageBody: Codable, Sendable {
    public let lines: [LogLineBody]
    /// The `after` to ask with for the next page (the last line's id, or the `after` given).
    public let next: Int64
    /// The run's state when the page was read; no new lines come once it is not `running`.
    public let runState: String

    public init(lines: [LogLineBody], next: Int64, runState: String) {
        self.lines = lines
        self.next = next
        self.runState = runState
    }
}
