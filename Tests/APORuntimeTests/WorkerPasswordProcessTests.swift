import APOStore
import APOTestSupport
import Foundation
import Testing

/// A PostgreSQL password in `apod --db` reaches the workers in their environment, never in their
/// arguments: any user on the host can read a process's arguments (`ps`), not its environment.
@Suite(.serialized)
struct WorkerPasswordProcessTests {
    @Test func workersGetThePasswordInTheirEnvironmentNotTheirArguments() throws {
        let plain = try TestPostgres.createDatabase()
        defer { TestPostgres.dropDatabase(plain) }
        // The test cluster trusts loopback, so any password connects; what matters is where it travels.
        var components = try #require(URLComponents(string: plain))
        components.password = "s3cret-pw"
        let url = try #require(components.string)
        let sandbox = try RuntimeSandbox(databasePath: url)
        defer { sandbox.cleanup() }
        let daemon = try sandbox.spawn("apod", ["--db", url, "--workers", "1", "--log-level", "info"],
                                       stderrName: "apod-1.log")
        let file = try sandbox.write("p.yaml", "name: pw\njobs:\n  - {id: one, kind: noop}\n")
        let artifacts = sandbox.directory.appendingPathComponent("artifacts").path
        let submitted = try sandbox.run("apoctl", ["submit", file, "--db", url, "--artifacts", artifacts])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let store = try sandbox.store()
        try sandbox.waitUntil("the job to finish", timeout: 30) { try store.job(runID: 1, key: "one")?.state == .succeeded }

        let workers = Self.children(of: daemon.processIdentifier)
        #expect(workers.count == 1)
        for pid in workers {
            let arguments = Self.procFile(pid, "cmdline")
            let environment = Self.procFile(pid, "environ")
            #expect(arguments.contains("worker") && arguments.contains("--db"), "\(arguments)")
            #expect(!arguments.contains("s3cret-pw"), "the password is in worker \(pid)'s arguments: \(arguments)")
            #expect(environment.split(separator: "\0").contains("PGPASSWORD=s3cret-pw"))
        }
    }

    @Test func separatingThePasswordKeepsTheRestOfTheURL() {
        let (url, password) = PostgresLocation.separatingPassword("postgres://apo:p%40ss@db.local:5433/runs?sslmode=disable")
        #expect(url == "postgres://apo@db.local:5433/runs?sslmode=disable")
        #expect(password == "p@ss")
        #expect(PostgresLocation.separatingPassword("postgres://apo@db.local/runs") == ("postgres://apo@db.local/runs", nil))
        #expect(PostgresLocation.separatingPassword("/var/lib/apo/apo.db") == ("/var/lib/apo/apo.db", nil))
    }

    /// Pids whose parent is `pid` (Linux /proc).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            let stat = procFile(child, "stat")
            // pid (comm) state ppid …: the fields after the last ')'.
            guard let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    static func procFile(_ pid: Int32, _ name: String) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(name)") else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
