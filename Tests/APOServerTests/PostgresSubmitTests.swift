import APOTestSupport
import Foundation
import Testing

/// Submitting over HTTP to a daemon on PostgreSQL: its hosts share only what they all mount, so
/// the request (or apod's $APO_ARTIFACTS) must say where the run's artifacts go.
@Suite(.serialized)
struct PostgresSubmitTests {
    @Test func aPostgresSubmissionNamesItsArtifactFolder() throws {
        let database = try TestPostgres.createDatabase()
        defer { TestPostgres.dropDatabase(database) }
        let sandbox = try DaemonSandbox(databasePath: database)
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 1)

        let unnamed = try http.post("/api/runs", body: Pipelines.small)
        #expect(unnamed.status == 400, "\(unnamed.text)")
        #expect(unnamed.object["field"] as? String == "artifacts")

        let shared = sandbox.directory.appendingPathComponent("shared").path
        let created = try http.post("/api/runs?artifacts=\(shared)", body: Pipelines.small)
        #expect(created.status == 201, "\(created.text)")
        let run = try #require(created.object["run"] as? Int)
        #expect(try http.waitForRunEnd(run) == "succeeded")
        let root = (try http.get("/api/runs/\(run)").object["run"] as? [String: Any])?["artifactRoot"] as? String ?? ""
        #expect(root.hasPrefix(shared + "/"), "\(root)")
        let url = try #require(try http.get("/api/runs/\(run)/artifacts").array.first?["url"] as? String)
        #expect(try http.get(url).text == "\"hello\"")
        #expect(sandbox.stop(daemon) == 0)
    }
}
