import APOEngine
import APOJSON
import APOPipeline
import APOStore
import Foundation

/// The `JobContext` a worker hands to a kind: one claimed attempt of one job, writing through the
/// store with that attempt's lease. Every record (log, metric, progress) carries the lease, so the
/// store rejects it once the lease is lost; artifacts are staged in the attempt's own folder and
/// published only by the fenced completion (`completion(outputsJSON:memoKey:)`).
final class WorkerJobContext: JobContext {
    let params: [String: JSONValue]
    let folders: AttemptFolders
    let threads: Int
    let trunkCache = TrunkStateCache.standard()

    var outputDirectory: URL { folders.output }
    var checkpointDirectory: URL { folders.checkpoint }

    private let store: JobStore
    private let lease: JobLease
    private let stop: StopSignal
    private let lock = NSLock()
    private var lastProgressWrite = Date.distantPast
    /// Artifacts staged so far, by name; a name written twice keeps the second.
    private var staged: [String: StagedArtifact] = [:]
    private var stagedOrder: [String] = []
    /// Progress is a hint for `apoctl watch`; a few writes a second are plenty.
    private let progressInterval: TimeInterval = 0.2

    init(params: [String: JSONValue], folders: AttemptFolders, threads: Int,
         store: JobStore, lease: JobLease, stop: StopSignal) {
        self.params = params
        self.folders = folders
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
        guarded { try store.appendLog(lease, stream: "job", line: line, now: Date()) }
    }

    func recordMetric(step: Int, name: String, value: Double) {
        guard stop.reason != .leaseLost else { return }
        guarded { try store.recordMetric(lease, step: step, name: name, value: value, now: Date()) }
    }

    func checkCancelled() throws {
        if stop.reason != nil { throw JobCancelled() }
    }

    /// `write` creates a file or a directory (a model) at a temporary path in the attempt's staging
    /// folder; it is fsynced, renamed to its staged name and digested (a directory is one artifact
    /// of type `directory`, its sha256 and size covering all its files). Returns the URL the
    /// artifact will have once the job completes: `outputDirectory/name`. Until then it exists
    /// only in staging, where no other attempt looks.
    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        try checkCancelled()
        guard ArtifactName.isValid(name) else { throw ArtifactError.invalidName(name) }
        let fm = FileManager.default
        // The staging folder is made once, by the worker; if it is gone, a newer attempt took it.
        guard fm.fileExists(atPath: folders.staging.path) else { throw ArtifactError.stagingGone(name) }
        let stagedURL = folders.staging.appendingPathComponent(name)
        let directory = stagedURL.deletingLastPathComponent()
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(stagedURL.lastPathComponent).tmp-\(UUID().uuidString)")
        var isDirectory: ObjCBool = false
        do {
            try write(temporary)
            guard fm.fileExists(atPath: temporary.path, isDirectory: &isDirectory) else {
                throw ArtifactError.notWritten(name)
            }
            if isDirectory.boolValue {
                try Durability.flushTree(path: temporary.path)
            } else {
                try Durability.flush(path: temporary.path)
            }
            try ArtifactPublisher.move(temporary, to: stagedURL, name: name)
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
        let artifact: StagedArtifact
        let final = folders.output.appendingPathComponent(name)
        if isDirectory.boolValue {
            let digest = try FileDigest.digest(ofDirectory: stagedURL)
            artifact = StagedArtifact(name: name, path: final.path, type: .directory, sha256: digest.sha256, size: digest.size)
        } else {
            let digest = try FileDigest.digestAndSize(ofFile: stagedURL)
            artifact = StagedArtifact(name: name, path: final.path, type: .file, sha256: digest.sha256, size: digest.size)
        }
        lock.lock()
        if staged.updateValue(artifact, forKey: name) == nil { stagedOrder.append(name) }
        lock.unlock()
        return final
    }

    /// What the worker hands to `JobStore.complete`: the outputs and staged artifacts, and the
    /// publication that moves each staged artifact to its final name inside the fenced transaction.
    func completion(outputsJSON: String, memoKey: String?) -> JobCompletion {
        lock.lock()
        let artifacts = stagedOrder.compactMap { staged[$0] }
        lock.unlock()
        let staging = folders.staging
        let output = folders.output
        return JobCompletion(outputsJSON: outputsJSON, memoKey: memoKey, artifacts: artifacts) {
            try ArtifactPublisher.publish(artifacts.map(\.name), from: staging, to: output)
        }
    }

    /// Records from a kind never abort the job; a lost lease is noted so the worker stops.
    private func guarded(_ body: () throws -> Void) {
        do { try body() } catch let error as StoreError {
            if case .leaseLost = error { stop.request(.leaseLost) }
        } catch {}
    }
}

/// Artifact names are relative paths that stay inside the job's folder.
enum ArtifactName {
    static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix("/") else { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty || part == "." || part == ".." || part.hasPrefix(".") { return false }
            if part.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return false }
        }
        return true
    }
}

/// Moves staged artifacts into the job's folder: the one way a file reaches `<root>/<key>/`.
enum ArtifactPublisher {
    /// Publishes `names` from `staging` to `output`, then fsyncs every folder that gained an entry,
    /// so that once the completion commits, the files it records are durable under their names.
    static func publish(_ names: [String], from staging: URL, to output: URL) throws {
        let fm = FileManager.default
        var touched = Set<String>()
        for name in names {
            let destination = output.appendingPathComponent(name)
            let folder = destination.deletingLastPathComponent()
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try move(staging.appendingPathComponent(name), to: destination, name: name)
            touched.insert(folder.path)
        }
        touched.insert(output.deletingLastPathComponent().path)
        for path in touched.sorted() { try Durability.flush(path: path) }
    }

    /// rename(2), replacing what is there: a file atomically; a directory (which rename cannot
    /// replace when non-empty) by moving the old one aside first and removing it once the new
    /// one is in place.
    static func move(_ source: URL, to destination: URL, name: String) throws {
        var isDirectory: ObjCBool = false
        let fm = FileManager.default
        var aside: URL?
        if fm.fileExists(atPath: destination.path, isDirectory: &isDirectory), isDirectory.boolValue {
            let moved = destination.deletingLastPathComponent()
                .appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString)")
            if rename(destination.path, moved.path) != 0 { throw ArtifactError.renameFailed(name, errno: errno) }
            aside = moved
        }
        if rename(source.path, destination.path) != 0 {
            let code = errno
            if let aside { _ = rename(aside.path, destination.path) }
            throw ArtifactError.renameFailed(name, errno: code)
        }
        if let aside { try? fm.removeItem(at: aside) }
    }
}

public enum ArtifactError: Error, CustomStringConvertible {
    case invalidName(String)
    case notWritten(String)
    case renameFailed(String, errno: Int32)
    /// The attempt's staging folder was taken away by a newer attempt: this one lost its lease.
    case stagingGone(String)

    public var description: String {
        switch self {
        case .invalidName(let n): return "artifact name '\(n)' must be a relative path inside the job's directory"
        case .notWritten(let n): return "artifact '\(n)': the writer returned without creating its file"
        case .renameFailed(let n, let e): return "artifact '\(n)': rename failed: \(String(cString: strerror(e)))"
        case .stagingGone(let n): return "artifact '\(n)': this attempt's staging folder is gone (a newer attempt holds the job)"
        }
    }
}
