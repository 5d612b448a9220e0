import APOJSON
import Foundation

/// One problem in a pipeline file, at a 1-based line and column (0 when no position applies,
/// e.g. a `--param` override).
public struct PipelineDiagnostic: Error, CustomStringConvertible, Equatable, Hashable, Sendable {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COLUMN: error: message`, the shape compilers print and editors jump to.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): error: \(message)" : "\(file): error: \(message)"
    }
}

/// Every problem found in a pipeline file (never empty); one line each.
public struct PipelineValidationError: Error, CustomStringConvertible, Sendable {
    public let diagnostics: [PipelineDiagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// One concrete job of an expanded pipeline. `params` have defaults applied and `${params.…}`,
/// `${round}`, `${prev.…}` and `${rounds.last.…}` substituted; the only references left are
/// `${jobs.ID.outputs.NAME}` with ID in `needs` (transitively), resolved by `ParamResolver` at run time.
public struct ExpandedJob: Codable, Equatable, Sendable {
    public var id: String
    public var kind: String
    public var kindVersion: Int
    public var params: [String: JSONValue]
    /// Direct dependencies (explicit `needs` plus every job a `${jobs.…}` reference names), sorted.
    public var needs: [String]
    public var maxAttempts: Int
    public var backoffBaseSeconds: Double
    public var backoffMaxSeconds: Double
    public var timeoutSeconds: Double?
    public var threads: Int
    public var memoryMB: Int?
    /// Host labels the job needs (`resources: {labels: {gpu: a100}}`); nil when it asks for none.
    public var labels: [String: String]?
    public var priority: Int
    public var memoize: Bool

    /// `params` as compact sorted-key JSON (stable text, for storage and memo keys).
    public var paramsJSON: String {
        (try? JSONValue.object(params).jsonString()) ?? "{}"
    }

    /// `{"labels": {…}, "memory_mb": M, "threads": N}` as compact sorted-key JSON: what the
    /// store's claim checks against each host.
    public var resourcesJSON: String {
        var o: [String: JSONValue] = ["threads": .int(threads)]
        if let memoryMB { o["memory_mb"] = .int(memoryMB) }
        if let labels, !labels.isEmpty { o["labels"] = .object(labels.mapValues { .string($0) }) }
        return (try? JSONValue.object(o).jsonString()) ?? "{}"
    }
}

/// A validated pipeline: `jobs` are in topological order (each job after all of its `needs`,
/// otherwise in file order), ids are unique, every kind and param is known and well-typed.
public struct ExpandedPipeline: Codable, Equatable, Sendable {
    public var name: String
    /// The file's text exactly as submitted.
    public var yamlText: String
    /// Hex sha256 of `yamlText`.
    public var yamlHash: String
    /// Pipeline params after `--param` overrides.
    public var params: [String: JSONValue]
    public var jobs: [ExpandedJob]

    public var paramsJSON: String {
        (try? JSONValue.object(params).jsonString()) ?? "{}"
    }

    public func job(_ id: String) -> ExpandedJob? { jobs.first { $0.id == id } }
}
