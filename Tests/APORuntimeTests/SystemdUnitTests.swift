import Foundation
import Testing

/// The shipped systemd units (`deploy/systemd/`) load cleanly in systemd's own checker, with
/// ExecStart pointed at the apod this build made (the checker refuses a missing binary), and keep
/// the properties README promises: restarted on failure, a dedicated user, systemd-managed state.
struct SystemdUnitTests {
    static let units = ["apod.service", "apod-host.service"]

    static func repositoryRoot() -> URL {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    @Test func unitsPassSystemdAnalyzeVerify() throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            Issue.record("systemd-analyze is missing: install systemd (deploy/install-deps.sh does)")
            return
        }
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        var copies: [String] = []
        for unit in Self.units {
            let text = try String(contentsOf: Self.repositoryRoot().appendingPathComponent("deploy/systemd/\(unit)"), encoding: .utf8)
            #expect(text.contains("ExecStart=/usr/local/bin/apod "), "\(unit) starts the installed apod")
            copies.append(try sandbox.write(unit, text.replacingOccurrences(
                of: "/usr/local/bin/apod", with: sandbox.binaries.appendingPathComponent("apod").path)))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: analyze)
        process.arguments = ["verify"] + copies
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && output.isEmpty, "systemd-analyze verify: \(output)")
    }

    @Test(arguments: units)
    func unitsRestartOnFailureAsTheirOwnUser(unit: String) throws {
        let text = try String(contentsOf: Self.repositoryRoot().appendingPathComponent("deploy/systemd/\(unit)"), encoding: .utf8)
        let settings = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        for line in ["Restart=on-failure", "User=apo", "Group=apo", "CacheDirectory=apo", "KillMode=mixed"] {
            #expect(settings.contains(line), "\(unit) lacks \(line)")
        }
        if unit == "apod.service" { #expect(settings.contains("StateDirectory=apo")) }
    }
}
