import Foundation

/// What `--db` and `$APO_DB` name: an SQLite file (a path, or `sqlite:PATH`) or a PostgreSQL
/// database (`postgres://…`).
public enum StoreLocation {
    /// The location as the store opens it: a URL unchanged, a file path made absolute (workers are
    /// started in other directories).
    public static func resolve(_ location: String) -> String {
        if PostgresLocation.isURL(location) { return location }
        var path = location
        if path.hasPrefix("sqlite://") { path.removeFirst("sqlite://".count) }
        else if path.hasPrefix("sqlite:") { path.removeFirst("sqlite:".count) }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The location as shown in messages and logs: never with a password.
    public static func display(_ location: String) -> String {
        PostgresLocation.isURL(location) ? PostgresLocation.redact(location) : location
    }

    public static func isPostgres(_ location: String) -> Bool { PostgresLocation.isURL(location) }
}
