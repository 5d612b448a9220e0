import APOTestSupport
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

    /// A command's output; throws with the output when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String { try TestCommand.run(arguments) }
}
