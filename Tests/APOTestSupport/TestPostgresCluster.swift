import Foundation

/// A shell command run to its end (test set-up: clusters, namespaces).
public enum TestCommand {
    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Its stdout and stderr together; throws them when the command fails.
    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("apo-cmd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system(quoted.joined(separator: " ") + " </dev/null >'\(file.path)' 2>&1")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw Failed(description: "\(arguments.joined(separator: " ")) exited \(status): \(text)")
        }
        return text
    }
}

/// A PostgreSQL cluster of the test's own, listening on loopback and on the addresses given
/// (the root side of test hosts' links), with trust authentication for them. Stopped on deinit.
public final class TestPostgresCluster {
    public let directory: URL
    public let port: Int
    private let script: URL

    public init(directory: URL, listen addresses: [String] = []) throws {
        self.directory = directory
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root = root.deletingLastPathComponent()
        }
        script = root.appendingPathComponent("deploy/postgres-cluster.sh")
        port = Int.random(in: 20_000..<40_000)
        _ = try TestCommand.run([script.path, "start", directory.path, String(port),
                                (["127.0.0.1"] + addresses).joined(separator: ",")])
    }

    /// The URL a process uses to reach the cluster at `address`.
    public func url(at address: String = "127.0.0.1", database: String = "postgres") -> String {
        "postgres://apo@\(address):\(port)/\(database)"
    }

    /// Turns TLS on (`postgres-cluster.sh tls`): a new CA and a server certificate it signed for
    /// localhost, 127.0.0.1 and `names`; the CA's PEM file.
    public func enableTLS(names: [String] = []) throws -> String {
        try TestCommand.run([script.path, "tls", directory.path, names.joined(separator: ",")])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// After `enableTLS`: a certificate and key for `user`, signed by the same CA, which that user
    /// must then log in with (pg_hba `cert`); the two PEM files. The role itself is the caller's.
    public func clientCertificate(user: String) throws -> (certificate: String, key: String) {
        let certificate = try TestCommand.run([script.path, "client-cert", directory.path, user])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return (certificate, String(certificate.dropLast(".crt".count)) + ".key")
    }

    /// A fast restart: the server drops every connection and is back about a second later.
    public func restart() throws { _ = try TestCommand.run([script.path, "restart", directory.path]) }

    /// Stopped and removed, with the folder holding it when nothing else is left there (earlier
    /// runs left one cluster folder per test in /tmp).
    deinit {
        _ = try? TestCommand.run([script.path, "stop", directory.path])
        let fm = FileManager.default
        try? fm.removeItem(at: directory)
        try? fm.removeItem(atPath: directory.path + ".initdb.log")
        try? fm.removeItem(atPath: directory.path + ".tls")
        let parent = directory.deletingLastPathComponent()
        if (try? fm.contentsOfDirectory(atPath: parent.path))?.isEmpty == true { try? fm.removeItem(at: parent) }
    }
}
