import Foundation
import Testing
@testable import APOStore
import APOTestSupport

/// `database_identity` (migration 0008): what a run folder records as its owner. A copy of an
/// SQLite file must not pass for the original; a moved file must stay itself.
@Suite struct DatabaseIdentityTests {
    @Test(arguments: StoreDriverKind.allCases) func identityIsMadeOnceAndKeptAcrossConnections(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let first = try database.openStore().databaseIdentity()
        let again = try database.openStore().databaseIdentity()
        #expect(first.id == again.id)
        #expect(first.id.count == 36)
        #expect(try database.openStore().read { db in
            try db.fetchValue(Int.self, "SELECT COUNT(*) FROM database_identity")
        } == 1)
    }

    /// `cp apo.db copy.db`: the copy takes a new identity, the original keeps its own (also when
    /// opened after the copy was), and each keeps its identity from then on.
    @Test func aCopiedFileGetsItsOwnIdentityAndTheOriginalKeepsIt() throws {
        let database = try TemporaryDatabase(.sqlite)
        let original = try closedCopySource(database)
        let copy = database.directory.appendingPathComponent("copy.db").path
        try FileManager.default.copyItem(atPath: database.path, toPath: copy)

        let copied = try JobStore(path: copy).databaseIdentity()
        #expect(copied.id != original.id)
        #expect(copied.location == URL(fileURLWithPath: copy).resolvingSymlinksInPath().path)
        #expect(try JobStore(path: database.path).databaseIdentity().id == original.id)
        #expect(try JobStore(path: copy).databaseIdentity().id == copied.id)
    }

    /// `mv apo.db moved.db` (and a second path to the same file): the same database.
    @Test func aMovedOrLinkedFileKeepsItsIdentity() throws {
        let database = try TemporaryDatabase(.sqlite)
        let original = try closedCopySource(database)
        let folder = database.directory.appendingPathComponent("elsewhere", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let moved = folder.appendingPathComponent("moved.db").path
        try FileManager.default.moveItem(atPath: database.path, toPath: moved)
        #expect(try JobStore(path: moved).databaseIdentity().id == original.id)

        let linked = database.directory.appendingPathComponent("linked.db").path
        #expect(link(moved, linked) == 0)
        #expect(try JobStore(path: linked).databaseIdentity().id == original.id)
        #expect(try JobStore(path: moved).databaseIdentity().id == original.id)
    }

    /// The identity of a fresh file, with every connection to it closed (its WAL folded in), as
    /// a user's `cp` of a database no apod is using would find it.
    private func closedCopySource(_ database: TemporaryDatabase) throws -> DatabaseIdentity {
        let store = try JobStore(path: database.path)
        let identity = try store.databaseIdentity()
        store.driver.close()
        #expect(!FileManager.default.fileExists(atPath: database.path + "-wal"))
        return identity
    }
}

/// PostgreSQL: the database's OID stands in for the file. A template copy on the same server is
/// another database; a rename, or a copy whose original is gone, is the same one.
@Suite struct PostgresDatabaseIdentityTests {
    /// Runs `sql` on the test server's maintenance database.
    func admin(_ sql: String) throws {
        let server = try TestPostgres.serverURL
        let driver = try PostgresDriver(url: server, clock: .caller)
        defer { driver.close() }
        try driver.autocommit(sql)
    }

    func url(_ base: String, database name: String) -> String {
        var components = URLComponents(string: base)!
        components.path = "/" + name
        return components.string!
    }

    func identity(_ url: String) throws -> String {
        let store = try JobStore(driver: PostgresDriver(url: url, clock: .caller), migrator: nil)
        defer { store.driver.close() }
        return try store.databaseIdentity().id
    }

    @Test func aTemplateCopyGetsItsOwnIdentityARenameAndAMoveKeepIt() throws {
        let original = try TestPostgres.createDatabase()
        let name = String(URLComponents(string: original)!.path.dropFirst())
        let copy = name + "_copy", renamed = name + "_renamed", moved = name + "_moved"
        defer { for n in [name, copy, renamed, moved] { TestPostgres.dropDatabase(url(original, database: n)) } }
        let first = try identity(original)

        try admin("CREATE DATABASE \(copy) TEMPLATE \(name)")
        let copied = try identity(url(original, database: copy))
        #expect(copied != first, "a copy beside the original is another database")
        #expect(try identity(original) == first)
        #expect(try identity(url(original, database: copy)) == copied)

        try admin("ALTER DATABASE \(name) RENAME TO \(renamed)")
        #expect(try identity(url(original, database: renamed)) == first, "a rename keeps the OID")

        // Copied, then the original dropped: the copy is where the database lives now.
        try admin("CREATE DATABASE \(moved) TEMPLATE \(renamed)")
        try admin("DROP DATABASE \(renamed)")
        #expect(try identity(url(original, database: moved)) == first)
        #expect(try identity(url(original, database: moved)) == first)
    }
}
