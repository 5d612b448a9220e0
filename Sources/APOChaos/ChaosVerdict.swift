import APORuntime
import APOStore
import Foundation

/// What the oracle run produced: each artifact's sha256 by job key and name.
public struct ChaosOracle {
    public var artifacts: [String: String]
    public var jobs: Set<String>

    static func key(_ jobKey: String, _ name: String) -> String { "\(jobKey)/\(name)" }

    public init(store: JobStore, runID: Int64) throws {
        artifacts = [:]
        for a in try store.artifacts(runID: runID) { artifacts[Self.key(a.jobKey, a.name)] = a.sha256 }
        jobs = Set(try store.jobs(runID: runID).map(\.key))
    }
}

/// A finished trial checked against the oracle. Every count must be zero.
public struct ChaosVerdict {
    /// Jobs not succeeded (or left running), and oracle artifacts missing.
    public var lost = 0
    /// Jobs completed more than once (attempts that succeeded or were memoized, beyond the first).
    public var duplicated = 0
    /// Artifacts whose sha256 differs from the oracle's, or whose file no longer matches its row.
    public var mismatched = 0
    /// Rows written by an attempt after it ended, and files under the artifact root that no
    /// artifact row accounts for (what a stale attempt would leave).
    public var staleWrites = 0
    public var problems: [String] = []

    public var isClean: Bool { lost + duplicated + mismatched + staleWrites == 0 }

    public init(store: JobStore, runID: Int64, oracle: ChaosOracle) throws {
        let jobs = try store.jobs(runID: runID)
        for job in jobs where job.state != .succeeded {
            lost += 1
            problems.append("job \(job.key) ended \(job.state.rawValue): \(job.error ?? "")")
        }
        for missing in oracle.jobs.subtracting(jobs.map(\.key)).sorted() {
            lost += 1
            problems.append("job \(missing) is missing")
        }
        for job in jobs {
            let completions = try store.attempts(jobID: job.id).filter { $0.outcome == "succeeded" || $0.outcome == "memoized" }
            if completions.count > 1 {
                duplicated += completions.count - 1
                problems.append("job \(job.key) completed \(completions.count) times")
            }
        }
        let artifacts = try store.artifacts(runID: runID)
        var found: [String: ArtifactRecord] = [:]
        for a in artifacts { found[ChaosOracle.key(a.jobKey, a.name)] = a }
        for (key, sha) in oracle.artifacts.sorted(by: { $0.key < $1.key }) {
            guard let a = found[key] else {
                lost += 1
                problems.append("artifact \(key) is missing")
                continue
            }
            if a.sha256 != sha {
                mismatched += 1
                problems.append("artifact \(key): sha256 \(a.sha256), oracle \(sha)")
            } else if let onDisk = try? Self.digest(a), onDisk != a.sha256 {
                mismatched += 1
                problems.append("artifact \(key): the file at \(a.path) no longer matches its row (\(onDisk))")
            }
        }
        for stale in try store.staleWrites() {
            staleWrites += 1
            problems.append("stale write: \(stale)")
        }
        guard let root = try store.run(runID)?.artifactRoot else { return }
        for file in Self.unrecordedFiles(under: root, artifacts: artifacts) {
            staleWrites += 1
            problems.append("file not recorded as an artifact: \(file)")
        }
    }

    static func digest(_ a: ArtifactRecord) throws -> String {
        let url = URL(fileURLWithPath: a.path)
        return a.type == .directory ? try FileDigest.digest(ofDirectory: url).sha256 : try FileDigest.sha256(ofFile: url)
    }

    /// Files under `root` that are neither a recorded file artifact nor inside a recorded directory
    /// (the folder's owner record is the folder's own, not a job's).
    static func unrecordedFiles(under root: String, artifacts: [ArtifactRecord]) -> [String] {
        let files = Set(artifacts.filter { $0.type == .file }.map(\.path))
        let directories = artifacts.filter { $0.type == .directory }.map { $0.path + "/" }
        var unrecorded: [String] = []
        let fm = FileManager.default
        for case let relative as String in fm.enumerator(atPath: root)?.allObjects ?? [] {
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if relative == RunFolderOwner.fileName { continue }
            if files.contains(path) || directories.contains(where: { path.hasPrefix($0) }) { continue }
            unrecorded.append(path)
        }
        return unrecorded.sorted()
    }
}
