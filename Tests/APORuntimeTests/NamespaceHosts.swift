import Foundation

/// Test hosts on one machine: each host is a Linux network namespace joined to the root namespace
/// by a veth pair, so what it runs reaches the root side (where PostgreSQL listens) over a link
/// the test can cut. Needs root and iproute2; `unavailableReason` says why not when it cannot.
final class NamespaceHosts {
    struct Host {
        let name: String
        let namespace: String
        /// The veth end in the root namespace: taking it down cuts the host off.
        let rootInterface: String
        /// The root side's address as the host sees it: where the host finds PostgreSQL.
        let serverAddress: String
    }

    let hosts: [Host]
    private static let ip = "/usr/sbin/ip"

    /// nil when namespaces can be made here; otherwise why not.
    static func unavailableReason() -> String? {
        if ProcessInfo.processInfo.environment["APO_TEST_HOSTS"] == "loopback" { return "APO_TEST_HOSTS=loopback" }
        guard getuid() == 0 else { return "network namespaces need root (uid \(getuid()))" }
        guard FileManager.default.isExecutableFile(atPath: ip) else { return "\(ip) is missing (apt-get install iproute2)" }
        let probe = "apoprobe\(getpid())"
        guard (try? run([ip, "netns", "add", probe])) != nil else { return "`ip netns add` was refused by this sandbox" }
        _ = try? run([ip, "netns", "del", probe])
        return nil
    }

    /// Hosts named `names`, on subnets 10.<octet>.<i>.0/24 (the octet keeps two test runs apart).
    init(names: [String]) throws {
        let tag = String(UInt32.random(in: 0..<0xFFFF), radix: 16)
        let octet = Int.random(in: 100..<200)
        var made: [Host] = []
        do {
            for (i, name) in names.enumerated() {
                let namespace = "apo\(tag)\(i)"
                let root = "apo\(tag)r\(i)"
                let inside = "apo\(tag)h\(i)"
                let server = "10.\(octet).\(i + 1).1"
                let address = "10.\(octet).\(i + 1).2"
                try Self.run([Self.ip, "netns", "add", namespace])
                made.append(Host(name: name, namespace: namespace, rootInterface: root, serverAddress: server))
                try Self.run([Self.ip, "link", "add", root, "type", "veth", "peer", "name", inside])
                try Self.run([Self.ip, "link", "set", inside, "netns", namespace])
                try Self.run([Self.ip, "addr", "add", "\(server)/24", "dev", root])
                try Self.run([Self.ip, "link", "set", root, "up"])
                try Self.run([Self.ip, "-n", namespace, "addr", "add", "\(address)/24", "dev", inside])
                try Self.run([Self.ip, "-n", namespace, "link", "set", inside, "up"])
                try Self.run([Self.ip, "-n", namespace, "link", "set", "lo", "up"])
            }
        } catch {
            Self.remove(made)
            throw error
        }
        hosts = made
    }

    /// `command` run inside `host`'s namespace.
    func command(in host: Host, _ command: [String]) -> [String] {
        [Self.ip, "netns", "exec", host.namespace] + command
    }

    func cut(_ host: Host) throws { try Self.run([Self.ip, "link", "set", host.rootInterface, "down"]) }
    func heal(_ host: Host) throws { try Self.run([Self.ip, "link", "set", host.rootInterface, "up"]) }

    deinit { Self.remove(hosts) }

    private static func remove(_ hosts: [Host]) {
        for host in hosts {
            _ = try? run([ip, "link", "del", host.rootInterface])
            _ = try? run([ip, "netns", "del", host.namespace])
        }
    }

    struct CommandFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a command to completion; its output when it succeeds. Through `system(3)` with the
    /// output in a file: a server the command starts (pg_ctl) inherits descriptors and outlives
    /// it, which a pipe, or Foundation's wait for the child, does not survive.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("apo-cmd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system(quoted.joined(separator: " ") + " </dev/null >'\(file.path)' 2>&1")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw CommandFailed(description: "\(arguments.joined(separator: " ")) exited \(status): \(text)")
        }
        return text
    }
}

/// A PostgreSQL cluster of the test's own, listening on loopback and on the addresses given
/// (the root side of test hosts' links), with trust authentication for them. Stopped on deinit.
final class TestPostgresCluster {
    let directory: URL
    let port: Int
    private let script: URL

    init(directory: URL, listen addresses: [String]) throws {
        self.directory = directory
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root = root.deletingLastPathComponent()
        }
        script = root.appendingPathComponent("deploy/postgres-cluster.sh")
        port = Int.random(in: 20_000..<40_000)
        try NamespaceHosts.run([script.path, "start", directory.path, String(port),
                                (["127.0.0.1"] + addresses).joined(separator: ",")])
    }

    /// The URL a process uses to reach the cluster at `address`.
    func url(at address: String = "127.0.0.1", database: String = "postgres") -> String {
        "postgres://apo@\(address):\(port)/\(database)"
    }

    /// A fast restart: the server drops every connection and is back about a second later.
    func restart() throws { try NamespaceHosts.run([script.path, "restart", directory.path]) }

    /// Stopped and removed, with the folder holding it when nothing else is left there (earlier
    /// runs left one cluster folder per test in /tmp).
    deinit {
        _ = try? NamespaceHosts.run([script.path, "stop", directory.path])
        let fm = FileManager.default
        try? fm.removeItem(at: directory)
        try? fm.removeItem(atPath: directory.path + ".initdb.log")
        let parent = directory.deletingLastPathComponent()
        if (try? fm.contentsOfDirectory(atPath: parent.path))?.isEmpty == true { try? fm.removeItem(at: parent) }
    }
}
