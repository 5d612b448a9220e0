import Foundation
import Testing
@testable import APOStore

/// The `daemons` table (migration 0005) and the signs of life `apoctl watch` reads.
@Suite struct DaemonHeartbeatTests {
    @Test(arguments: StoreDriverKind.allCases) func daemonHeartbeatsAndAttemptsAreSignsOfLife(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        #expect(try store.lastDaemonActivity() == nil)
        try store.recordDaemonHeartbeat(id: "h:1", host: "h", pid: 1, workers: 2, startedAt: at(0), now: at(1))
        try store.recordDaemonHeartbeat(id: "h:1", host: "h", pid: 1, workers: 2, startedAt: at(0), now: at(5))
        #expect(try store.lastDaemonActivity() == at(5))
        try store.removeDaemon(id: "h:1")
        #expect(try store.lastDaemonActivity() == nil)
        // A standalone worker has no daemon row, but its attempts show it is alive.
        try store.createRun(newRun([job("a")]), now: at(0))
        _ = try store.mustClaim(now: at(7))
        #expect(try store.lastDaemonActivity() == at(7))
    }

    /// Sessions outlive their `daemons` row: a clean stop marks one stopped, a silent one is lost,
    /// and a run's span picks the sessions that overlapped it; a reused pid is another session.
    @Test(arguments: StoreDriverKind.allCases) func daemonSessionsAreKeptAndTellStopsFromLosses(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        func beat(_ id: String, start: Double, _ times: [Double]) throws {
            for t in times { try store.recordDaemonHeartbeat(id: id, host: "h", pid: 1, workers: 2, startedAt: at(start), now: at(t)) }
        }
        try beat("h:1", start: 0, [1, 10])
        try store.removeDaemon(id: "h:1", now: at(12))                     // stopped cleanly at 12
        try beat("h:2", start: 20, [21, 30])                               // killed after 30
        try beat("h:7", start: 32, [33])                                   // killed after 33...
        try beat("h:7", start: 34, [35])                                   // ...pid 7 again, stopped at 36
        try store.removeDaemon(id: "h:7", now: at(36))
        try beat("h:1", start: 40, [41, 95])                               // pid 1 again: a new session
        try beat("h:3", start: 100, [101])                                 // after the span
        let sessions = try store.daemonSessions(from: at(5), to: at(50), now: at(96), lostAfter: 30)
        #expect(sessions.map(\.daemon) == ["h:1", "h:2", "h:7", "h:7", "h:1"])
        #expect(sessions.map(\.stoppedAt) == [at(12), nil, nil, at(36), nil], "a stop marks the newest session of its pid")
        #expect(sessions.map(\.isLost) == [false, true, true, false, false])
        #expect(sessions.map(\.lastHeartbeatAt) == [at(10), at(30), at(33), at(35), at(95)])
        let history = RunServiceHistory(sessions: sessions, runEnd: nil)
        #expect(history.interruptions == (clean: 2, lost: 2) && history.hosts == 1)
        #expect(history.summary == "served by 5 apod sessions on 1 host; 4 ended before it did (2 stopped cleanly, 2 lost)")
        // A session alive between two heartbeats serves a run that starts and ends between them.
        #expect(try store.daemonSessions(from: at(96), to: at(97), now: at(97), lostAfter: 30).map(\.daemon) == ["h:1"])
        // A run that finished at 35 was not interrupted by sessions ending after it.
        #expect(RunServiceHistory(sessions: Array(sessions.prefix(2)), runEnd: at(25)).interruptions == (clean: 1, lost: 0))
    }
}
