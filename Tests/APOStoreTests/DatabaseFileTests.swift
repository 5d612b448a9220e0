import Foundation
import GRDB
import Testing
@testable import APOStore

/// Files the store must refuse without changing a byte: missing, garbage, another program's
/// SQLite file, read-only, locked, or on a network file system.
@Suite struct DatabaseFileTests {
    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func siblings(of path: String) -> [String] {
        ["-wal", "-shm", "-journal"].map { path + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    @Test func openExistingRefusesAMissingFileAndCreatesNothing() throws {
        let database = try TemporaryDatabase()
        let path = database.directory.appendingPathComponent("sub/typo.db").path
        expectStoreError(.databaseMissing(path: path)) { _ = try JobStore.openExisting(path: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: database.directory.appendingPathComponent("sub").path))
        #expect(StoreError.databaseMissing(path: path).description.contains(path))
    }

    @Test func openExistingOpensAnExistingDatabase() throws {
        let database = try TemporaryDatabase()
        let runID = try database.openStore().createRun(newRun([job("a")]), now: t0)
        let store = try JobStore.openExisting(path: database.path)
        #expect(try store.run(runID) != nil)
    }

    @Test func garbageFileIsRefusedAndLeftByteForByte() throws {
        let database = try TemporaryDatabase()
        var generator = SystemRandomNumberGenerator()
        let garbage = Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try garbage.write(to: URL(fileURLWithPath: database.path))
        do {
            _ = try database.openStore()
            Issue.record("a file of random bytes was opened as a database")
        } catch let error as StoreError {
            guard case .notAnApoDatabase(let path, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == database.path)
            #expect(error.isDatabaseUnavailable)
        }
        #expect(try bytes(database.path) == garbage)
        #expect(siblings(of: database.path).isEmpty)
    }

    /// Short files too: SQLite must not take a few stray bytes for an empty database and write over them.
    @Test(arguments: [1, 5, 100, 511, 600, 4095, 5000])
    func shortGarbageFilesAreRefusedUntouched(size: Int) throws {
        let database = try TemporaryDatabase()
        let garbage = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        try garbage.write(to: URL(fileURLWithPath: database.path))
        #expect(throws: StoreError.self) { _ = try database.openStore() }
        #expect(try bytes(database.path) == garbage)
    }

    @Test func corruptFileBehindAValidHeaderIsRefusedUntouched() throws {
        let database = try TemporaryDatabase()
        // The 16-byte header is right, the page size and everything after it is nonsense.
        var data = Data("SQLite format 3\u{0}".utf8)
        data.append(Data(repeating: 0xA5, count: 4096 - data.count))
        try data.write(to: URL(fileURLWithPath: database.path))
        do {
            _ = try database.openStore()
            Issue.record("a corrupt file was opened as a database")
        } catch let error as StoreError {
            guard case .notAnApoDatabase(let path, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == database.path)
            #expect(reason.contains("SQLite"))
        }
        #expect(try bytes(database.path) == data)
    }

    @Test func anotherProgramsSQLiteFileIsNotMigratedOrConvertedToWAL() throws {
        let database = try TemporaryDatabase()
        do {
            let queue = try DatabaseQueue(path: database.path)
            try queue.write { db in
                try db.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
                try db.execute(sql: "INSERT INTO notes (text) VALUES ('keep me')")
            }
            try queue.close()
        }
        let before = try bytes(database.path)
        do {
            _ = try database.openStore()
            Issue.record("another program's database was opened")
        } catch let error as StoreError {
            guard case .notAnApoDatabase(_, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(reason.contains("notes") && reason.contains("apo_migrations"))
        }
        #expect(try bytes(database.path) == before)
        let queue = try DatabaseQueue(path: database.path)
        #expect(try queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "delete")
    }

    @Test func emptyFileIsAnEmptyDatabaseAndGetsMigrated() throws {
        let database = try TemporaryDatabase()
        FileManager.default.createFile(atPath: database.path, contents: Data())
        let store = try database.openStore()
        #expect(try store.runs(limit: 1).isEmpty)
    }

    @Test func readOnlyFileIsRefusedEvenForRoot() throws {
        let database = try TemporaryDatabase()
        let runID = try database.openStore().createRun(newRun([job("a")]), now: t0)
        chmod(database.path, 0o444)
        defer { chmod(database.path, 0o644) }
        let before = try bytes(database.path)
        do {
            _ = try database.openStore()
            Issue.record("a chmod 0444 database was opened for writing")
        } catch let error as StoreError {
            guard case .databaseReadOnly(let path, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == database.path)
            #expect(reason.contains("444"))
        }
        #expect(try bytes(database.path) == before)
        chmod(database.path, 0o644)
        #expect(try database.openStore().run(runID) != nil)
    }

    @Test func fileLockedLongerThanTheBusyTimeoutIsRefusedAsLocked() throws {
        let database = try TemporaryDatabase()
        let runID = try database.openStore().createRun(newRun([job("a")]), now: t0)
        // A second connection takes the file's exclusive lock and keeps it.
        var unsafe = Configuration()
        unsafe.allowsUnsafeTransactions = true  // the lock outlives one access on purpose
        let holder = try DatabaseQueue(path: database.path, configuration: unsafe)
        try holder.inDatabase { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "BEGIN EXCLUSIVE")
            try db.execute(sql: "UPDATE runs SET params_json = params_json")
        }
        let started = Date()
        do {
            _ = try JobStore(path: database.path, busyTimeout: 0.5, migrator: .embedded)
            Issue.record("opened a database another connection holds an exclusive lock on")
        } catch let error as StoreError {
            #expect(error == .databaseLocked(path: database.path, waitedSeconds: 0.5))
            #expect(error.description.contains("locked") && error.description.contains(database.path))
        }
        #expect(Date().timeIntervalSince(started) >= 0.4, "refused before the busy timeout")
        try holder.inDatabase { db in
            try db.execute(sql: "ROLLBACK")
            try db.execute(sql: "PRAGMA locking_mode = NORMAL")
            _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs")  // drops the lock
        }
        try holder.close()
        #expect(try database.openStore().run(runID) != nil)
    }

    // MARK: - Network file systems

    @Test func networkFileSystemMagicsAreNamedAndLocalOnesAreNot() {
        let network: [(UInt64, String)] = [
            (0x6969, "NFS"), (0x517B, "SMB"), (0xFF53_4D42, "CIFS"), (0xFE53_4D42, "SMB2"),
            (0x0102_1997, "9P"), (0x00C3_6400, "Ceph"), (0x5346_414F, "AFS"), (0x6B41_4653, "kAFS"),
        ]
        for (magic, name) in network {
            #expect(FileSystemInfo(magic: magic).networkName == name)
        }
        // ext4, tmpfs, btrfs, xfs, overlayfs, FUSE (see `networkMagics` for why FUSE passes).
        for local: UInt64 in [0xEF53, 0x0102_1994, 0x9123_683E, 0x5846_5342, 0x794C_7630, 0x6573_5546] {
            #expect(FileSystemInfo(magic: local).networkName == nil)
        }
        #expect(FileSystemInfo(typeName: "nfs").networkName == "nfs")
        #expect(FileSystemInfo(typeName: "apfs").networkName == nil)
    }

    @Test func statfsOfTheTestDirectoryIsALocalFileSystem() throws {
        let database = try TemporaryDatabase()
        let info = try #require(FileSystemInfo.of(path: database.directory.path))
        #expect(info.magic != nil || info.typeName != nil)
        #expect(info.networkName == nil)
        #expect(FileSystemInfo.of(path: database.directory.appendingPathComponent("missing/x").path) == nil)
    }

    @Test func databaseOnANetworkFileSystemIsRefusedBeforeAnythingIsCreated() throws {
        let database = try TemporaryDatabase()
        let path = database.directory.appendingPathComponent("nfs/apo.db").path
        var asked: [String] = []
        do {
            _ = try JobStore(path: path, busyTimeout: 5, migrator: .embedded) { directory in
                asked.append(directory)
                return FileSystemInfo(magic: 0x6969)
            }
            Issue.record("a database on NFS was opened")
        } catch let error as StoreError {
            #expect(error == .networkFileSystem(path: path, fileSystem: "NFS"))
            #expect(error.description.contains("network file system") && error.description.contains(path))
        }
        // statfs looked at the nearest existing directory (the one `nfs/` would be created in).
        #expect(asked == [database.directory.path])
        #expect(!FileManager.default.fileExists(atPath: database.directory.appendingPathComponent("nfs").path))
        // The same directory on a local file system opens.
        _ = try JobStore(path: path, busyTimeout: 5, migrator: .embedded) { _ in FileSystemInfo(magic: 0xEF53) }
        #expect(FileManager.default.fileExists(atPath: path))
    }
}
