import Foundation

// MARK: - Facts for apod's Prometheus exporter (`GET /metrics`)

/// One attempt (one claim of a job by a worker, on any host), with what the exporter derives
/// its counters and histograms from. Times are store seconds: only their differences are used.
public struct AttemptFacts: Equatable, Sendable {
    public var id: Int64
    public var kind: String
    /// 1 for a job's first claim; more for a retry (after a failure, an expired lease, a resume).
    public var number: Int
    public var startedAt: Double
    public var finishedAt: Double?
    /// "succeeded", "memoized", "failed", "expired", "timed_out", "released", "cancelled"; nil while live.
    public var outcome: String?
    /// When the job became claimable: its last dependency's finish, or its creation when it has none.
    public var readyAt: Double
}

/// The newest value of one training metric of a running job.
public struct RunningJobMetric: Equatable, Sendable {
    public var runID: Int64
    public var jobID: Int64
    public var jobKey: String
    public var kind: String
    public var name: String
    public var value: Double
}

extension JobStore {
    /// Job count per (kind, state) over every run in the database.
    public func jobCountsByKindAndState() throws -> [(kind: String, state: JobState, count: Int)] {
        try driver.read { db in
            try db.fetchAll("SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state").map { row in
                let kind: String = row["kind"], state: String = row["state"], count: Int = row["n"]
                return (kind: kind, state: Self.jobState(state), count: count)
            }
        }
    }

    /// Attempts with id ≥ `fromID`, in id order, at most `limit`. Attempt rows are never updated
    /// once finished and only deleted with their run, so an exporter that remembers which ids it
    /// has counted gets counters that only grow, whichever host's worker made the claim.
    public func attemptFacts(fromID: Int64, limit: Int) throws -> [AttemptFacts] {
        try driver.read { db in
            try db.fetchAll("""
                SELECT a.id, a.number, a.started_at, a.finished_at, a.outcome, j.kind,
                       COALESCE((SELECT MAX(d.finished_at) FROM job_dependencies jd JOIN jobs d ON d.id = jd.depends_on_job_id
                                 WHERE jd.job_id = a.job_id), j.created_at) AS ready_at
                FROM attempts a JOIN jobs j ON j.id = a.job_id
                WHERE a.id >= ? ORDER BY a.id LIMIT ?
                """, [fromID, limit]).map { row in
                AttemptFacts(id: row["id"], kind: row["kind"], number: row["number"], startedAt: row["started_at"],
                             finishedAt: row["finished_at"], outcome: row["outcome"], readyAt: row["ready_at"])
            }
        }
    }

    /// The newest value (highest step) of each metric in `names` of every running job.
    public func runningJobMetrics(names: [String]) throws -> [RunningJobMetric] {
        guard !names.isEmpty else { return [] }
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        return try driver.read { db in
            try db.fetchAll("""
                SELECT j.run_id, j.id AS job_id, j.key, j.kind, m.name, m.value
                FROM jobs j JOIN metrics m ON m.job_id = j.id
                WHERE j.state = 'running' AND m.name IN (\(placeholders))
                  AND m.id = (SELECT m2.id FROM metrics m2 WHERE m2.job_id = m.job_id AND m2.name = m.name
                              ORDER BY m2.step DESC, m2.id DESC LIMIT 1)
                ORDER BY j.id, m.name
                """, names).map { row in
                RunningJobMetric(runID: row["run_id"], jobID: row["job_id"], jobKey: row["key"], kind: row["kind"],
                                 name: row["name"], value: row["value"])
            }
        }
    }
}
