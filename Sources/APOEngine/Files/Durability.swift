import Foundation

/// fsync with its result checked: a write that the kernel could not make durable (EIO, ENOSPC on
/// a delayed allocation, a vanished network mount) fails the step that relied on it, instead of
/// leaving a rename to point at data that is not on disk.
public enum Durability {
    /// fsync of every file and directory below `path`, and of `path` itself.
    public static func flushTree(path: String) throws {
        if let walker = FileManager.default.enumerator(atPath: path) {
            for case let relative as String in walker { try flush(path: path + "/" + relative) }
        }
        try flush(path: path)
    }

    /// fsync of one file or directory (a directory's fsync makes the renames inside it durable).
    public static func flush(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DurabilityError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DurabilityError(path: path, operation: "fsync", code: errno) }
    }

    /// Writes `data` to `url` so that once this returns the bytes are on disk: written, fsynced.
    /// Not atomic by itself; callers write into a temporary name and rename.
    public static func write(_ data: Data, to url: URL) throws {
        try data.write(to: url)
        try flush(path: url.path)
    }
}

public struct DurabilityError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var operation: String
    public var code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    public var description: String {
        "\(operation) of \(path) failed: \(String(cString: strerror(code)))"
    }
}
