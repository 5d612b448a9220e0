import Foundation
import GRDB
import Testing
@testable import APOStore

@Suite struct MigrationTests {
    @Test func freshFileIsWALWithForeignKeysAndRecordedMigrations() throws {
        let database = try TemporaryDatabase()
        let store = try database.openStore()
        let (journal, foreignKeys, applied) = try store.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"),
             try Row.fetchAll(db, sql: "SELECT name, applied_at FROM apo_migrations ORDER BY name"))
        }
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
        #expect(applied.map { $0["name"] as String } == StoreInfo.migrationNames)
        #expect(StoreInfo.migrationNames.first == "0001_initial")

        // Reopening applies nothing again: the recorded times are unchanged.
        let reopened = try database.openStore()
        let again = try reopened.read { db in
            try Row.fetchAll(db, sql: "SELECT name, applied_at FROM apo_migrations ORDER BY name")
        }
        #expect(again == applied)
    }

    @Test func databaseWithUnknownMigrationIsRefused() throws {
        let database = try TemporaryDatabase()
        // A newer apo wrote this file: it knows one more migration than we do.
        let newer = StoreMigrator(migrations: EmbeddedMigrations.all + [
            (name: "9999_future", sql: "CREATE TABLE future_things (id INTEGER PRIMARY KEY)"),
        ])
        _ = try JobStore(path: database.path, busyTimeout: 5, migrator: newer)

        let latest = StoreMigrator.embedded.latestName
        expectStoreError(.databaseTooNew(found: "9999_future", supported: latest)) {
            _ = try database.openStore()
        }
        let message = StoreError.databaseTooNew(found: "9999_future", supported: latest).description
        #expect(message.contains("9999_future") && message.contains(latest))
    }

    @Test func failingMigrationRollsBackAndIsNotRecorded() throws {
        let database = try TemporaryDatabase()
        let broken = StoreMigrator(migrations: EmbeddedMigrations.all + [
            (name: "9999_broken", sql: """
                CREATE TABLE half_done (id INTEGER PRIMARY KEY);
                INSERT INTO no_such_table VALUES (1);
                """),
        ])
        #expect(throws: DatabaseError.self) {
            _ = try JobStore(path: database.path, busyTimeout: 5, migrator: broken)
        }
        // The good migration stays applied; the broken one left nothing behind.
        let store = try database.openStore()
        let (names, halfDone) = try store.read { db in
            (try String.fetchAll(db, sql: "SELECT name FROM apo_migrations ORDER BY name"),
             try db.tableExists("half_done"))
        }
        #expect(names == StoreInfo.migrationNames)
        #expect(!halfDone)
    }

    @Test func databaseFromBeforeDirectoryArtifactsKeepsItsRowsAsFiles() throws {
        let database = try TemporaryDatabase()
        // A file written by an apo that knew only the first schema, with one artifact in it.
        let first = StoreMigrator(migrations: EmbeddedMigrations.all.filter { $0.name == "0001_initial" })
        let old = try JobStore(path: database.path, busyTimeout: 5, migrator: first)
        let runID = try old.createRun(newRun([job("a")]), now: t0)
        let claimed = try old.mustClaim(now: at(1))
        try old.pool.write { db in
            try db.execute(sql: """
                INSERT INTO artifacts (job_id, name, path, sha256, size, created_at)
                VALUES (?, 'out.json', 'run/out.json', 'ab', 2, 0)
                """, arguments: [claimed.job.id])
        }

        let upgraded = try database.openStore()
        #expect(try StoreMigrator.embedded.appliedNames(upgraded.pool) == StoreInfo.migrationNames)
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
