import Foundation

// MARK: - Daemon heartbeats (advisory: tells readers whether any apod serves this file)

extension JobStore {
    /// Records that daemon `id` (`"host:pid"`) is alive with `workers` workers on a host offering
    /// `capacity`; called by `apod` every couple of seconds. Nothing in the queue depends on it.
    public func recordDaemonHeartbeat(id: String, host: String, pid: Int32, workers: Int,
                                      capacity: HostCapacity? = nil, startedAt: Date, now: Date) throws {
        try driver.write { db in
            try db.execute("""
                INSERT INTO daemons (id, host, pid, workers, threads, memory_mb, labels_json,
                                     started_at, last_heartbeat_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET workers = excluded.workers,
                    threads = excluded.threads, memory_mb = excluded.memory_mb,
                    labels_json = excluded.labels_json, last_heartbeat_at = excluded.last_heartbeat_at
                """, [id, host, pid, workers, capacity?.threads, capacity?.memoryMB,
                      capacity?.labelsJSON ?? "{}", storeTime(startedAt), storeTime(now)])
            try db.execute("""
                INSERT INTO daemon_sessions (session, daemon, host, started_at, last_heartbeat_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (session) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at
                """, [Self.session(daemon: id, startedAt: startedAt), id, host, storeTime(startedAt), storeTime(now)])
        }
    }

    /// A session's key: the daemon and its start on its own clock, the same at every heartbeat
    /// (the store time of `startedAt` can move with a server clock's re-measured offset).
    static func session(daemon id: String, startedAt: Date) -> String {
        "\(id)@\(Int64((startedAt.timeIntervalSince1970 * 1000).rounded()))"
    }

    /// Every host that has run a daemon on this database and not stopped it cleanly, by name; a
    /// host whose newest heartbeat is older than `lostAfter` seconds is lost.
    public func hosts(now: Date, lostAfter: TimeInterval) throws -> [HostRecord] {
        let t = storeTime(now)
        return try driver.read { db in
            try db.fetchAll("""
                SELECT d.host, COUNT(*) AS daemons, SUM(d.workers) AS workers, MAX(d.threads) AS threads,
                       MAX(d.memory_mb) AS memory_mb, MAX(d.labels_json) AS labels_json,
                       MAX(d.last_heartbeat_at) AS last_heartbeat_at,
                       (SELECT COUNT(*) FROM jobs j
                        WHERE j.state = 'running' AND j.lease_worker LIKE '%@' || d.host || ':%') AS running
                FROM daemons d GROUP BY d.host ORDER BY d.host
                """).map { row in
                let last: Double = row["last_heartbeat_at"]
                return HostRecord(
                    name: row["host"], daemons: row["daemons"], workers: row["workers"],
                    threads: row["threads"], memoryMB: row["memory_mb"],
                    labels: HostCapacity.decode(row["labels_json"]), lastHeartbeatAt: localDate(last),
                    runningJobs: row["running"], isLost: t - last > lostAfter)
            }
        }
    }

    /// Removes a daemon's row when it stops cleanly (a killed daemon's row just goes stale), and
    /// marks its session stopped: the newest unstopped one of `id` (a reused pid's older, lost
    /// session stays lost).
    public func removeDaemon(id: String, now: Date = Date()) throws {
        try driver.write { db in
            try db.execute("DELETE FROM daemons WHERE id = ?", [id])
            try db.execute("""
                UPDATE daemon_sessions SET stopped_at = ?
                WHERE session = (SELECT session FROM daemon_sessions WHERE daemon = ? AND stopped_at IS NULL
                                 ORDER BY started_at DESC LIMIT 1)
                """, [storeTime(now), id])
        }
    }

    /// The daemon sessions that served `run` while it was unfinished (`daemonSessions(from:to:…)`
    /// over its span; a lost session is one silent for `hostLostAfterSeconds`).
    public func daemonSessions(of run: RunRecord, now: Date) throws -> [DaemonSession] {
        try daemonSessions(from: run.createdAt, to: run.finishedAt ?? now, now: now, lostAfter: Self.hostLostAfterSeconds)
    }

    /// The daemon sessions that were alive at some time between `start` and `end`, oldest first:
    /// a run's, for its span. A session without `stoppedAt` whose heartbeat is older than
    /// `lostAfter` seconds before `now` was lost; until then it counts as alive (heartbeats come
    /// every couple of seconds, and a short run can start and end between two).
    public func daemonSessions(from start: Date, to end: Date, now: Date, lostAfter: TimeInterval) throws -> [DaemonSession] {
        try driver.read { db in
            try db.fetchAll("""
                SELECT daemon, host, started_at, last_heartbeat_at, stopped_at FROM daemon_sessions
                WHERE started_at <= ? AND COALESCE(stopped_at, last_heartbeat_at + ?) >= ?
                ORDER BY started_at, session
                """, [storeTime(end), lostAfter, storeTime(start)]).map { row in
                let last: Double = row["last_heartbeat_at"]
                let stopped: Double? = row["stopped_at"]
                return DaemonSession(daemon: row["daemon"], host: row["host"], startedAt: localDate(row["started_at"]),
                                     lastHeartbeatAt: localDate(last), stoppedAt: stopped.map(localDate),
                                     isLost: stopped == nil && storeTime(now) - last > lostAfter)
            }
        }
    }

    /// The latest sign that some daemon or worker was alive on this database: a daemon heartbeat,
    /// or an attempt starting, heartbeating or finishing (a standalone `apod worker` has no daemon
    /// row; the newest 1000 attempts are looked at). nil when there has never been one.
    public func lastDaemonActivity() throws -> Date? {
        try driver.read { db in
            let t = try db.fetchValue(Double.self, """
                SELECT MAX(t) FROM (
                    SELECT MAX(last_heartbeat_at) AS t FROM daemons
                    UNION ALL SELECT MAX(\(db.dialect.greatest("started_at", "COALESCE(last_heartbeat_at, 0)", "COALESCE(finished_at, 0)")))
                              FROM (SELECT * FROM attempts ORDER BY id DESC LIMIT 1000) AS recent) AS activity
                """)
            return t.map(localDate)
        }
    }
}
