import Foundation
import Testing

/// `apod --workers 0 --http …`: serves a database's API and web page and runs nothing, so a run can
/// be watched (or submitted to) from a second daemon without that daemon claiming its jobs.
@Suite(.serialized)
struct WatchOnlyDaemonTests {
    @Test func aDaemonWithoutWorkersServesTheRunButClaimsNothing() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (watcher, watching) = try sandbox.startDaemon(workers: 0)

        let created = try watching.post("/api/runs", body: Pipelines.small)
        #expect(created.status == 201, "\(created.text)")
        let run = try #require(created.object["run"] as? Int)
        // Long enough for a worker to have claimed job a several times over.
        Thread.sleep(forTimeInterval: 3)
        let waiting = try watching.get("/api/runs/\(run)").object["jobs"] as? [[String: Any]] ?? []
        #expect(waiting.map { $0["state"] as? String } == ["queued", "blocked"])
        #expect(waiting.map { $0["attempts"] as? Int } == [0, 0])
        #expect(try watching.get("/api/hosts").array.isEmpty, "a daemon without workers registers no host")

        // A daemon with workers runs it, is stopped mid-run and another resumes it; the watcher
        // shows the run as it goes, from the same file, and the stop it resumed from.
        let (first, _) = try sandbox.startDaemon(workers: 1)
        try watching.waitForJob(try watching.jobID(run: run, key: "b")) { $0 == "running" }
        #expect(sandbox.stop(first) == 0, "\(sandbox.daemonLogs())")
        let (second, _) = try sandbox.startDaemon(workers: 1)
        #expect(try watching.waitForRunEnd(run) == "succeeded", "\(sandbox.daemonLogs())")
        #expect(try watching.get("/api/hosts").array.count == 1)
        let detail = try watching.get("/api/runs/\(run)").object
        #expect((detail["daemonSessions"] as? [[String: Any]])?.map { $0["state"] as? String } == ["stopped", "alive"],
                "the watcher has no session of its own: \(detail["daemonSessions"] ?? "none")")
        #expect(detail["interruptions"] as? [String: Int] == ["clean": 1, "lost": 0])

        #expect(sandbox.stop(watcher) == 0, "\(sandbox.daemonLogs())")
        #expect(sandbox.stop(second) == 0, "\(sandbox.daemonLogs())")
        #expect(sandbox.read("apod-1.log").contains("no workers, serving the API only"))
    }

    @Test func noWorkersAndNoHTTPIsRefusedBeforeAnythingStarts() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let apod = try sandbox.runToExit("apod", ["--db", sandbox.databasePath, "--workers", "0"])
        #expect(apod.status == 64)
        #expect(apod.stderr.contains("--workers 0 runs no worker, so it needs --http"), "\(apod.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.databasePath), "refused before opening the database")
    }
}
