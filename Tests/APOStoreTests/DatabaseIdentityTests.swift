import Foundation
import Testing
@testable import APOStore

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
