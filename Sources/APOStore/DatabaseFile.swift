import CStatfs
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `statfs(2)` says about the file system holding a directory: the Linux magic number
/// (`f_type`) or, on Darwin/BSD, the type name (`f_fstypename`).
public struct FileSystemInfo: Sendable, Equatable {
    public var magic: UInt64?
    public var typeName: String?

    public init(magic: UInt64? = nil, typeName: String? = nil) {
        self.magic = magic
        self.typeName = typeName
    }

    /// Linux `f_type` values of file systems shared between machines (linux/magic.h, statfs(2)).
    /// SQLite's WAL mode keeps its index in a memory-mapped `-shm` file that only processes of
    /// one machine share, and relies on POSIX locks that these file systems implement loosely or
    /// not at all: two hosts can both "claim" one job or corrupt the file
    /// (https://www.sqlite.org/wal.html, "WAL does not work over a network filesystem").
    ///
    /// FUSE (0x65735546) is not listed: it carries sshfs but also local file systems (ntfs-3g,
    /// encfs, overlay tools), and refusing those would be wrong; neither is GFS2/OCFS2, whose
    /// cluster locks are real.
    public static let networkMagics: [UInt64: String] = [
        0x6969: "NFS",
        0x517B: "SMB",
        0xFF53_4D42: "CIFS",
        0xFE53_4D42: "SMB2",
        0x0102_1997: "9P",
        0x00C3_6400: "Ceph",
        0x5346_414F: "AFS",
        0x6B41_4653: "kAFS",
        0x7375_7245: "Coda",
        0x564C: "NCP",
        0x0BD0_0BD0: "Lustre",
        0x4750_4653: "GPFS",
    ]

    /// Darwin/BSD `f_fstypename` values of network file systems.
    public static let networkTypeNames: Set<String> = ["nfs", "smbfs", "afpfs", "webdav", "cifs", "ftp"]

    /// The network file system's name, or nil for a local one.
    public var networkName: String? {
        if let magic, let name = Self.networkMagics[magic] { return name }
        if let typeName, Self.networkTypeNames.contains(typeName.lowercased()) { return typeName }
        return nil
    }

    /// statfs of `path` (which must exist); nil when the call fails.
    public static func of(path: String) -> FileSystemInfo? {
        var buffer = statfs()
        guard statfs(path, &buffer) == 0 else { return nil }
        #if os(Linux)
        // f_type is a signed word; the CIFS/SMB2 magics have the top bit set in 32 bits.
        return FileSystemInfo(magic: UInt64(UInt32(truncatingIfNeeded: buffer.f_type)))
        #else
        let name = withUnsafeBytes(of: buffer.f_fstypename) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return FileSystemInfo(typeName: name)
        #endif
    }
}

/// Checks made on a database file before SQLite opens it, so that a typo, a read-only copy or a
/// network mount ends in a clear `StoreError` and the file is never changed. Only `stat`,
/// `access` and `statfs`: the file itself is never opened here (see the end of `preflight`).
enum DatabaseFile {
    /// - Parameters:
    ///   - mustExist: refuse a missing file instead of creating it.
    ///   - fileSystem: statfs of a directory (injected by tests).
    static func preflight(path: String, mustExist: Bool,
                          fileSystem: (String) -> FileSystemInfo?) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDirectory)
        if !exists && mustExist { throw StoreError.databaseMissing(path: path) }
        if exists && isDirectory.boolValue {
            throw StoreError.notAnApoDatabase(path: path, reason: "it is a directory")
        }
        // The nearest directory that exists: the one that holds the file, or will.
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        while !fm.fileExists(atPath: directory.path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        if let network = fileSystem(directory.path)?.networkName {
            throw StoreError.networkFileSystem(path: path, fileSystem: network)
        }
        guard exists else { return }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        if info.st_mode & 0o222 == 0 {
            throw StoreError.databaseReadOnly(path: path, reason: "its mode is \(String(info.st_mode & 0o777, radix: 8)), no write permission")
        }
        if access(path, W_OK) != 0 || access(path, R_OK) != 0 {
            throw StoreError.databaseReadOnly(path: path, reason: String(cString: strerror(errno)))
        }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if access(parent, W_OK) != 0 {
            throw StoreError.databaseReadOnly(path: path, reason: "its directory \(parent) is not writable, and SQLite keeps its -wal and -shm files there")
        }
        // A non-empty SQLite file holds at least one page of 512 bytes or more; SQLite itself
        // takes a few stray bytes for an empty database and writes over them.
        if info.st_size > 0 && info.st_size < 512 {
            throw StoreError.notAnApoDatabase(path: path, reason: "it is \(info.st_size) bytes long, shorter than any SQLite database")
        }
        // The SQLite header is NOT read here: opening and closing a descriptor on a database file
        // releases every POSIX lock this process holds on it (fcntl semantics), so another
        // JobStore of this process would silently lose its locks, and another process could then
        // checkpoint and delete the WAL under it. SQLite's own probe (`checkIsApoDatabase`) reads
        // the header and refuses a non-database with SQLITE_NOTADB, changing nothing.
    }
}
