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
}
