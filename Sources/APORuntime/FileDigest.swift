import Crypto
import Foundation

/// sha256 digests of files and directory trees, hex encoded.
public enum FileDigest {
    /// Streams the file in 1 MiB chunks so model-sized files never sit in memory at once.
    public static func sha256(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }

    /// A digest of every regular file below `url`: relative paths (sorted) and their contents.
    public static func sha256(ofDirectory url: URL) throws -> String {
        let fm = FileManager.default
        let base = url.standardizedFileURL.path
        var files: [String] = []
        if let walker = fm.enumerator(atPath: base) {
            for case let relative as String in walker {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: base + "/" + relative, isDirectory: &isDir), !isDir.boolValue {
                    files.append(relative)
                }
            }
        }
        var hasher = SHA256()
        for relative in files.sorted() {
            let digest = try sha256(ofFile: URL(fileURLWithPath: base + "/" + relative))
            hasher.update(data: Data("\(relative)\0\(digest)\n".utf8))
        }
        return hex(hasher.finalize())
    }

    public static func sha256(of data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
