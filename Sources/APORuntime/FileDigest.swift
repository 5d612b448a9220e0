import Crypto
import Foundation

/// sha256 digests of files and directory trees, hex encoded.
public enum FileDigest {
    /// Streams the file in 1 MiB chunks so model-sized files never sit in memory at once.
    public static func sha256(ofFile url: URL) throws -> String {
        try digestAndSize(ofFile: url).sha256
    }

    /// The size is the bytes actually hashed (a symlink counts as its target, as in the digest).
    static func digestAndSize(ofFile url: URL) throws -> (sha256: String, size: Int64) {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (hex(hasher.finalize()), size)
    }

    /// A directory tree's digest and the total size of its files.
    public struct DirectoryDigest: Equatable, Sendable {
        public var sha256: String
        public var size: Int64
    }

    /// The digest of every file below `url`, the one rule for model-directory artifacts and for
    /// directories in memo keys:
    ///
    ///     sha256( for each file, in ascending byte order of its UTF-8 relative path:
    ///             <relative path> NUL <lowercase hex sha256 of its contents> LF )
    ///
    /// "Files" are the entries that are files once symlinks are followed; the relative path uses
    /// `/` and has no leading `./`; hidden files count; directories themselves (empty ones too)
    /// contribute nothing. So renaming, adding, removing or changing any file changes the digest,
    /// and the same tree anywhere on disk has the same digest.
    public static func digest(ofDirectory url: URL) throws -> DirectoryDigest {
        let fm = FileManager.default
        let base = url.standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: base])
        }
        var files: [String] = []
        if let walker = fm.enumerator(atPath: base) {
            for case let relative as String in walker {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: base + "/" + relative, isDirectory: &isDir), !isDir.boolValue {
                    files.append(relative)
                }
            }
        }
        // Byte order, not String's `<`, so the rule is the same in any language.
        files.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var hasher = SHA256()
        var size: Int64 = 0
        for relative in files {
            let file = try digestAndSize(ofFile: URL(fileURLWithPath: base + "/" + relative))
            hasher.update(data: Data("\(relative)\0\(file.sha256)\n".utf8))
            size += file.size
        }
        return DirectoryDigest(sha256: hex(hasher.finalize()), size: size)
    }

    /// `digest(ofDirectory:)`'s sha256.
    public static func sha256(ofDirectory url: URL) throws -> String {
        try digest(ofDirectory: url).sha256
    }

    public static func sha256(of data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
