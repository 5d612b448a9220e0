import Foundation
import Testing

/// The API of a real `apod --http` on a temporary SQLite database, driven with curl.
@Suite(.serialized)
struct APIProcessTests {
    static let token = "test-token-0123456789abcdef"

    @Test func submitListShowFollowAndDownloadOverHTTP() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let tokenFile = try sandbox.write("token", Self.token + "\n")
        let (daemon, http) = try sandbox.startDaemon(extra: ["--token-file", tokenFile])

        let created = try http.post("/api/runs", body: Pipelines.small, token: Self.token)
        #expect(created.status == 201, "\(created.text)")
        let run = try #require(created.object["run"] as? Int)
        #expect(created.object["jobs"] as? Int == 2)

        let listed = try http.get("/api/runs?pipeline=http-small&limit=5")
        #expect(listed.status == 200)
        #expect(listed.array.map { $0["id"] as? Int } == [run])
        #expect(try http.get("/api/runs?pipeline=other").array.isEmpty)

        let shown = try http.get("/api/runs/\(run)")
        let jobs = shown.object["jobs"] as? [[String: Any]] ?? []
        #expect(jobs.map { $0["key"] as? String } == ["a", "b"])
        #expect(jobs.last?["needs"] as? [String] == ["a"])
        let edges = shown.object["edges"] as? [[String: String]] ?? []
        #expect(edges == [["from": "a", "to": "b"]])

        // Follows the log live; the answer only completes once the run has ended.
        let stream = try http.get("/api/runs/\(run)/logs/stream", timeout: 60)
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"] == "text/event-stream")
        #expect(stream.text.contains("event: log\nid: "))
        #expect(stream.text.contains("sleep: slept"))
        #expect(stream.text.hasSuffix("event: end\ndata: {\"state\":\"succeeded\"}\n\n"), "\(stream.text)")
        #expect(try http.get("/api/runs?state=succeeded").array.map { $0["id"] as? Int } == [run])

        // The same stream through the Accept header, and the paged form.
        let accepted = try http.get("/api/runs/\(run)/logs", headers: ["Accept": "text/event-stream"])
        #expect(accepted.headers["content-type"] == "text/event-stream")
        let first = try http.get("/api/runs/\(run)/logs?limit=1")
        let firstLines = first.object["lines"] as? [[String: Any]] ?? []
        #expect(firstLines.count == 1)
        let next = try #require(first.object["next"] as? Int)
        let rest = try http.get("/api/runs/\(run)/logs?after=\(next)").object["lines"] as? [[String: Any]] ?? []
        #expect(!rest.isEmpty)
        #expect(rest.allSatisfy { ($0["id"] as? Int ?? 0) > next })
        #expect(first.object["runState"] as? String == "succeeded")

        let jobA = try http.jobID(run: run, key: "a")
        let detail = try http.get("/api/jobs/\(jobA)").object
        #expect((detail["params"] as? [String: Any])?["value"] as? String == "hello")
        #expect((detail["attempts"] as? [[String: Any]])?.count == 1)
        #expect((detail["artifacts"] as? [[String: Any]])?.count == 1)
        #expect(try http.get("/api/jobs/\(jobA)/logs").status == 200)

        try checkArtifactDownload(http, run: run)
        #expect(try http.get("/api/hosts").array.first?["state"] as? String == "alive")
        #expect(sandbox.stop(daemon) == 0, "\(sandbox.daemonLogs())")
        #expect(!sandbox.daemonLogs().contains(Self.token))
    }

    private func checkArtifactDownload(_ http: HTTPClient, run: Int) throws {
        let artifacts = try http.get("/api/runs/\(run)/artifacts").array
        let artifact = try #require(artifacts.first)
        let url = try #require(artifact["url"] as? String)
        let sha = try #require(artifact["sha256"] as? String)
        let file = try http.get(url)
        #expect(file.status == 200)
        #expect(file.text == "\"hello\"")
        #expect(file.headers["etag"] == "\"\(sha)\"")
        let unchanged = try http.get(url, headers: ["If-None-Match": "\"\(sha)\""])
        #expect(unchanged.status == 304)
        #expect(unchanged.body.isEmpty)
        #expect(try http.get(url, headers: ["If-None-Match": "\"other\""]).status == 200)
        // Out of the run folder, by `..`, by its encoded form, or to a file no job recorded.
        for escape in ["../../apo.db", "%2e%2e/%2e%2e/apo.db", "..%2F..%2Fapo.db", "a/../../../token", "nothing.json"] {
            let answer = try http.get("/runs/\(run)/artifacts/\(escape)")
            #expect(answer.status == 404, "\(escape): \(answer.status) \(answer.text)")
            #expect(answer.object["error"] != nil)
        }
    }

    @Test func cancelRetryAndResumeOverHTTPNeedTheToken() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let tokenFile = try sandbox.write("token", Self.token)
        let (daemon, http) = try sandbox.startDaemon(extra: ["--token-file", tokenFile])

        let missing = try http.post("/api/runs", body: Pipelines.controllable)
        #expect(missing.status == 401)
        #expect(missing.object["field"] as? String == "Authorization")
        #expect(missing.headers["www-authenticate"] == "Bearer")
        #expect(try http.post("/api/runs", body: Pipelines.controllable, token: "wrong-token-0123456789").status == 401)
        let run = try #require(try http.post("/api/runs", body: Pipelines.controllable, token: Self.token).object["run"] as? Int)
        let slow = try http.jobID(run: run, key: "slow")
        let bad = try http.jobID(run: run, key: "bad")
        try http.waitForJob(slow) { $0 == "running" }
        try http.waitForJob(bad) { $0 == "failed" }

        #expect(try http.post("/api/jobs/\(bad)/retry").status == 401)
        let retried = try http.post("/api/jobs/\(bad)/retry", token: Self.token)
        #expect(retried.status == 200, "\(retried.text)")
        try http.waitForJob(bad) { $0 == "failed" }
        #expect(try http.post("/api/jobs/\(slow)/cancel", token: Self.token).status == 200)
        try http.waitForJob(slow) { $0 == "cancelled" }
        #expect(try http.waitForRunEnd(run) == "failed")

        let resumed = try http.post("/api/runs/\(run)/resume", token: Self.token)
        #expect(resumed.status == 200)
        #expect((resumed.object["run"] as? [String: Any])?["state"] as? String == "running")
        try http.waitForJob(slow) { $0 == "running" }
        #expect(try http.post("/api/runs/\(run)/cancel").status == 401)
        #expect(try http.post("/api/runs/\(run)/cancel", token: Self.token).status == 200)
        #expect(try http.waitForRunEnd(run) != "running")
        // A job that is finished cannot be cancelled: a conflict, said in JSON.
        let conflict = try http.post("/api/jobs/\(bad)/cancel", token: Self.token)
        #expect(conflict.status == 409)
        #expect(conflict.object["error"] != nil)
        #expect(sandbox.stop(daemon) == 0)
    }

    @Test func badInputGets4xxJSONNamingTheField() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 1)
        let cases: [(String, Int, String?)] = [
            ("/api/runs/abc", 400, "id"), ("/api/runs/0", 400, "id"), ("/api/runs/-3", 400, "id"),
            ("/api/runs/99999999999999999999", 400, "id"),
            ("/api/runs/999", 404, nil), ("/api/jobs/999", 404, nil), ("/api/jobs/999/logs", 404, nil),
            ("/api/runs?state=bogus", 400, "state"), ("/api/runs?limit=0", 400, "limit"),
            ("/api/runs?limit=ten", 400, "limit"), ("/api/no-such-thing", 404, nil),
            ("/runs/999/artifacts/a.json", 404, nil), ("/runs/x/artifacts/a.json", 400, "id"),
        ]
        for (path, status, field) in cases {
            let answer = try http.get(path)
            #expect(answer.status == status, "\(path): \(answer.status) \(answer.text)")
            #expect(answer.object["error"] is String, "\(path): \(answer.text)")
            #expect(answer.object["field"] as? String == field, "\(path): \(answer.text)")
        }

        // Loopback without a token file: writes are open.
        let run = try #require(try http.post("/api/runs", body: Pipelines.small).object["run"] as? Int)
        for path in ["/api/runs/\(run)/logs?after=-1", "/api/runs/\(run)/logs?limit=0", "/api/runs/\(run)/logs/stream?after=x"] {
            let answer = try http.get(path)
            #expect(answer.status == 400, "\(path): \(answer.text)")
            #expect(["after", "limit"].contains(answer.object["field"] as? String ?? ""), "\(path): \(answer.text)")
        }
        let badParam = try http.post("/api/runs?param=novalue", body: Pipelines.small)
        #expect(badParam.status == 400)
        #expect(badParam.object["field"] as? String == "param")
        let empty = try http.post("/api/runs", body: "")
        #expect(empty.status == 400)
        #expect(empty.object["field"] as? String == "body")

        let rejected = try http.post("/api/runs", body: Pipelines.broken)
        #expect(rejected.status == 422)
        #expect(rejected.object["field"] as? String == "body")
        let diagnostics = rejected.object["diagnostics"] as? [[String: Any]] ?? []
        #expect(diagnostics.contains { $0["line"] as? Int == 3 && ($0["message"] as? String ?? "").contains("no-such-kind") })
        #expect(diagnostics.contains { $0["line"] as? Int == 4 && ($0["message"] as? String ?? "").contains("missing") })
        #expect(diagnostics.allSatisfy { ($0["column"] as? Int ?? 0) > 0 })
        #expect(try http.get("/api/runs").array.count == 1, "a rejected pipeline stores nothing")

        #expect(try http.waitForRunEnd(run) == "succeeded")
        let job = try http.jobID(run: run, key: "a")
        let conflict = try http.post("/api/jobs/\(job)/retry")
        #expect(conflict.status == 409, "\(conflict.text)")
        #expect(!sandbox.daemonLogs().contains("internal error"))
        #expect(sandbox.stop(daemon) == 0)
    }

    /// SIGTERM with a client following a log: the workers give their jobs back, the stream ends,
    /// apod exits 0.
    @Test func apodStopsCleanlyWithALogStreamOpen() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 1)
        let run = try #require(try http.post("/api/runs", body: Pipelines.controllable).object["run"] as? Int)
        try http.waitForJob(try http.jobID(run: run, key: "slow")) { $0 == "running" }
        let streamEnded = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? http.get("/api/runs/\(run)/logs/stream", timeout: 120)
            streamEnded.signal()
        }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(sandbox.stop(daemon, timeout: 30) == 0, "\(sandbox.daemonLogs())")
        #expect(streamEnded.wait(timeout: .now() + 10) == .success, "the stream outlived apod")
        #expect(sandbox.daemonLogs().contains("apod stopped"))
    }

    @Test func writesAreRefusedOnANonLoopbackAddressWithoutATokenFile() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, logged) = try sandbox.startDaemon(http: "0.0.0.0:0", workers: 1)
        #expect(logged.base.hasPrefix("http://0.0.0.0:"))
        let http = HTTPClient(base: logged.base.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1"),
                              scratch: sandbox.directory)
        let refused = try http.post("/api/runs", body: Pipelines.small)
        #expect(refused.status == 403)
        #expect((refused.object["error"] as? String ?? "").contains("--token-file"))
        #expect(try http.get("/api/runs").status == 200, "reads stay open")
        #expect(sandbox.stop(daemon) == 0)
    }

    /// Without a token file a loopback apod takes writes from this machine (curl, apoctl, its own
    /// page), but not from another site's page in a browser: neither a cross-site POST (its
    /// Origin) nor one sent under the site's own name rebound to 127.0.0.1 (its Host).
    @Test func loopbackWritesWithoutATokenRefuseOtherSitesPages() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 1)
        let port = try #require(http.base.split(separator: ":").last)
        let crossSite = try http.post("/api/runs", body: Pipelines.small, headers: ["Origin": "http://evil.example"])
        #expect(crossSite.status == 403, "\(crossSite.text)")
        #expect(crossSite.object["field"] as? String == "Origin")
        let rebound = try http.post("/api/runs", body: Pipelines.small,
                                    headers: ["Host": "evil.example:\(port)", "Origin": "http://evil.example:\(port)"])
        #expect(rebound.status == 403, "\(rebound.text)")
        #expect(rebound.object["field"] as? String == "Host")
        #expect(try http.get("/api/runs").array.isEmpty, "nothing was submitted")
        let ownPage = try http.post("/api/runs", body: Pipelines.small, headers: ["Origin": http.base])
        #expect(ownPage.status == 201, "\(ownPage.text)")
        let byName = try http.post("/api/runs", body: Pipelines.small, headers: ["Host": "localhost:\(port)"])
        #expect(byName.status == 201, "\(byName.text)")
        #expect(try http.post("/api/runs", body: Pipelines.small).status == 201, "curl sends no Origin")
        #expect(sandbox.stop(daemon) == 0)
    }
}
