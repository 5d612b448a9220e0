import APOTestSupport
import Foundation
import Testing

/// A temporary directory with its own SQLite database and a real `apod --http` on a free port.
/// Every process it starts is killed in `cleanup()`.
final class DaemonSandbox {
    let directory: URL
    let databasePath: String
    let binaries: URL
    private var daemons: [Process] = []

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameter databasePath: a PostgreSQL URL to use instead of the sandbox's SQLite file.
    init(databasePath: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("apo-http-test-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.databasePath = databasePath ?? directory.appendingPathComponent("apo.db").path
        binaries = try TestBinaries.directory(holding: ["apod"])
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func read(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// Starts `apod --http ADDRESS` and returns it with a client for the address it logged.
    func startDaemon(http address: String = "127.0.0.1:0", extra: [String] = [],
                     workers: Int = 2) throws -> (Process, HTTPClient) {
        let log = "apod-\(daemons.count + 1).log"
        let process = Process()
        process.executableURL = binaries.appendingPathComponent("apod")
        process.arguments = ["--db", databasePath, "--workers", String(workers), "--lease-seconds", "2",
                             "--http", address] + extra
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "APO_DB" && $0.key != "APO_ARTIFACTS" }
        process.standardInput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: directory.appendingPathComponent(log).path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: directory.appendingPathComponent(log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        daemons.append(process)
        let url = try waitForListening(log: log, process: process)
        return (process, HTTPClient(base: url, scratch: directory))
    }

    /// The `http://HOST:PORT` apod logs once it listens (with port 0, the port it got).
    private func waitForListening(log: String, process: Process) throws -> String {
        let marker = "http: listening on "
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = read(log)
            if let range = text.range(of: marker) {
                let rest = text[range.upperBound...]
                return String(rest.prefix { !$0.isWhitespace })
            }
            if !process.isRunning { throw Failure(description: "apod exited:\n\(text)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure(description: "apod did not log its HTTP address:\n\(read(log))")
    }

    /// Runs `executable` (apod, apoctl) from the test binaries to its end: its status and stderr.
    func runToExit(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = try TestBinaries.directory(holding: [executable]).appendingPathComponent(executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// SIGTERM, then the exit status (nil: still running after `timeout`).
    func stop(_ process: Process, timeout: TimeInterval = 30) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func daemonLogs() -> String {
        (1...max(1, daemons.count)).map { read("apod-\($0).log") }.joined(separator: "\n")
    }

    func cleanup() {
        for process in daemons where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
