import Foundation

/// One apod process's time serving a database, from `daemon_sessions`.
public struct DaemonSession: Sendable, Equatable {
    /// "host:pid".
    public var daemon: String
    public var host: String
    public var startedAt: Date
    public var lastHeartbeatAt: Date
    /// Set by a clean stop (SIGTERM, Ctrl-C).
    public var stoppedAt: Date?
    /// No clean stop and no heartbeat for a while: killed, or its machine is gone.
    public var isLost: Bool

    public init(daemon: String, host: String, startedAt: Date, lastHeartbeatAt: Date, stoppedAt: Date?, isLost: Bool) {
        self.daemon = daemon
        self.host = host
        self.startedAt = startedAt
        self.lastHeartbeatAt = lastHeartbeatAt
        self.stoppedAt = stoppedAt
        self.isLost = isLost
    }

    /// When it stopped serving, if it has: its clean stop, or its last heartbeat once lost.
    public var endedAt: Date? { stoppedAt ?? (isLost ? lastHeartbeatAt : nil) }
}

/// What the sessions that overlapped a run say about it: how many served it and how many ended
/// while it was unfinished — each such end is a stop the run was resumed from (or still waits on).
public struct RunServiceHistory: Sendable, Equatable {
    public var sessions: [DaemonSession]
    public var hosts: Int { Set(sessions.map(\.host)).count }
    /// Sessions that ended before `runEnd` (nil: the run is unfinished), cleanly or lost.
    public let interruptions: (clean: Int, lost: Int)

    public init(sessions: [DaemonSession], runEnd: Date?) {
        self.sessions = sessions
        let ended = sessions.filter { session in
            guard let end = session.endedAt else { return false }
            return runEnd.map { end < $0 } ?? true
        }
        interruptions = (ended.filter { $0.stoppedAt != nil }.count, ended.filter { $0.stoppedAt == nil }.count)
    }

    public static func == (a: RunServiceHistory, b: RunServiceHistory) -> Bool {
        a.sessions == b.sessions && a.interruptions == b.interruptions
    }

    /// "served by 3 apod sessions on 1 host; 2 ended before it did (1 stopped cleanly, 1 lost)".
    public var summary: String {
        let ended = interruptions.clean + interruptions.lost
        let servedBy = "served by \(sessions.count) apod session\(sessions.count == 1 ? "" : "s") on \(hosts) host\(hosts == 1 ? "" : "s")"
        guard ended > 0 else { return servedBy }
        return servedBy + "; \(ended) ended before it did (\(interruptions.clean) stopped cleanly, \(interruptions.lost) lost)"
    }
}
