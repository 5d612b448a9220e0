@testable import APOStore
import APOTestSupport
import Foundation
import Testing

/// TLS to PostgreSQL with libpq's `sslmode` meanings: against a cluster of the test's own that has
/// a CA and a server certificate made for it (localhost, 127.0.0.1; it also listens on 127.0.0.2,
/// which the certificate does not name), and against the suite's plain server.
@Suite(.serialized)
struct PostgresTLSTests {
    /// "tls" or "plain": how the server sees the store's own connection.
    static func transport(_ url: String) throws -> String {
        let driver = try PostgresDriver(url: url, clock: .caller)
        defer { driver.close() }
        return try driver.read { tx in
            let rows = try tx.fetchAll("SELECT CASE WHEN ssl THEN 'tls' ELSE 'plain' END AS how FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])
            return rows.first.map { $0["how"] as String } ?? "none"
        }
    }

    /// Why opening `url` failed (nil: it opened).
    static func refusal(_ url: String) -> String? {
        do {
            _ = try transport(url)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func verifiedTLSCarriesTheStoreAndAnUntrustedServerIsRefusedSayingWhy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apo-tls-\(UUID().uuidString.prefix(8))")
        let cluster = try TestPostgresCluster(directory: directory.appendingPathComponent("pg"), listen: ["127.0.0.2"])
        let files = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        // The cluster removes its own folder, and `directory` once nothing else is left in it.
        defer { withExtendedLifetime(cluster) { try? FileManager.default.removeItem(at: files) } }
        let ca = try cluster.enableTLS()
        let base = cluster.url()

        // The whole store (migrations, a run) over a verified connection.
        let verified = base + "?sslmode=verify-full&sslrootcert=" + ca
        #expect(try Self.transport(verified) == "tls")
        let store = try JobStore(path: verified)
        _ = try store.createRun(NewRun(pipelineName: "tls", pipelineYAML: "name: tls\n", pipelineHash: "h", paramsJSON: "{}",
                                       artifactRoot: files.path, jobs: []), now: Date())
        #expect(try store.runs(limit: 5).map(\.pipelineName) == ["tls"])
        // libpq's default, prefer, takes TLS when the server offers it; require takes it unchecked.
        #expect(try Self.transport(base) == "tls")
        #expect(try Self.transport(base + "?sslmode=require") == "tls")
        #expect(try Self.transport(base + "?sslmode=disable") == "plain")

        // A CA that did not sign the server's certificate.
        let otherCA = files.appendingPathComponent("other-ca.crt").path
        try TestCommand.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                             "-keyout", files.appendingPathComponent("other-ca.key").path, "-out", otherCA])
        let untrusted = Self.refusal(base + "?sslmode=verify-ca&sslrootcert=" + otherCA)
        #expect(untrusted?.contains("TLS with the server failed") == true, "\(untrusted ?? "opened")")
        #expect(untrusted?.contains("does sslrootcert hold the CA that signed the server's certificate?") == true)
        // require with a root certificate checks it, as libpq does.
        #expect(Self.refusal(base + "?sslmode=require&sslrootcert=" + otherCA)?.contains("TLS with the server failed") == true)

        // 127.0.0.2 is the same server, but the certificate does not name it: verify-full refuses,
        // verify-ca (the chain only) accepts.
        let otherHost = cluster.url(at: "127.0.0.2")
        let misnamed = Self.refusal(otherHost + "?sslmode=verify-full&sslrootcert=" + ca)
        #expect(misnamed?.contains("does that certificate name this host?") == true, "\(misnamed ?? "opened")")
        #expect(try Self.transport(otherHost + "?sslmode=verify-ca&sslrootcert=" + ca) == "tls")

        // A server that authenticates this user by certificate: refused without one, in with it.
        let admin = try PostgresDriver(url: base + "?sslmode=disable", clock: .caller)
        try admin.autocommit("CREATE ROLE certuser LOGIN")
        admin.close()
        let (certificate, key) = try cluster.clientCertificate(user: "certuser")
        let asCertUser = cluster.url().replacingOccurrences(of: "apo@", with: "certuser@") + "?sslmode=verify-full&sslrootcert=" + ca
        let noCertificate = Self.refusal(asCertUser)
        #expect(noCertificate?.contains("connection requires a valid client certificate") == true, "\(noCertificate ?? "opened")")
        #expect(try Self.transport(asCertUser + "&sslcert=" + certificate + "&sslkey=" + key) == "tls")
        let badKey = Self.refusal(asCertUser + "&sslcert=" + certificate + "&sslkey=" + certificate)
        #expect(badKey?.contains("sslkey \(certificate): not PEM") == true, "\(badKey ?? "opened")")

        // A root file that is missing or not PEM is named before any connection.
        let missing = Self.refusal(base + "?sslmode=verify-full&sslrootcert=" + files.appendingPathComponent("nope.crt").path)
        #expect(missing?.contains("nope.crt: no such readable file") == true, "\(missing ?? "opened")")
        let garbage = files.appendingPathComponent("garbage.crt")
        try Data("not a certificate\n".utf8).write(to: garbage)
        #expect(Self.refusal(base + "?sslmode=verify-full&sslrootcert=" + garbage.path)?.contains("garbage.crt: not PEM certificates") == true)
    }

    @Test func requireAgainstAServerWithoutTLSIsRefusedAndPreferFallsBackToPlain() throws {
        let server = try TestPostgres.serverURL
        #expect(try Self.transport(server) == "plain")
        let refused = Self.refusal(server + "?sslmode=require")
        #expect(refused?.contains("the server does not offer TLS, which sslmode=require requires") == true, "\(refused ?? "opened")")
    }

    @Test func theURLsTLSOptionsAreReadAsLibpqReadsThem() throws {
        let plain = try PostgresLocation(url: "postgres://apo@db/runs", environment: [:])
        #expect(plain.tls == PostgresTLS(mode: .prefer))
        let full = try PostgresLocation(url: "postgres://apo@db/runs?sslmode=verify-full&sslrootcert=/etc/apo/ca.crt", environment: [:])
        #expect(full.tls == PostgresTLS(mode: .verifyFull, rootCertificate: "/etc/apo/ca.crt"))
        let fromEnvironment = try PostgresLocation(url: "postgres://apo@db/runs",
                                                   environment: ["PGSSLMODE": "verify-ca", "PGSSLROOTCERT": "system"])
        #expect(fromEnvironment.tls == PostgresTLS(mode: .verifyCA, rootCertificate: "system"))
        let overridden = try PostgresLocation(url: "postgres://apo@db/runs?sslmode=disable", environment: ["PGSSLMODE": "require"])
        #expect(overridden.tls.mode == .disable, "the URL wins over the environment")

        func problem(_ url: String) -> String {
            do { _ = try PostgresLocation(url: url, environment: [:]); return "accepted" } catch { return "\(error)" }
        }
        #expect(problem("postgres://apo@db/runs?sslmode=allow").contains("sslmode=allow is not one of disable, prefer, require, verify-ca, verify-full"))
        #expect(problem("postgres://apo:secret@db/runs?sslcompression=1").contains("unsupported URL option sslcompression=1 (apo understands sslmode, sslrootcert, sslcert and sslkey)"))
        #expect(!problem("postgres://apo:secret@db/runs?sslcompression=1").contains("secret"))
        #expect(problem("postgres://apo@db/runs?sslcert=/c.pem").contains("sslcert and sslkey go together"))
        #expect(problem("postgres://apo@db/runs?sslmode=disable&sslcert=/c.pem&sslkey=/k.pem").contains("sslcert needs TLS"))
        let client = try PostgresLocation(url: "postgres://apo@db/runs", environment: ["PGSSLCERT": "/c.pem", "PGSSLKEY": "/k.pem"])
        #expect(client.tls == PostgresTLS(mode: .prefer, clientCertificate: "/c.pem", clientKey: "/k.pem"))

        // Verifying without a root certificate: libpq's ~/.postgresql/root.crt, else a clear refusal.
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("apo-home-\(UUID().uuidString.prefix(8))").path
        #expect(throws: PostgresTLS.TLSSetupError.self) { try PostgresTLS(mode: .verifyFull).connectionTLS(home: home) }
        do {
            _ = try PostgresTLS(mode: .verifyFull).connectionTLS(home: home)
        } catch let error as PostgresTLS.TLSSetupError {
            #expect(error.reason.contains("give sslrootcert=FILE (PEM) or sslrootcert=system, or put the CA in \(home)/.postgresql/root.crt"))
        }
    }
}
