import Foundation

/// Applies SQL migrations in name order, each exactly once in its own transaction, recording
/// `(name, applied_at)` in `apo_migrations`; refuses a database that records a migration it lacks.
/// Each dialect has its own files with the same names (`Migrations/`, `Migrations/postgres/`), so
/// a schema version means the same tables and views in both.
public struct StoreMigrator: Sendable {
    /// (name, SQL) in apply order.
    public let migrations: [(name: String, sql: String)]

    /// The SQLite migrations compiled into this binary from `Migrations/*.sql`.
    public static let embedded = StoreMigrator(migrations: EmbeddedMigrations.sqlite)

    /// The migrations compiled into this binary for `dialect`.
    public static func embedded(for dialect: SQLDialect) -> StoreMigrator {
        switch dialect {
        case .sqlite: return embedded
        case .postgres: return StoreMigrator(migrations: EmbeddedMigrations.postgres)
        }
    }

    public init(migrations: [(name: String, sql: String)]) {
        self.migrations = migrations.sorted { $0.name < $1.name }
    }

    /// The newest migration this binary knows.
    public var latestName: String { migrations.last?.name ?? "(none)" }

    /// Names of the migrations recorded in the database, in order.
    public func appliedNames(_ driver: any StoreDriver) throws -> [String] {
        try driver.write { db in
            try Self.lockHistory(db)
            try Self.createHistoryTable(db)
            return try db.fetchColumn(String.self, "SELECT name FROM apo_migrations ORDER BY name")
        }
    }

    /// Applies every pending migration. Safe when several processes (or hosts) open one database
    /// at once: each migration re-checks the history inside its own transaction, which holds the
    /// history's lock (SQLite: the write lock; PostgreSQL: an advisory lock).
    public func migrate(_ driver: any StoreDriver, now: Date = Date()) throws {
        let known = Set(migrations.map(\.name))
        let applied = try appliedNames(driver)
        if let unknown = applied.filter({ !known.contains($0) }).max() {
            throw StoreError.databaseTooNew(found: unknown, supported: latestName)
        }
        for migration in migrations where !applied.contains(migration.name) {
            try driver.write { db in
                try Self.lockHistory(db)
                let done = try db.fetchValue(Bool.self,
                    "SELECT EXISTS (SELECT 1 FROM apo_migrations WHERE name = ?)", [migration.name]) ?? false
                if done { return }
                try db.executeScript(migration.sql)
                try db.execute("INSERT INTO apo_migrations (name, applied_at) VALUES (?, ?)",
                               [migration.name, now.timeIntervalSince1970])
            }
        }
    }

    private static func lockHistory(_ db: any SQLTransaction) throws {
        // Any constant will do: it only has to be the same for every apo.
        if db.dialect == .postgres { try db.execute("SELECT pg_advisory_xact_lock(4152738)") }
    }

    private static func createHistoryTable(_ db: any SQLTransaction) throws {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS apo_migrations (
                name        TEXT PRIMARY KEY NOT NULL,
                applied_at  \(db.dialect == .sqlite ? "REAL" : "DOUBLE PRECISION") NOT NULL
            )
            """)
    }
}

/// Facts about the schema compiled into this binary.
public enum StoreInfo {
    public static var migrationNames: [String] { EmbeddedMigrations.sqlite.map(\.name) }
}
