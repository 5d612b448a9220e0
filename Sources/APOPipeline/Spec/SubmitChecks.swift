import Foundation

/// Submit-time checks of the files a pipeline reads: `PipelineSpec.load(…, inputs:)` resolves
/// every input path (`ParamType.isInputPath`) against `baseDirectory`, checks that it exists and
/// is readable, and checks its sha256 where the job pins one (`ParameterSpec.sha256Parameter`).
/// Without it (validation only, as in tests of the parser) paths are left as written.
public struct InputFileCheck: Sendable {
    /// Where relative paths are taken from: the submitter's working directory.
    public var baseDirectory: URL

    public init(baseDirectory: URL) {
        self.baseDirectory = baseDirectory
    }

    /// The current process's working directory.
    public static var currentDirectory: InputFileCheck {
        InputFileCheck(baseDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
    }
}

/// The rules behind the submit checks, as pure functions the compiler calls with positions.
enum SubmitChecks {
    /// Longest job id, pipeline name or artifact name accepted, in UTF-8 bytes (file systems
    /// allow 255 per path component; ids also prefix folder and temporary file names).
    static let maxNameBytes = 200

    /// Why `name` cannot be used as a name that becomes a file name, or nil when it can.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maxNameBytes { return "is \(name.utf8.count) bytes long (at most \(maxNameBytes))" }
        if let c = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            return "contains the control character U+\(String(format: "%04X", c.value))"
        }
        return nil
    }

    /// Why an artifact name (relative, `/`-separated, inside the job's folder) is unsafe, or nil.
    static func artifactNameProblem(_ name: String) -> String? {
        if let problem = nameProblem(name) { return problem }
        if name.hasPrefix("/") { return "is an absolute path; an artifact name is relative to the job's folder" }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "has an empty path component" }
            if component == ".." { return "contains '..', which would leave the job's folder" }
            if component.hasPrefix(".") { return "has a component starting with '.' (reserved for temporary files)" }
        }
        return nil
    }

    static func isURL(_ s: String) -> Bool {
        let lower = s.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// `path` made absolute against `base` (`.` and `..` folded).
    static func absolute(_ path: String, base: URL) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        return url.standardizedFileURL.path
    }

    /// Why the file at `absolute` cannot be read, or nil. `written` is the path as in the pipeline.
    static func inputProblem(absolute: String, written: String) -> String? {
        let shown = absolute == written ? absolute : "\(absolute) (from '\(written)')"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
            return "\(shown) does not exist"
        }
        let mode = isDirectory.boolValue ? R_OK | X_OK : R_OK
        if access(absolute, mode) != 0 { return "\(shown) is not readable: \(String(cString: strerror(errno)))" }
        return nil
    }
}

extension SubmitChecks {
    /// A value for messages: `'name'`, or an escaped literal (`"a\nb"`) when it holds control
    /// characters; cut to 80 characters.
    static func shown(_ s: String) -> String {
        let hasControl = s.unicodeScalars.contains { $0.properties.generalCategory == .control }
        let quoted = hasControl ? String(reflecting: s) : "'\(s)'"
        return quoted.count > 80 ? String(quoted.prefix(77)) + "…" + String(quoted.last!) : quoted
    }
}
