import Foundation
import GRDB
import Testing
@testable import APOStore

@Suite struct MigrationTests {
    @Test func freshFileIsWALWithForeignKeys() throws {
        let database = try TemporaryDatabase()
        let store = try database.openStore()
        let driver = try #require(store.driver as? SQLiteDriver)
        let (journal, foreignKeys) = try driver.withDatabase { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
    }

    /// Both dialects have the same migrations by name, so a schema version means one schema.
    @Test(arguments: StoreDriverKind.allCases) func migrationsAreRecordedOnceUnderTheSameNames(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let history = "SELECT name, applied_at FROM apo_migrations ORDER BY name"
        let applied = try store.read { db in try db.fetchAll(history) }
        #expect(applied.map { $0["name"] as String } == StoreInfo.migrationNames)
        #expect(StoreMigrator.embedded(for: .postgres).migrations.map(\.name) == StoreInfo.migrationNames)
        #expect(StoreInfo.migrationNames.first == "0001_initial")

        // Reopening applies nothing again: the recorded times are unchanged.
        let reopened = try database.openStore()
        let again = try reopened.read { db in try db.fetchAll(history) }
        #expect(again.map(\.values) == applied.map(\.values))
    }

    @Test(arguments: StoreDriverKind.allCases) func databaseWithUnknownMigrationIsRefused(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        // A newer apo wrote this database: it knows one more migration than we do.
        let newer = StoreMigrator(migrations: database.embeddedMigrations + [
            (name: "9999_future", sql: "CREATE TABLE future_things (id INTEGER PRIMARY KEY)"),
        ])
        _ = try database.openStore(migrator: newer)

        let latest = StoreMigrator.embedded.latestName
        expectStoreError(.databaseTooNew(found: "9999_future", supported: latest)) {
            _ = try database.openStore()
        }
        let message = StoreError.databaseTooNew(found: "9999_future", supported: latest).description
        #expect(message.contains("9999_future") && message.contains(latest))
    }

    @Test(arguments: StoreDriverKind.allCases) func failingMigrationRollsBackAndIsNotRecorded(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let broken = StoreMigrator(migrations: database.embeddedMigrations + [
            (name: "9999_broken", sql: """
                CREATE TABLE half_done (id INTEGER PRIMARY KEY);
                INSERT INTO no_such_table VALUES (1);
                """),
        ])
        #expect(throws: (any Error).self) {
            _ = try database.openStore(migrator: broken)
        }
        // The good migration stays applied; the broken one left nothing behind.
        let store = try database.openStore()
        let (names, halfDone) = try store.read { db in
            (try db.fetchColumn(String.self, "SELECT name FROM apo_migrations ORDER BY name"),
             try db.fetchValue(Int.self, db.dialect == .sqlite
                ? "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"
                : "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'half_done'") != 0)
        }
        #expect(names == StoreInfo.migrationNames)
        #expect(!halfDone)
    }

    @Test(arguments: StoreDriverKind.allCases) func databaseFromBeforeDirectoryArtifactsKeepsItsRowsAsFiles(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        // A database written by an apo that knew only the first schema, with one artifact in it.
        let first = StoreMigrator(migrations: database.embeddedMigrations.filter { $0.name == "0001_initial" })
        let old = try database.openStore(migrator: first)
        // Rows as that apo wrote them: in its columns only (today's createRun writes later ones).
        let runID = try old.driver.write { db -> Int64 in
            try db.execute("INSERT INTO pipelines (name, yaml, sha256, created_at) VALUES ('t', 'name: t', 'h', 0)", [])
            let runID = try db.fetchValue(Int64.self, """
                INSERT INTO runs (pipeline_id, state, params_json, artifact_root, created_at)
                VALUES ((SELECT id FROM pipelines), 'running', '{}', 'run', 0) RETURNING id
                """)!
            let jobID = try db.fetchValue(Int64.self, """
                INSERT INTO jobs (run_id, key, kind, kind_version, params_json, state, priority, resources_json,
                    max_attempts, backoff_base_seconds, backoff_max_seconds, memoize, created_at)
                VALUES (?, 'a', 'noop', 1, '{}', 'queued', 0, '{}', 3, 1, 1, 0, 0) RETURNING id
                """, [runID])!
            try db.execute("""
                INSERT INTO artifacts (job_id, name, path, sha256, size, created_at)
                VALUES (?, 'out.json', 'run/out.json', 'ab', 2, 0)
                """, [jobID])
            return runID
        }

        let upgraded = try database.openStore()
        #expect(try StoreMigrator.embedded(for: upgraded.driver.dialect).appliedNames(upgraded.driver) == StoreInfo.migrationNames)
        #expect(StoreInfo.migrationNames.contains("0002_artifact_type"))
        let artifacts = try upgraded.artifacts(runID: runID)
        #expect(artifacts.map { [$0.name, $0.type.rawValue, $0.sha256] } == [["out.json", "file", "ab"]])
    }

    @Test func fileThatIsNotADatabaseIsAnErrorNotACrash() throws {
        let database = try TemporaryDatabase()
        try Data("this is not SQLite, just text that happens to be long enough\n".utf8)
            .write(to: URL(fileURLWithPath: database.path))
        expectStoreError(.notAnApoDatabase(path: database.path, reason: "it is 61 bytes long, shorter than any SQLite database")) {
            _ = try database.openStore()
        }
        #expect(try String(contentsOfFile: database.path, encoding: .utf8).hasPrefix("this is not SQLite"))
    }
}
