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

    /// Temp file in the destination directory (same file system, so the rename is atomic), fsync
    /// of the file, rename, fsync of the directory; only then is the artifact recorded. A crash at
    /// any point leaves either no file under `name` or the complete one.
    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        try checkCancelled()
        guard !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw ArtifactError.invalidName(name)
        }
        let destination = outputDirectory.appendingPathComponent(name)
        let directory = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try write(temporary)
            guard FileManager.default.fileExists(atPath: temporary.path) else {
                throw ArtifactError.notWritten(name)
            }
            try Durability.flush(path: temporary.path)
            if rename(temporary.path, destination.path) != 0 {
                throw ArtifactError.renameFailed(name, errno: errno)
            }
            try Durability.flush(path: directory.path)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        let sha = try FileDigest.sha256(ofFile: destination)
        let size = (try FileManager.default.attributesOfItem(atPath: destination.path)[.size] as? NSNumber)?.int64Value ?? 0
        if stop.reason != .leaseLost {
            try store.recordArtifact(jobID: lease.jobID, name: name, path: destination.path, sha256: sha, size: size, now: Date())
        }
        return destination
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
    static func flush(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        _ = fsync(fd)
    }
}
