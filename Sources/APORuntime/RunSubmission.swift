import APOPipeline
import APOStore
import Foundation

/// Turns a validated, expanded pipeline into the store's `NewRun`.
public enum RunSubmission {
    /// Where a run's artifacts go unless `--artifacts` says otherwise: `<db dir>/artifacts/`.
    public static func defaultArtifactBase(databasePath: String) -> URL {
        URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("artifacts", isDirectory: true)
    }

    /// The folder under which a run's folder is made: `option` (`--artifacts`, `$APO_ARTIFACTS`),
    /// else next to an SQLite database. A PostgreSQL database has no "next to": its hosts share
    /// only what they all mount, so the folder must be named.
    public static func artifactBase(option: String?, databasePath: String) throws -> URL {
        if let option, !option.isEmpty { return URL(fileURLWithPath: option).standardizedFileURL }
        guard !StoreLocation.isPostgres(databasePath) else { throw ArtifactBaseMissing() }
        return defaultArtifactBase(databasePath: databasePath)
    }

    /// `<base>/<pipeline>-<UTC time>-<random>`: unique before the run id exists, and sortable.
    public static func artifactRoot(base: URL, pipelineName: String, now: Date) -> URL {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        let safeName = String(pipelineName.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        let suffix = String(UUID().uuidString.prefix(6)).lowercased()
        return base.appendingPathComponent("\(safeName)-\(formatter.string(from: now))-\(suffix)", isDirectory: true)
    }

    public static func newRun(from pipeline: ExpandedPipeline, artifactRoot: URL) -> NewRun {
        let jobs = pipeline.jobs.map { job in
            NewJob(
                key: job.id, kind: job.kind, kindVersion: job.kindVersion,
                paramsJSON: job.paramsJSON,
                needs: job.needs, priority: job.priority, maxAttempts: job.maxAttempts,
                backoffBaseSeconds: job.backoffBaseSeconds, backoffMaxSeconds: job.backoffMaxSeconds,
                timeoutSeconds: job.timeoutSeconds,
                resourcesJSON: job.resourcesJSON,
                memoize: job.memoize)
        }
        return NewRun(
            pipelineName: pipeline.name, pipelineYAML: pipeline.yamlText, pipelineHash: pipeline.yamlHash,
            paramsJSON: pipeline.paramsJSON,
            artifactRoot: artifactRoot.path, jobs: jobs)
    }
}

/// A pipeline file that cannot be submitted: one `FILE:LINE:COLUMN: error: …` line per problem.
public struct PipelineRejected: Error, CustomStringConvertible {
    public let lines: [String]
    public var description: String { lines.joined(separator: "\n") }
}

extension RunSubmission {
    /// Loads and validates `file`, then stores it as a new run under a fresh artifact folder in
    /// `artifactBase`. Throws `PipelineRejected` (nothing stored) for an invalid file, including
    /// an input file that is missing, unreadable or not the pinned sha256; input paths are stored
    /// absolute, resolved against `inputs.baseDirectory` (the submitter's directory).
    public static func submit(file: String, preset: String? = nil, overrides: [String: String], store: JobStore,
                              artifactBase: URL, now: Date,
                              inputs: InputFileCheck = .currentDirectory) throws -> (runID: Int64, jobCount: Int) {
        try submit(load(file: file, preset: preset, overrides: overrides, inputs: inputs), store: store,
                   artifactBase: artifactBase, now: now)
    }

    /// Stores an already validated pipeline as a new run under a fresh artifact folder.
    public static func submit(_ pipeline: ExpandedPipeline, store: JobStore,
                              artifactBase: URL, now: Date) throws -> (runID: Int64, jobCount: Int) {
        let root = artifactRoot(base: artifactBase, pipelineName: pipeline.name, now: now)
        // Made now, on the submitting host: a worker on a host that does not mount the artifact
        // root then finds no run folder and leaves the run to hosts that do.
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let runID = try store.createRun(newRun(from: pipeline, artifactRoot: root), now: now)
        // The run is stored: should recording its folder's owner fail here, the first attempt
        // records it instead (`AttemptFolders.prepare`).
        try? RunFolderOwner.claimNewFolder(root: root.path, runID: runID, store: store)
        return (runID, pipeline.jobs.count)
    }

    /// Reads, validates and expands a pipeline file, with the params preset at `preset` applied
    /// before `overrides`; every problem comes back in one `PipelineRejected`, nothing is stored.
    public static func load(file: String, preset: String? = nil, overrides: [String: String],
                            inputs: InputFileCheck? = .currentDirectory) throws -> ExpandedPipeline {
        do {
            return try PipelineSpec.load(path: file, preset: try preset.map { try ParamsPreset.load(path: $0) },
                                         overrides: overrides, inputs: inputs)
        } catch let error as PipelineValidationError {
            throw PipelineRejected(lines: error.diagnostics.map(\.description))
        } catch let diagnostic as PipelineDiagnostic {
            throw PipelineRejected(lines: [diagnostic.description])
        }
    }
}

/// A PostgreSQL submission that does not say where its artifacts go.
public struct ArtifactBaseMissing: Error, CustomStringConvertible {
    public var description: String {
        "error: with a PostgreSQL database, say where the run's artifacts go: --artifacts DIR (or $APO_ARTIFACTS), "
            + "a folder every worker host mounts at the same path (NFS, Lustre, a ReadWriteMany volume)"
    }
}
