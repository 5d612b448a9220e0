import APOJSON
import Foundation
@testable import APOPipeline

/// A `JobContext` over a temporary directory, recording what the kind reports; artifacts are
/// written to a temporary name and renamed, as the runtime's worker does.
final class TestJobContext: JobContext {
    var params: [String: JSONValue]
    let outputDirectory: URL
    let checkpointDirectory: URL
    let threads: Int
    /// A cache of this context's own (tests never touch the user's).
    lazy var trunkCache = TrunkStateCache(root: FileManager.default.temporaryDirectory
        .appendingPathComponent("apo-trunk-cache-\(UUID().uuidString)"), capacityBytes: 100_000_000)
    var cancelled = false
    private(set) var progress: [(done: Int, total: Int, message: String?)] = []
    private(set) var logLines: [String] = []
    private(set) var metrics: [(step: Int, name: String, value: Double)] = []
    private(set) var artifacts: [String: URL] = [:]

    init(params: [String: JSONValue], root: URL, threads: Int = 1) throws {
        self.params = params
        outputDirectory = root.appendingPathComponent("out")
        checkpointDirectory = root.appendingPathComponent("checkpoint")
        self.threads = threads
        for d in [outputDirectory, checkpointDirectory] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
    }

    func reportProgress(done: Int, total: Int, message: String?) { progress.append((done, total, message)) }
    func log(_ line: String) { logLines.append(line) }
    func recordMetric(step: Int, name: String, value: Double) { metrics.append((step, name, value)) }
    func checkCancelled() throws { if cancelled { throw JobCancelled() } }

    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        let tmp = outputDirectory.appendingPathComponent(".\(name).tmp-\(UUID().uuidString)")
        try write(tmp)
        let final = outputDirectory.appendingPathComponent(name)
        guard rename(tmp.path, final.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        artifacts[name] = final
        return final
    }
}

/// A fresh temporary directory, removed by the caller with `remove()`.
struct TempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("apo-pipeline-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func write(_ name: String, _ text: String) throws -> URL {
        let u = file(name)
        try Data(text.utf8).write(to: u)
        return u
    }
}

/// The repository root: the nearest directory above this file holding Package.swift.
func repositoryRoot() -> URL {
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while dir.path != "/" {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

/// The shared HH harmless-base test split (2,312 pairs), which lives next to the repository.
func sharedHHFile() -> URL {
    repositoryRoot().appendingPathComponent("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz").standardizedFileURL
}

/// Runs an expanded pipeline in-process, in topological order, resolving `${jobs.…}` references
/// from earlier jobs' outputs: a tiny stand-in for the runtime, to test spec + kinds end to end.
func runInProcess(_ pipeline: ExpandedPipeline, root: URL,
                  registry: [String: any JobKind.Type] = JobKindRegistry.standard) throws -> [String: JobOutputs] {
    var outputs: [String: JobOutputs] = [:]
    for job in pipeline.jobs {
        let params = try ParamResolver.resolve(job.params) { outputs[$0] }
        let ctx = try TestJobContext(params: params, root: root.appendingPathComponent(job.id))
        outputs[job.id] = try registry[job.kind]!.run(ctx)
    }
    return outputs
}
