import APOJSON
import Foundation

/// The type a job parameter must have; checked when a pipeline is validated.
///
/// The path types say what `apoctl submit` does with a value that is not a `${jobs.…}` reference
/// (those are upstream outputs, known only at run time):
/// - `path`, `pathList`: files or directories the job reads. Each must exist and be readable at
///   submit; a relative path is resolved against the submitter's working directory and stored
///   absolute, so the daemon's working directory never matters.
/// - `pathOrURL`: the same for a local path; an `http(s)://` URL is left for the job to fetch.
/// - `outputPath`: a file the job writes outside its artifact folder (test tools): stored
///   absolute, not checked.
/// - `artifactName`: a name inside the job's artifact folder: a relative path that cannot leave
///   it (no `..`, no leading `/` or `.`, no control characters, at most 200 bytes).
public enum ParamType: String, Sendable {
    case string, int, double, bool, path
    case stringList = "list of strings"
    case pathList = "list of paths"
    case pathOrURL = "path or URL"
    case outputPath = "output path"
    case artifactName = "artifact name"
    case any

    /// Whether values are input files checked at submit (`path`, `pathList`, `pathOrURL`).
    public var isInputPath: Bool { self == .path || self == .pathList || self == .pathOrURL }
}

/// One declared parameter of a job kind.
public struct ParameterSpec: Sendable {
    public let name: String
    public let type: ParamType
    /// nil: the parameter is required.
    public let defaultValue: JSONValue?
    public let help: String
    /// For an input path: the parameter of the same job that pins the file's sha256 (hex); when it
    /// is set, `apoctl submit` checks the file's digest against it.
    public let sha256Parameter: String?
    /// For a string parameter: the only values it may take (checked at submit).
    public let allowedValues: [String]?
    /// False for a knob of how the work is done that leaves the outputs bit-identical (memory
    /// against time): it stays out of the memo key, so flipping it reuses earlier results.
    public let changesOutputs: Bool

    public init(_ name: String, _ type: ParamType, default defaultValue: JSONValue? = nil,
                sha256Parameter: String? = nil, allowedValues: [String]? = nil, changesOutputs: Bool = true,
                help: String) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.help = help
        self.sha256Parameter = sha256Parameter
        self.allowedValues = allowedValues
        self.changesOutputs = changesOutputs
    }

    /// `gradient_checkpointing` of the training kinds.
    public static let gradientCheckpointing = ParameterSpec(
        "gradient_checkpointing", .bool, default: .bool(false), changesOutputs: false,
        help: "keep only each trained block's input and re-compute the rest in the backward pass: "
            + "the same result bit for bit with far less memory, for one more forward pass of the trained blocks")

    public var isRequired: Bool { defaultValue == nil }
}

/// What a job kind returns: named outputs (usually artifact paths) that later jobs reference as
/// `${jobs.ID.outputs.NAME}`.
public typealias JobOutputs = [String: JSONValue]

/// An error that another attempt of the same job may not meet (a flaky resource, a deliberate
/// test failure). The worker retries these; any error that is not one, nor an I/O error, fails
/// the job at once, since reading the same inputs again gives the same answer.
public protocol RetryableError: Error {}

/// Thrown from `JobContext.checkCancelled()` when the job was cancelled or the worker is stopping;
/// a kind lets it propagate after saving whatever checkpoint it keeps.
public struct JobCancelled: Error, Sendable {
    public init() {}
}

/// One step of the APO game (prepare data, generate, train an RM, …), run by a worker.
///
/// A kind is a pure function of its parameters and input files: same kind, `version`, params and
/// input digests ⇒ same outputs, which is what memoization relies on. Bump `version` whenever a
/// change alters the outputs for the same inputs.
public protocol JobKind {
    static var name: String { get }
    static var version: Int { get }
    static var parameters: [ParameterSpec] { get }
    /// Names of the outputs `run` returns.
    static var outputs: [String] { get }
    static func run(_ context: any JobContext) throws -> JobOutputs
}

/// What a running job can see and do; implemented by the runtime's worker over the store.
public protocol JobContext: AnyObject {
    /// Parameters with defaults applied and every `${…}` reference resolved.
    var params: [String: JSONValue] { get }
    /// This job's artifact directory (exists; shared by all attempts of the job).
    var outputDirectory: URL { get }
    /// A directory kept across attempts of this job for checkpoints (exists).
    var checkpointDirectory: URL { get }
    /// CPU threads this job may use.
    var threads: Int { get }
    /// The host's cache of frozen-trunk states (`trunk_cache`), shared with other jobs and runs.
    var trunkCache: TrunkStateCache { get }
    func reportProgress(done: Int, total: Int, message: String?)
    func log(_ line: String)
    func recordMetric(step: Int, name: String, value: Double)
    /// Throws `JobCancelled` once the job was cancelled or the worker is shutting down.
    func checkCancelled() throws
    /// Writes an artifact atomically: `write` creates a temporary file, or a directory (a model),
    /// at the URL it is given, which is then renamed to `outputDirectory/name` and recorded with
    /// its sha256 and size (a directory's cover all its files). Returns the final URL.
    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL
}
