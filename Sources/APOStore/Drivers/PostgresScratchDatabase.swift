import Foundation

/// Databases made for one measurement or one test on a PostgreSQL server, and dropped after it:
/// a benchmark or a test never writes into a database someone named for their runs.
public enum PostgresScratchDatabase {
    /// Creates an empty database `<prefix>_<random>` on the server `serverURL` names; its URL.
    public static func create(onServer serverURL: String, prefix: String) throws -> String {
        let name = prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try PostgresDriver(url: serverURL, clock: .caller)
        defer { admin.close() }
        try admin.autocommit("CREATE DATABASE \(name)")
        guard var components = URLComponents(string: serverURL) else {
            throw StoreError.cannotOpen(path: PostgresLocation.redact(serverURL), reason: "not a URL")
        }
        components.path = "/" + name  // the query (sslmode, sslrootcert) is kept
        return components.string!
    }

    /// Drops the database `url` names (closing its other connections); errors are ignored.
    public static func drop(_ url: String) {
        guard var components = URLComponents(string: url) else { return }
        let name = String(components.path.dropFirst())
        components.path = "/postgres"
        guard let admin = try? PostgresDriver(url: components.string!, clock: .caller) else { return }
        defer { admin.close() }
        try? admin.autocommit("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}
