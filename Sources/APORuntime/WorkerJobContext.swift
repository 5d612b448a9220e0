import APOPipeline
import APOStore
import Foundation

/// The `JobContext` a worker hands to a kind: one claimed attempt of one job, writing through the
/// store with that attempt's lease. Every write stops once the lease is lost.
final class WorkerJobContext: JobContext {
    let params: [String: ParamValue]
    let outputDirectory: URL
    let checkpointDirectory: URL
    let threads: Int

    private let store: JobStore
    private let lease: JobLease
    private let stop: StopSignal
    private let lock = NSLock()
    private var lastProgressWrite = Date.distantPast
    /// Progress is a hint for `apoctl watch`; a few writes a second are plenty.
    private let progressInterval: TimeInterval = 0.2

    init(params: [String: ParamValue], outputDirectory: URL, checkpointDirectory: URL, threads: Int,
         store: JobStore, lease: JobLease, stop: StopSignal) {
        self.params = params
        self.outputDirectory = outputDirectory
        self.checkpointDirectory = checkpointDirectory
        self.threads = threads
        self.store = store
        self.lease = lease
        self.stop = stop
    }

    func reportProgress(done: Int, total: Int, message: String?) {
        let now = Date()
        lock.lock()
        let due = now.timeIntervalSince(lastProgressWrite) >= progressInterval || done >= total
        if due { lastProgressWrite = now }
        lock.unlock()
        guard due, stop.reason != .leaseLost else { return }
        guarded { try store.updateProgress(lease, done: done, total: total, message: message, now: now) }
    }

    func log(_ line: String) {
        guard stop.reason != .leaseLost else { return }
        guarded { try store.appendLog(jobID: lease.jobID, attemptID: lease.attemptID, stream: "job", line: line, now: Date()) }
    }

    func recordMetric(step: Int, name: String, value: Double) {
        guard stop.reason != .leaseLost else { return }
        guarded { try store.recordMetric(jobID: lease.jobID, step: step, name: name, value: value, now: Date()) }
    }

    func checkCancelled() throws {
        if stop.reason != nil { throw JobCancelled() }
    }

    /// Temp path in the destination directory (same file system, so the rename is atomic), fsync
    /// of what was written, rename, fsync of the directory; only then is the artifact recorded. A
    /// crash at any point leaves either no artifact under `name` or a complete one. The writer may
    /// create a file or a directory (a model); a directory is one artifact, of type `directory`,
    /// whose sha256 and size cover all its files (`FileDigest.digest(ofDirectory:)`).
    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        try checkCancelled()
        guard !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw ArtifactError.invalidName(name)
        }
        let fm = FileManager.default
        let destination = outputDirectory.appendingPathComponent(name)
        let directory = destination.deletingLastPathComponent()
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString)")
        var isDirectory: ObjCBool = false
        do {
            try write(temporary)
            guard fm.fileExists(atPath: temporary.path, isDirectory: &isDirectory) else {
                throw ArtifactError.notWritten(name)
            }
            if isDirectory.boolValue {
                try Durability.flushTree(path: temporary.path)
                try Self.replaceDirectory(at: destination, with: temporary, name: name)
            } else {
                try Durability.flush(path: temporary.path)
                if rename(temporary.path, destination.path) != 0 {
                    throw ArtifactError.renameFailed(name, errno: errno)
                }
            }
            try Durability.flush(path: directory.path)
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
        let type: ArtifactType
        let sha: String
        let size: Int64
        if isDirectory.boolValue {
            let digest = try FileDigest.digest(ofDirectory: destination)
            (type, sha, size) = (.directory, digest.sha256, digest.size)
        } else {
            let digest = try FileDigest.digestAndSize(ofFile: destination)
            (type, sha, size) = (.file, digest.sha256, digest.size)
        }
        if stop.reason != .leaseLost {
            try store.recordArtifact(jobID: lease.jobID, name: name, path: destination.path, type: type,
                                     sha256: sha, size: size, now: Date())
        }
        return destination
    }

    /// rename(2) cannot replace a non-empty directory: what an earlier attempt left under the
    /// name is moved aside first and removed once the new directory is in place.
    static func replaceDirectory(at destination: URL, with temporary: URL, name: String) throws {
        var aside: URL?
        if FileManager.default.fileExists(atPath: destination.path) {
            let moved = destination.deletingLastPathComponent()
                .appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString)")
            if rename(destination.path, moved.path) != 0 { throw ArtifactError.renameFailed(name, errno: errno) }
            aside = moved
        }
        if rename(temporary.path, destination.path) != 0 {
            let code = errno
            if let aside { _ = rename(aside.path, destination.path) }
            throw ArtifactError.renameFailed(name, errno: code)
        }
        if let aside { try? FileManager.default.removeItem(at: aside) }
    }

    /// Records from a kind never abort the job; a lost lease is noted so the worker stops.
    private func guarded(_ body: () throws -> Void) {
        do { try body() } catch let error as StoreError {
            if case .leaseLost = error { stop.request(.leaseLost) }
        } catch {}
    }
}

public enum ArtifactError: Error, CustomStringConvertible {
    case invalidName(String)
    case notWritten(String)
    case renameFailed(String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidName(let n): return "artifact name '\(n)' must be a relative path inside the job's directory"
        case .notWritten(let n): return "artifact '\(n)': the writer returned without creating its file"
        case .renameFailed(let n, let e): return "artifact '\(n)': rename failed: \(String(cString: strerror(e)))"
        }
    }
}

enum Durability {
    /// fsync of every file and directory below `path`, and of `path` itself.
    static func flushTree(path: String) throws {
        if let walker = FileManager.default.enumerator(atPath: path) {
            for case let relative as String in walker { try flush(path: path + "/" + relative) }
        }
        try flush(path: path)
    }

    static func flush(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        _ = fsync(fd)
    }
}
