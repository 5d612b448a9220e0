import APOTestSupport
import Foundation
import Testing

/// `apoctl --server URL`: the real apoctl against a real `apod --http`, each command's output
/// compared with the same command's on the database itself (`--db`).
@Suite(.serialized)
struct RemoteApoctlTests {
    struct Output: Equatable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// A sandboxed apod with a token, and apoctl both ways.
    final class Setup {
        let sandbox: DaemonSandbox
        let daemon: Process
        let http: HTTPClient
        let tokenFile: String
        let apoctl: URL

        init() throws {
            sandbox = try DaemonSandbox()
            tokenFile = try sandbox.write("token", "remote-apoctl-test-token-0123456789\n")
            (daemon, http) = try sandbox.startDaemon(extra: ["--token-file", tokenFile])
            apoctl = try TestBinaries.directory(holding: ["apod", "apoctl"]).appendingPathComponent("apoctl")
        }

        func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Output {
            let process = Process()
            process.executableURL = apoctl
            process.arguments = arguments
            process.currentDirectoryURL = sandbox.directory
            var environment = ProcessInfo.processInfo.environment.filter { $0.key != "APO_DB" && $0.key != "APO_ARTIFACTS" }
            // No user config file: only what a test writes.
            environment["XDG_CONFIG_HOME"] = sandbox.directory.appendingPathComponent("no-config").path
            process.environment = environment.merging(extra) { _, new in new }
            let out = sandbox.directory.appendingPathComponent("apoctl-\(UUID().uuidString.prefix(6))")
            _ = FileManager.default.createFile(atPath: out.path + ".out", contents: nil)
            _ = FileManager.default.createFile(atPath: out.path + ".err", contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out.path + ".out"))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: out.path + ".err"))
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return Output(status: process.terminationStatus,
                          stdout: (try? String(contentsOfFile: out.path + ".out", encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: out.path + ".err", encoding: .utf8)) ?? "")
        }

        func local(_ arguments: [String]) throws -> Output { try run(["--db", sandbox.databasePath] + arguments) }

        func remote(_ arguments: [String], token: Bool = true) throws -> Output {
            try run(["--server", http.base] + (token ? ["--token-file", tokenFile] : []) + arguments)
        }

        deinit { sandbox.cleanup() }
    }

    static let pipeline = """
        name: remote-same
        jobs:
          - {id: a, kind: noop, params: {value: hello, artifact: a.json}}
          - {id: b, kind: sleep, needs: [a], params: {seconds: 0.6, log_every: 0.2}}
        """

    @Test func everyRunCommandPrintsTheSameThroughTheServer() throws {
        let setup = try Setup()
        let file = try setup.sandbox.write("same.yaml", Self.pipeline)
        let submitted = try setup.remote(["submit", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let run = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(run) != nil, "submit prints the run id: \(submitted.stdout)")
        // Followed live while the run runs, then the same lines as the database holds.
        let followed = try setup.remote(["logs", run, "-f"])
        #expect(followed.status == 0 && followed.stdout.contains("[b] "), "\(followed)")
        #expect(followed == (try setup.local(["logs", run])))
        let watched = try setup.remote(["watch", run, "--interval", "0.2"])
        #expect(watched.status == 0, "\(watched.stdout)\(watched.stderr)")
        #expect(watched.stdout.contains("run \(run) succeeded after"), "\(watched.stdout)")

        let commands: [[String]] = [
            ["runs"], ["runs", "--json"], ["history"], ["history", "--json"], ["show", run], ["show", run, "--json"],
            ["logs", run], ["logs", run, "b"], ["logs", run, "--json"], ["logs", run, "-f"],
            ["artifacts", run], ["artifacts", run, "--json"],
            ["show", "999"], ["logs", run, "nope"], ["retry", "\(run)/nope"],
        ]
        for command in commands {
            let local = try setup.local(command)
            let remote = try setup.remote(command)
            #expect(remote == local, "apoctl \(command.joined(separator: " ")): remote\n\(remote)\nlocal\n\(local)")
            #expect(!local.stdout.isEmpty || !local.stderr.isEmpty, "\(command) printed nothing")
        }

        // An artifact downloaded (and checked against its sha256) as it is copied locally.
        let fetched = try setup.remote(["artifacts", run, "--get", "a.json", "-o", "remote-a.json"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let copied = try setup.local(["artifacts", run, "--get", "a.json", "-o", "local-a.json"])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(!setup.sandbox.read("remote-a.json").isEmpty && setup.sandbox.read("remote-a.json") == setup.sandbox.read("local-a.json"))

        let hosts = try setup.remote(["hosts"])
        #expect(hosts.status == 0 && hosts.stdout.contains("alive"), "\(hosts)")
    }

    @Test func presetsControlAndErrorsThroughTheServer() throws {
        let setup = try Setup()
        let chain = PrometheusText.repositoryRoot().appendingPathComponent("pipelines/noop-chain.yaml").path
        let preset = try setup.sandbox.write("preset.yaml", "params: {rounds: 1}\n")
        let submitted = try setup.remote(["submit", chain, "--params", preset, "--param", "greeting=hi there+1"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let run = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try setup.remote(["watch", run]).status == 0)
        let shown = try setup.remote(["show", run, "--json"])
        #expect(shown.stdout.contains("\"r1.step\"") && !shown.stdout.contains("\"r2.step\""), "the preset's rounds: 1\n\(shown.stdout)")
        #expect(shown.stdout.contains("hi there+1 -> round 1 -> done"), "the --param value\n\(shown.stdout)")
        #expect(shown == (try setup.local(["show", run, "--json"])))

        // An invalid preset: its own file, line and column, exit 3, as locally.
        let badPreset = try setup.sandbox.write("bad-preset.yaml", "params: {roundz: 1}\n")
        let rejectedRemote = try setup.remote(["submit", chain, "--params", badPreset])
        let rejectedLocal = try setup.local(["submit", chain, "--params", badPreset])
        #expect(rejectedRemote.status == 3 && rejectedRemote.stderr.hasPrefix("\(badPreset):1:"), "\(rejectedRemote)")
        #expect(rejectedRemote == rejectedLocal)

        // Cancel, retry and resume need the token; without it one line and exit 6.
        let control = try setup.sandbox.write("control.yaml", """
            name: remote-control
            jobs:
              - {id: slow, kind: sleep, params: {seconds: 600}}
              - {id: bad, kind: noop, params: {fail: true}, retries: {max_attempts: 1}}
            """)
        let controlRun = try setup.remote(["submit", control]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let slow = try setup.http.jobID(run: Int(controlRun)!, key: "slow")
        let bad = try setup.http.jobID(run: Int(controlRun)!, key: "bad")
        try setup.http.waitForJob(bad) { $0 == "failed" }
        let refused = try setup.remote(["retry", "\(controlRun)/bad"], token: false)
        #expect(refused.status == 6 && refused.stdout.isEmpty, "\(refused)")
        #expect(refused.stderr.contains("401") && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(try setup.remote(["retry", "\(controlRun)/bad"]).stdout == "job \(bad) (bad) queued again\n")
        try setup.http.waitForJob(bad) { $0 == "failed" }
        #expect(try setup.remote(["cancel", "\(controlRun)/slow"]).stdout == "cancel requested for job \(slow) (slow)\n")
        try setup.http.waitForJob(slow) { $0 == "cancelled" }
        #expect(try setup.remote(["resume", controlRun]).stdout == "run \(controlRun) resumed\n")
        let cancelled = try setup.remote(["cancel", controlRun])
        #expect(cancelled.stdout == "cancel requested for run \(controlRun)\n", "\(cancelled)")

        // The config file's server and token file, no flags.
        let config = setup.sandbox.directory.appendingPathComponent("config/apo")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try "server: \(setup.http.base)\ntoken_file: \(setup.tokenFile)\n"
            .write(to: config.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        let configured = try setup.run(["show", run], environment: ["XDG_CONFIG_HOME": config.deletingLastPathComponent().path])
        #expect(configured == (try setup.local(["show", run])))

        // A command without a remote mode says so; a server that is down is one line, exit 6.
        let report = try setup.remote(["report", run])
        #expect(report.status == 2 && report.stderr.contains("no remote mode"), "\(report)")
        let down = try setup.run(["--server", "http://127.0.0.1:9", "runs"])
        #expect(down.status == 6 && down.stderr.hasPrefix("error: cannot reach apod at http://127.0.0.1:9"), "\(down)")
        #expect(down.stderr.split(separator: "\n").count == 1)
    }
}
