import Foundation

/// Which database a store is (migration 0008): what a run's folder records as its owner, so that a
/// copy of the database never writes into the original's run folders.
public struct DatabaseIdentity: Sendable, Equatable {
    /// A random id, made when the database first needed one, renewed when SQLite finds itself a copy.
    public let id: String
    /// Where the database is, for messages: its file's real path, or the redacted URL.
    public let location: String
}

/// An SQLite file as the file system knows it: a copy has another inode, a move keeps it.
struct DatabaseFileStamp: Equatable {
    let path: String
    let device: Int64
    let inode: Int64

    /// The real path, device and inode of `path`; nil when there is no such file.
    static func of(path: String) -> DatabaseFileStamp? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        var info = stat()
        guard stat(real, &info) == 0 else { return nil }
        return DatabaseFileStamp(path: String(cString: real), device: Int64(bitPattern: UInt64(info.st_dev)),
                                 inode: Int64(bitPattern: UInt64(info.st_ino)))
    }

    func isSameFile(as other: DatabaseFileStamp) -> Bool { device == other.device && inode == other.inode }
}

extension JobStore {
    /// This database's identity, made on first use. On SQLite the file is checked against the one
    /// the identity was last confirmed in: the same file (also renamed, or through another path)
    /// keeps it; another file while the recorded one still exists is a copy and gets a new one; a
    /// file whose recorded one is gone was moved there and keeps it.
    public func databaseIdentity(now: Date = Date()) throws -> DatabaseIdentity {
        if driver.dialect == .postgres { return try postgresDatabaseIdentity(now: now) }
        let here = driver.filePath.flatMap(DatabaseFileStamp.of(path:))
        let location = here?.path ?? driver.location
        return try driver.write { db in
            guard let row = try db.fetchOne(
                "SELECT id, file_path, file_device, file_inode FROM database_identity WHERE singleton = 1")
            else {
                let id = UUID().uuidString.lowercased()
                try db.execute("""
                    INSERT INTO database_identity (singleton, id, file_path, file_device, file_inode, created_at)
                    VALUES (1, ?, ?, ?, ?, ?)
                    """, [id, here?.path, here?.device, here?.inode, storeTime(now)])
                return DatabaseIdentity(id: id, location: location)
            }
            let id: String = row["id"]
            guard let here else { return DatabaseIdentity(id: id, location: location) }
            let path: String? = row["file_path"], device: Int64? = row["file_device"], inode: Int64? = row["file_inode"]
            let recorded = path.flatMap { path in
                device.flatMap { device in inode.map { DatabaseFileStamp(path: path, device: device, inode: $0) } }
            }
            if recorded == here { return DatabaseIdentity(id: id, location: location) }
            var kept = id
            if let recorded, !recorded.isSameFile(as: here),
               let original = DatabaseFileStamp.of(path: recorded.path), original.isSameFile(as: recorded) {
                kept = UUID().uuidString.lowercased()  // the recorded file is still there: this is a copy
            }
            try db.execute("""
                UPDATE database_identity SET id = ?, file_path = ?, file_device = ?, file_inode = ?
                WHERE singleton = 1
                """, [kept, here.path, here.device, here.inode])
            return DatabaseIdentity(id: kept, location: location)
        }
    }

    /// On PostgreSQL the database's OID plays the file's part: the same OID (also after a rename)
    /// keeps the identity; another OID while the recorded one still exists on this server is a
    /// copy and gets a new one; a recorded OID that is gone was moved here and keeps it.
    private func postgresDatabaseIdentity(now: Date) throws -> DatabaseIdentity {
        let location = driver.location
        return try driver.write { db in
            guard let oid = try db.fetchValue(Int64.self,
                "SELECT oid::bigint FROM pg_database WHERE datname = current_database()")
            else { throw StoreError.cannotOpen(path: location, reason: "the server does not list the current database") }
            // Two processes opening a new database at once both insert; the second insert is a no-op.
            try db.execute("""
                INSERT INTO database_identity (singleton, id, database_oid, created_at) VALUES (1, ?, ?, ?)
                ON CONFLICT (singleton) DO NOTHING
                """, [UUID().uuidString.lowercased(), oid, storeTime(now)])
            let row = try db.fetchOne("SELECT id, database_oid FROM database_identity WHERE singleton = 1 FOR UPDATE")!
            let id: String = row["id"]
            let recorded: Int64? = row["database_oid"]
            if recorded == oid { return DatabaseIdentity(id: id, location: location) }
            var kept = id
            if let recorded, try db.fetchValue(Int64.self, "SELECT oid::bigint FROM pg_database WHERE oid = ?::bigint::oid",
                                               [recorded]) != nil {
                kept = UUID().uuidString.lowercased()  // the recorded database is still here: this is a copy
            }
            try db.execute("UPDATE database_identity SET id = ?, database_oid = ? WHERE singleton = 1", [kept, oid])
            return DatabaseIdentity(id: kept, location: location)
        }
    }
}
