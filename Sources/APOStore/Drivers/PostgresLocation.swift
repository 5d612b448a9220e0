import Foundation

/// Where a PostgreSQL store lives, from a `postgres://user:password@host:port/database` URL
/// (`postgresql://` too), with `?sslmode=…&sslrootcert=…` (`PostgresTLS`). Missing parts default
/// as libpq's do: port 5432, the user `$PGUSER` or the login name, the database named like the
/// user, the password `$PGPASSWORD`, `sslmode` `$PGSSLMODE` or `prefer`, `sslrootcert`,
/// `sslcert` and `sslkey` `$PGSSLROOTCERT`, `$PGSSLCERT` and `$PGSSLKEY`.
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: PostgresTLS

    /// Whether `location` names a PostgreSQL database rather than an SQLite file.
    public static func isURL(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard Self.isURL(url), let components = URLComponents(string: url) else {
            throw StoreError.cannotOpen(path: url, reason: "not a postgres://user@host/database URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError.cannotOpen(path: Self.redact(url), reason: "the URL names no host")
        }
        self.host = host
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding }
            ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        password = components.password.flatMap { $0.removingPercentEncoding } ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
        tls = try Self.tls(components.queryItems ?? [], environment: environment, url: url)
    }

    private static func tls(_ items: [URLQueryItem], environment: [String: String], url: String) throws -> PostgresTLS {
        var mode = environment["PGSSLMODE"], root = environment["PGSSLROOTCERT"]
        var cert = environment["PGSSLCERT"], key = environment["PGSSLKEY"]
        for item in items {
            switch item.name {
            case "sslmode": mode = item.value
            case "sslrootcert": root = item.value
            case "sslcert": cert = item.value
            case "sslkey": key = item.value
            default:
                throw StoreError.cannotOpen(path: redact(url), reason: "unsupported URL option \(item.name)=\(item.value ?? "") (apo understands sslmode, sslrootcert, sslcert and sslkey)")
            }
        }
        if (cert == nil) != (key == nil) {
            throw StoreError.cannotOpen(path: redact(url), reason: "sslcert and sslkey go together: give both files or neither")
        }
        guard let parsed = PostgresTLS.Mode(rawValue: mode ?? "prefer") else {
            let modes = PostgresTLS.Mode.allCases.map(\.rawValue).joined(separator: ", ")
            throw StoreError.cannotOpen(path: redact(url), reason: "sslmode=\(mode ?? "") is not one of \(modes)")
        }
        for (name, value) in [("sslrootcert", root), ("sslcert", cert), ("sslkey", key)] where value?.isEmpty == true {
            throw StoreError.cannotOpen(path: redact(url), reason: "\(name) is empty")
        }
        if cert != nil, parsed == .disable {
            throw StoreError.cannotOpen(path: redact(url), reason: "sslcert needs TLS, and sslmode=disable turns it off")
        }
        return PostgresTLS(mode: parsed, rootCertificate: root, clientCertificate: cert, clientKey: key)
    }

    /// The URL as shown to people and recorded: never with the password.
    public var displayURL: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// `url` without its password, and the password (percent-decoded): what to hand a child
    /// process as its argument and as `$PGPASSWORD`, so the password never shows in `ps`.
    public static func separatingPassword(_ url: String) -> (url: String, password: String?) {
        guard isURL(url), var components = URLComponents(string: url), let password = components.password else {
            return (url, nil)
        }
        components.password = nil
        return (components.string ?? url, password.removingPercentEncoding ?? password)
    }

    public static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}
