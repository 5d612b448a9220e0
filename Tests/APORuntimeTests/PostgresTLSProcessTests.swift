import APOStore
import APOTestSupport
import Foundation
import Testing

/// apod and its workers on a PostgreSQL server that refuses every connection without TLS: each
/// worker process opens its own connections from the URL apod hands it, so a finished run shows
/// that every one of them verified the server.
@Suite(.serialized)
struct PostgresTLSProcessTests {
    @Test func aRunOnAServerThatTakesOnlyTLSFinishes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apo-tls-run-\(UUID().uuidString.prefix(8))")
        let cluster = try TestPostgresCluster(directory: directory.appendingPathComponent("pg"))
        let ca = try cluster.enableTLS()
        try TestCommand.run(["/usr/bin/psql", cluster.url(), "-qc", "CREATE DATABASE apo"])
        // First match wins: plain connections from anywhere are rejected.
        let hba = cluster.directory.appendingPathComponent("pg_hba.conf")
        let rules = try String(contentsOf: hba, encoding: .utf8)
        try ("hostnossl all all 0.0.0.0/0 reject\n" + rules).write(to: hba, atomically: false, encoding: .utf8)
        try cluster.restart()
        let plain = cluster.url(database: "apo") + "?sslmode=disable"
        #expect(throws: StoreError.self) { try JobStore(path: plain) }

        let sandbox = try RuntimeSandbox(databasePath: cluster.url(database: "apo") + "?sslmode=verify-full&sslrootcert=" + ca)
        // The daemon goes before the server; the cluster removes its folder and `directory`.
        defer { withExtendedLifetime(cluster) { sandbox.cleanup() } }
        let store = try sandbox.store()
        let runID = try store.createRun(ManyHostsProcessTests.sleepChains(2, 3, seconds: 0.1, in: sandbox), now: Date())
        try sandbox.startDaemon(workers: 2)
        #expect(try sandbox.waitForRun(runID, timeout: 60).state == .succeeded, "\(sandbox.read("apod-1.log"))")
        let attempts = try ManyHostsProcessTests.attempts(store, runID: runID)
        #expect(attempts.count == 6 && attempts.allSatisfy { $0.outcome == "succeeded" }, "\(attempts)")
        #expect(!sandbox.read("apod-1.log").contains("exited with status"), "no worker failed to connect")
    }
}
