import APOStore
import APOTestSupport
import Foundation
import Testing

/// A temporary directory with its own database, and the real `apod`/`apoctl` binaries from this
/// build. Every process it starts is killed in `cleanup()`.
final class RuntimeSandbox {
    let directory: URL
    let databasePath: String
    let binaries: URL
    private var children: [Process] = []
    private var logCount = 0

    struct CommandResult {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameter databasePath: a PostgreSQL URL to use instead of the sandbox's SQLite file.
    init(databasePath: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("apo-runtime-test-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.databasePath = databasePath ?? directory.appendingPathComponent("apo.db").path
        binaries = try TestBinaries.directory()
    }

    func store() throws -> JobStore { try JobStore(path: databasePath) }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Starts `apod` (foreground daemon); its stderr goes to a log file in the sandbox.
    @discardableResult
    func startDaemon(workers: Int = 2, leaseSeconds: Double = 2, stopGrace: Double? = nil) throws -> Process {
        logCount += 1
        return try spawn("apod", ["--db", databasePath, "--workers", String(workers),
                                  "--lease-seconds", String(leaseSeconds), "--log-level", "info"]
                                 + (stopGrace.map { ["--stop-grace", String($0)] } ?? []),
                         stderrName: "apod-\(logCount).log")
    }

    func spawn(_ executable: String, _ arguments: [String], stderrName: String? = nil,
               stdoutName: String? = nil, currentDirectory: URL? = nil,
               environment: [String: String] = [:], wrappedIn wrapper: [String] = []) throws -> Process {
        let process = Process()
        let path = binaries.appendingPathComponent(executable).path
        // A wrapper (`ip netns exec NS`) execs the binary, so the process is still the binary's.
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? path)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [path] + arguments
        process.currentDirectoryURL = currentDirectory ?? directory
        // OMP_WAIT_POLICY too: the executables choose it themselves (OpenMPWaitPolicy), which a test checks.
        // No user config either: apoctl would read `db:` from the tester's ~/.config/apo/config.yaml.
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "APO_DB" && $0.key != "OMP_WAIT_POLICY" }
            .merging(["XDG_CONFIG_HOME": directory.appendingPathComponent("no-config").path]) { _, sandbox in sandbox }
            .merging(environment) { _, given in given }
        process.standardInput = FileHandle.nullDevice
        process.standardError = try outputFile(stderrName ?? "\(executable)-\(UUID().uuidString.prefix(6)).err")
        process.standardOutput = try outputFile(stdoutName ?? "\(executable)-\(UUID().uuidString.prefix(6)).out")
        try process.run()
        children.append(process)
        return process
    }

    private func outputFile(_ name: String) throws -> FileHandle {
        let url = directory.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: nil)
        return try FileHandle(forWritingTo: url)
    }

    func read(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// Runs `apoctl ARGS --db <sandbox db>` to completion.
    func apoctl(_ arguments: [String], timeout: TimeInterval = 30) throws -> CommandResult {
        try run("apoctl", arguments + ["--db", databasePath], timeout: timeout)
    }

    /// Runs `EXECUTABLE ARGS` (apod or apoctl, no `--db` added) to completion in
    /// `currentDirectory` (default: the sandbox).
    func run(_ executable: String, _ arguments: [String], currentDirectory: URL? = nil,
             environment: [String: String] = [:], timeout: TimeInterval = 30) throws -> CommandResult {
        let tag = UUID().uuidString.prefix(8)
        let process = try spawn(executable, arguments, stderrName: "\(executable)-\(tag).err",
                                stdoutName: "\(executable)-\(tag).out", currentDirectory: currentDirectory,
                                environment: environment)
        guard wait(for: process, timeout: timeout) else {
            process.terminate()
            throw Failure(description: "\(executable) \(arguments) did not finish within \(timeout) s")
        }
        return CommandResult(status: process.terminationStatus, stdout: read("\(executable)-\(tag).out"),
                             stderr: read("\(executable)-\(tag).err"))
    }

    /// True when the process exited within `timeout`.
    func wait(for process: Process, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { return false }
        process.waitUntilExit()
        return true
    }

    func signal(_ process: Process, _ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Polls `condition` every 10 ms until it holds; throws with `what` after `timeout`.
    func waitUntil(_ what: String, timeout: TimeInterval = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
        throw Failure(description: "timed out after \(timeout) s waiting for \(what)\n" + daemonLogs())
    }

    @discardableResult
    func waitForRun(_ runID: Int64, timeout: TimeInterval = 30) throws -> RunRecord {
        let store = try store()
        try waitUntil("run \(runID) to finish", timeout: timeout) { try store.run(runID)?.state != .running }
        return try store.run(runID)!
    }

    func daemonLogs() -> String {
        (1...max(logCount, 1)).map { "--- apod-\($0).log\n" + read("apod-\($0).log") }.joined(separator: "\n")
    }

    /// The pid in a worker id "w1@host:PID".
    static func pid(ofWorker workerID: String) -> Int32? {
        workerID.split(separator: ":").last.flatMap { Int32($0) }
    }

    func cleanup() {
        for child in children where child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        // Workers notice their parent is gone within ~50 ms and release their jobs; give them
        // that time before removing their database.
        Thread.sleep(forTimeInterval: 0.2)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Builds NewRun values for tests that bypass YAML.
enum TestRuns {
    static func job(_ key: String, _ kind: String = "noop", params: String = "{}", needs: [String] = [],
                    maxAttempts: Int = 3, timeout: Double? = nil, memoize: Bool = false,
                    resources: String = "{}") -> NewJob {
        NewJob(key: key, kind: kind, kindVersion: 1, paramsJSON: params, needs: needs, priority: 0,
               maxAttempts: maxAttempts, backoffBaseSeconds: 0.05, backoffMaxSeconds: 0.2,
               timeoutSeconds: timeout, resourcesJSON: resources, memoize: memoize)
    }

    /// A run whose folder exists, as `apoctl submit` makes it.
    static func run(_ jobs: [NewJob], in sandbox: RuntimeSandbox, name: String = "test") -> NewRun {
        let root = sandbox.directory.appendingPathComponent("artifacts/\(UUID().uuidString.prefix(6))")
        try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return NewRun(pipelineName: name, pipelineYAML: "# \(name)\n", pipelineHash: UUID().uuidString,
                      paramsJSON: "{}", artifactRoot: root.path, jobs: jobs)
    }
}
