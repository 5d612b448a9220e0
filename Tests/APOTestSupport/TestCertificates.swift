import Foundation

/// A throwaway CA and a server certificate it signed, made by the `openssl` command (as
/// `deploy/postgres-cluster.sh tls` makes the PostgreSQL test server's).
public struct TestCertificates {
    public let authority: String
    public let certificate: String
    public let key: String

    /// In `directory`: `ca.crt` and `server.crt`/`server.key` for localhost, 127.0.0.1 and `names`.
    public init(in directory: URL, names: [String] = []) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        authority = path("ca.crt")
        certificate = path("server.crt")
        key = path("server.key")
        let sans = (["DNS:localhost", "IP:127.0.0.1"] + names.map { $0.allSatisfy { $0.isNumber || $0 == "." } ? "IP:\($0)" : "DNS:\($0)" })
        try "subjectAltName=\(sans.joined(separator: ","))\n".write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try TestCommand.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=apo test CA",
                             "-keyout", path("ca.key"), "-out", authority])
        try TestCommand.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                             "-keyout", key, "-out", path("server.csr")])
        try TestCommand.run(["openssl", "x509", "-req", "-in", path("server.csr"), "-CA", authority, "-CAkey", path("ca.key"),
                             "-CAcreateserial", "-days", "2", "-extfile", path("server.ext"), "-out", certificate])
    }
}
