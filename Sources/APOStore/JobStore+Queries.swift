import Foundation

// MARK: - Queries (for apoctl)

extension JobStore {
    /// The latest runs, newest first.
    public func runs(limit: Int) throws -> [RunRecord] {
        try driver.read { db in
            try Self.fetchRuns(db, whereSQL: "1 = 1", arguments: [], limit: limit)
        }
    }

    /// The latest runs in `state` and of the pipeline named `pipelineName` (nil: any), newest
    /// first; the filters apply before the limit.
    public func runs(limit: Int, state: RunState?, pipelineName: String?) throws -> [RunRecord] {
        var clauses = ["1 = 1"]
        var arguments: [any SQLBindable] = []
        if let state {
            clauses.append("r.state = ?")
            arguments.append(state.rawValue)
        }
        if let pipelineName {
            clauses.append("p.name = ?")
            arguments.append(pipelineName)
        }
        return try driver.read { db in
            try Self.fetchRuns(db, whereSQL: clauses.joined(separator: " AND "), arguments: arguments, limit: limit)
        }
    }

    public func run(_ id: Int64) throws -> RunRecord? {
        try driver.read { db in
            try Self.fetchRuns(db, whereSQL: "r.id = ?", arguments: [id], limit: 1).first
        }
    }

    /// The run's jobs in id order (which is a dependency-first order).
    public func jobs(runID: Int64) throws -> [JobRecord] {
        try driver.read { db in
            let needs = try Self.needsByJob(db, runID: runID)
            return try db.fetchAll("\(Self.jobWithCPUSQL) WHERE j.run_id = ? ORDER BY j.id", [runID])
                .map { Self.decodeJob($0, needs: needs[$0["id"]] ?? []) }
        }
    }

    public func job(_ id: Int64) throws -> JobRecord? {
        try driver.read { db in try Self.fetchJob(db, id) }
    }

    /// The job of a run with pipeline key `key` (e.g. "r2.train_rm").
    public func job(runID: Int64, key: String) throws -> JobRecord? {
        try driver.read { db in
            guard let id = try db.fetchValue(Int64.self, "SELECT id FROM jobs WHERE run_id = ? AND key = ?", [runID, key])
            else { return nil }
            return try Self.fetchJob(db, id)
        }
    }

    public func attempts(jobID: Int64) throws -> [AttemptRecord] {
        try driver.read { db in
            try db.fetchAll("SELECT * FROM attempts WHERE job_id = ? ORDER BY number", [jobID]).map(Self.decodeAttempt)
        }
    }

    /// Log lines of a run (or of one of its jobs) with id greater than `afterID`, oldest first;
    /// pass the last id seen to follow a log.
    public func logs(runID: Int64, jobID: Int64?, afterID: Int64, limit: Int) throws -> [LogRecord] {
        try driver.read { db in
            let filter = jobID == nil ? "l.run_id = ?" : "l.job_id = ? AND l.run_id = ?"
            let arguments: [any SQLBindable] = jobID.map { [$0, runID] } ?? [runID]
            return try db.fetchAll("""
                SELECT l.*, j.key FROM log_lines l JOIN jobs j ON j.id = l.job_id
                WHERE \(filter) AND l.id > ? ORDER BY l.id LIMIT ?
                """, arguments + [afterID, limit]).map { row in
                LogRecord(id: row["id"], runID: row["run_id"], jobID: row["job_id"],
                          jobKey: row["key"], attemptID: row["attempt_id"], stream: row["stream"],
                          line: row["line"], loggedAt: Date(timeIntervalSince1970: row["logged_at"]))
            }
        }
    }

    public func artifacts(runID: Int64) throws -> [ArtifactRecord] {
        try driver.read { db in
            try db.fetchAll("""
                SELECT a.*, j.run_id, j.key FROM artifacts a JOIN jobs j ON j.id = a.job_id
                WHERE j.run_id = ? ORDER BY a.job_id, a.name
                """, [runID]).map(Self.decodeArtifact)
        }
    }

    /// An artifact row joined with its job's `run_id` and `key`.
    static func decodeArtifact(_ row: SQLRow) -> ArtifactRecord {
        ArtifactRecord(id: row["id"], runID: row["run_id"], jobID: row["job_id"],
                       jobKey: row["key"], name: row["name"], path: row["path"],
                       type: ArtifactType(rawValue: row["type"]) ?? .file, sha256: row["sha256"], size: row["size"],
                       createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    public func metrics(jobID: Int64) throws -> [MetricRecord] {
        try driver.read { db in
            try db.fetchAll("SELECT * FROM metrics WHERE job_id = ? ORDER BY name, step, id", [jobID]).map { row in
                MetricRecord(id: row["id"], jobID: row["job_id"], step: row["step"],
                             name: row["name"], value: row["value"],
                             recordedAt: Date(timeIntervalSince1970: row["recorded_at"]))
            }
        }
    }

    /// The YAML text the run was submitted with.
    public func pipelineYAML(runID: Int64) throws -> String {
        try driver.read { db in
            guard let yaml = try db.fetchValue(String.self, """
                SELECT p.yaml FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = ?
                """, [runID])
            else { throw StoreError.notFound(what: "run", id: runID) }
            return yaml
        }
    }

    private static func fetchRuns(_ db: any SQLTransaction, whereSQL: String, arguments: [any SQLBindable],
                                  limit: Int) throws -> [RunRecord] {
        let rows = try db.fetchAll("""
            SELECT r.*, p.name AS pipeline_name, p.sha256 AS pipeline_hash
            FROM runs r JOIN pipelines p ON p.id = r.pipeline_id
            WHERE \(whereSQL) ORDER BY r.id DESC LIMIT ?
            """, arguments + [limit])
        var runs = rows.map { row in
            RunRecord(id: row["id"], pipelineID: row["pipeline_id"],
                      pipelineName: row["pipeline_name"], pipelineHash: row["pipeline_hash"],
                      state: RunState(rawValue: row["state"]) ?? .running,
                      paramsJSON: row["params_json"], artifactRoot: row["artifact_root"],
                      createdAt: Date(timeIntervalSince1970: row["created_at"]),
                      finishedAt: Date(epochSeconds: row["finished_at"]), jobCounts: [:])
        }
        for index in runs.indices {
            let counts = try db.fetchAll("""
                SELECT state, COUNT(*) FROM jobs WHERE run_id = ? GROUP BY state
                """, [runs[index].id])
            for row in counts {
                if let state = JobState(rawValue: row[0]) { runs[index].jobCounts[state] = row[1] }
            }
        }
        return runs
    }
}

/// What the leftover sweep needs to know of one job: whose folders may still be in use.
public struct JobFolderState: Sendable, Equatable {
    public var runID: Int64
    public var artifactRoot: String
    public var key: String
    public var state: JobState
    /// The attempt holding the lease, while running.
    public var liveAttemptID: Int64?
    /// The newest attempt so far; folders of later attempts (claimed after this was read) are
    /// never the sweep's to touch.
    public var newestAttemptID: Int64?
}

extension JobStore {
    /// Every job of every run with its folder-relevant state, for `LeftoverSweep`.
    public func jobFolderStates() throws -> [JobFolderState] {
        try driver.read { db in
            try db.fetchAll("""
                SELECT j.run_id, r.artifact_root, j.key, j.state, j.lease_attempt_id,
                       (SELECT MAX(a.id) FROM attempts a WHERE a.job_id = j.id) AS newest
                FROM jobs j JOIN runs r ON r.id = j.run_id ORDER BY r.id, j.id
                """).map { row in
                JobFolderState(runID: row["run_id"], artifactRoot: row["artifact_root"], key: row["key"],
                               state: Self.jobState(row["state"]), liveAttemptID: row["lease_attempt_id"],
                               newestAttemptID: row["newest"])
            }
        }
    }
}
