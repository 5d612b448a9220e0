@testable import APOServer
import Foundation
import Testing

/// The pure rules: listen addresses, who may write, and which artifact paths resolve.
struct RuleTests {
    @Test func listenAddressesParseAndDefaultToLoopback() {
        #expect(ListenAddress(parsing: "8470") == ListenAddress(host: "127.0.0.1", port: 8470))
        #expect(ListenAddress(parsing: ":8470") == ListenAddress(host: "127.0.0.1", port: 8470))
        #expect(ListenAddress(parsing: "0.0.0.0:80") == ListenAddress(host: "0.0.0.0", port: 80))
        #expect(ListenAddress(parsing: "[::1]:9") == ListenAddress(host: "::1", port: 9))
        for bad in ["", "host:", "x:70000", "::1:80", "[::1]80", "a b:1", "-1"] {
            #expect(ListenAddress(parsing: bad) == nil, "\(bad)")
        }
        #expect(ListenAddress(host: "127.0.0.1", port: 1).isLoopback)
        #expect(ListenAddress(host: "::1", port: 1).isLoopback)
        #expect(ListenAddress(host: "localhost", port: 1).isLoopback)
        #expect(!ListenAddress(host: "0.0.0.0", port: 1).isLoopback)
        #expect(!ListenAddress(host: "10.0.0.7", port: 1).isLoopback)
    }

    @Test func writesNeedATokenUnlessLoopback() {
        let open = ListenAddress(host: "0.0.0.0", port: 8470)
        let local = ListenAddress(host: "127.0.0.1", port: 8470)
        guard case .refused = WriteAccess.rule(token: nil, address: open) else { Issue.record("not refused"); return }
        guard case .loopbackOpen = WriteAccess.rule(token: nil, address: local) else { Issue.record("not open"); return }
        guard case .bearerToken = WriteAccess.rule(token: "t", address: open) else { Issue.record("no token"); return }
        #expect(WriteAccess.sameToken("abc", "abc"))
        #expect(!WriteAccess.sameToken("abd", "abc"))
        #expect(!WriteAccess.sameToken("ab", "abc"))
    }

    @Test func tokenFilesMustHoldALongEnoughToken() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-token-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good")
        try "  0123456789abcdefXYZ  \nsecond line\n".write(to: good, atomically: true, encoding: .utf8)
        #expect(try TokenFile.read(path: good.path) == "0123456789abcdefXYZ")
        let short = dir.appendingPathComponent("short")
        try "abc\n".write(to: short, atomically: true, encoding: .utf8)
        #expect(throws: TokenFile.Unusable.self) { try TokenFile.read(path: short.path) }
        #expect(throws: TokenFile.Unusable.self) { try TokenFile.read(path: dir.appendingPathComponent("none").path) }
    }

    @Test func artifactPathsStayInsideTheRunFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("apo-run-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("m"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        // A symlink inside the folder that points out of it.
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("out").path, withDestinationPath: "/etc")
        #expect(ArtifactPaths.resolve(segments: ["m", "x.json"], under: root.path) != nil)
        for bad in [["..", "x"], ["m", "..", "..", "x"], ["."], [], ["a/b"], [""], ["out", "passwd"]] {
            #expect(ArtifactPaths.resolve(segments: bad, under: root.path) == nil, "\(bad)")
        }
        #expect(ArtifactPaths.relative("/a/b/c", to: "/a/b") == "c")
        #expect(ArtifactPaths.relative("/a/bc", to: "/a/b") == nil)
    }
}
