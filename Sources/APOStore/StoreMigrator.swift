import Foundation
import GRDB

/// Applies SQL migrations in name order, each exactly once in its own transaction, recording
/// `(name, applied_at)` in `apo_migrations`; refuses a database that records a migration it lacks.
public struct StoreMigrator: Sendable {
    /// (name, SQL) in apply order.
    public let migrations: [(name: String, sql: String)]

    /// The migrations compiled into this binary from `Migrations/*.sql`.
    public static let embedded = StoreMigrator(migrations: EmbeddedMigrations.all)

    public init(migrations: [(name: String, sql: String)]) {
        self.migrations = migrations.sorted { $0.name < $1.name }
    }

    /// The newest migration this binary knows.
    public var latestName: String { migrations.last?.name ?? "(none)" }

    /// Names of the migrations recorded in the database, in order.
    public func appliedNames(_ writer: some DatabaseWriter) throws -> [String] {
        try writer.write { db in
            try Self.createHistoryTable(db)
            return try String.fetchAll(db, sql: "SELECT name FROM apo_migrations ORDER BY name")
        }
    }

    /// Applies every pending migration. Safe when several processes open one file at once:
    /// each migration re-checks the history inside its own IMMEDIATE transaction.
    public func migrate(_ writer: some DatabaseWriter, now: Date = Date()) throws {
        let known = Set(migrations.map(\.name))
        let applied = try appliedNames(writer)
        if let unknown = applied.filter({ !known.contains($0) }).max() {
            throw StoreError.databaseTooNew(found: unknown, supported: latestName)
        }
        for migration in migrations where !applied.contains(migration.name) {
            try writer.write { db in
                let done = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM apo_migrations WHERE name = ?)",
                    arguments: [migration.name]) ?? false
                if done { return }
                try db.execute(sql: migration.sql)
                try db.execute(sql: "INSERT INTO apo_migrations (name, applied_at) VALUES (?, ?)",
                               arguments: [migration.name, now.timeIntervalSince1970])
            }
        }
    }

    private static func createHistoryTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS apo_migrations (
                name        TEXT PRIMARY KEY NOT NULL,
                applied_at  REAL NOT NULL
            )
            """)
    }
}

/// Facts about the schema compiled into this binary.
public enum StoreInfo {
    public static var migrationNames: [String] { EmbeddedMigrations.all.map(\.name) }
}
