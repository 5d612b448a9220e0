import APOTestSupport
import Foundation
import Testing

/// `apod --http … --tls-cert FILE --tls-key FILE`: the API, the page and the log streams over
/// HTTPS, with a certificate from a CA of the test's own; plain HTTP and an untrusting client are
/// turned away, and unusable files stop apod before it starts.
@Suite(.serialized)
struct HTTPSProcessTests {
    @Test func theAPIIsServedOverHTTPSToClientsThatTrustItsCA() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let certificates = try TestCertificates(in: sandbox.directory.appendingPathComponent("tls"))
        var (daemon, http) = try sandbox.startDaemon(extra: ["--tls-cert", certificates.certificate, "--tls-key", certificates.key])
        #expect(http.base.hasPrefix("https://127.0.0.1:"), "\(http.base)")
        http.authority = certificates.authority

        let created = try http.post("/api/runs", body: Pipelines.small)
        #expect(created.status == 201, "\(created.text)")
        let run = try #require(created.object["run"] as? Int)
        let stream = try http.get("/api/runs/\(run)/logs/stream", timeout: 60)
        #expect(stream.text.contains("sleep: slept"), "the log stream over TLS: \(stream.text)")
        #expect(try http.waitForRunEnd(run) == "succeeded")
        #expect(try http.get("/").text.contains("<script type=\"module\" src=\"/assets/app.js\">"))

        // A client that does not trust the CA, and one speaking plain HTTP to the port, get nothing.
        var untrusting = http
        untrusting.authority = nil
        #expect(throws: HTTPClient.Failure.self) { try untrusting.get("/api/runs") }
        let plain = HTTPClient(base: http.base.replacingOccurrences(of: "https://", with: "http://"), scratch: sandbox.directory)
        #expect((try? plain.get("/api/runs", timeout: 5))?.status != 200)
        // apoctl trusts the system's CA store: this CA is not in it, and it says so; with
        // --ca-file it trusts the test CA, and lists, shows and downloads over TLS.
        let untrusted = try sandbox.runToExit("apoctl", ["--server", http.base, "runs"])
        #expect(untrusted.status == 6 && untrusted.stderr.contains("cannot reach apod at \(http.base): SSL certificate problem"),
                "\(untrusted.stderr)")
        let trusted = ["--server", http.base, "--ca-file", certificates.authority]
        #expect(try sandbox.runToExit("apoctl", trusted + ["show", String(run)]).status == 0)
        let fetched = sandbox.directory.appendingPathComponent("fetched.json")
        let fetch = try sandbox.runToExit("apoctl", trusted + ["artifacts", String(run), "--get", "a.json", "-o", fetched.path])
        #expect(fetch.status == 0, "\(fetch.stderr)")
        #expect((try? String(contentsOf: fetched, encoding: .utf8)) == "\"hello\"")
        let missingCA = try sandbox.runToExit("apoctl", ["--server", http.base, "--ca-file", "/nonexistent/ca.crt", "runs"])
        #expect(missingCA.status == 2 && missingCA.stderr.contains("cannot read --ca-file /nonexistent/ca.crt"), "\(missingCA.stderr)")
        #expect(sandbox.stop(daemon) == 0, "\(sandbox.daemonLogs())")
    }

    @Test func unusableCertificateFilesStopApodNamingTheFile() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let certificates = try TestCertificates(in: sandbox.directory.appendingPathComponent("tls"))
        func start(_ arguments: [String]) throws -> (status: Int32, log: String) {
            let run = try sandbox.runToExit("apod", ["--db", sandbox.databasePath, "--workers", "1", "--http", "127.0.0.1:0"] + arguments)
            return (run.status, run.stderr)
        }
        let missing = try start(["--tls-cert", sandbox.directory.appendingPathComponent("none.crt").path, "--tls-key", certificates.key])
        #expect(missing.status == 2 && missing.log.contains("none.crt: no such readable file"), "\(missing)")
        let swapped = try start(["--tls-cert", certificates.key, "--tls-key", certificates.key])
        #expect(swapped.status == 2 && swapped.log.contains("--tls-cert \(certificates.key): not PEM"), "\(swapped)")
        let alone = try start(["--tls-cert", certificates.certificate])
        #expect(alone.status == 64 && alone.log.contains("--tls-cert and --tls-key go together"), "\(alone)")
    }
}
