import Foundation

// MARK: - Daemon heartbeats (advisory: tells readers whether any apod serves this file)

extension JobStore {
    /// Records that daemon `id` (`"host:pid"`) is alive with `workers` workers; called by `apod`
    /// every couple of seconds. Nothing in the queue depends on it.
    public func recordDaemonHeartbeat(id: String, host: String, pid: Int32, workers: Int,
                                      startedAt: Date, now: Date) throws {
        try driver.write { db in
            try db.execute("""
                INSERT INTO daemons (id, host, pid, workers, started_at, last_heartbeat_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET workers = excluded.workers,
                    last_heartbeat_at = excluded.last_heartbeat_at
                """, [id, host, pid, workers, storeTime(startedAt), storeTime(now)])
        }
    }

    /// Removes a daemon's row when it stops cleanly (a killed daemon's row just goes stale).
    public func removeDaemon(id: String) throws {
        try driver.write { db in
            try db.execute("DELETE FROM daemons WHERE id = ?", [id])
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
