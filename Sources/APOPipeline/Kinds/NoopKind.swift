import Foundation

/// A deliberate failure of the `noop` kind.
public struct NoopFailure: RetryableError, CustomStringConvertible {
    public let attempt: Int
    public var description: String { "noop: failing on purpose (attempt \(attempt))" }
}

/// Does nothing, fast: for queue tests and benchmarks. Optional behaviours, all deterministic:
/// - `value`: returned as output `value` (and written to `artifact` if that is set);
/// - `fail: true` fails every attempt; `fail_times: N` fails the first N attempts, then succeeds;
/// - `crash_times: N` makes the first N attempts exit the whole process with status 77 (a worker
///   crash, for supervisor tests — never use it in-process);
/// - `touch: PATH` appends one line per execution to PATH, so a test can prove a job ran once.
/// Attempts are counted in a file in the job's checkpoint directory (shared by all attempts).
public enum NoopKind: JobKind {
    public static let name = "noop"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("value", .any, default: .null, help: "echoed as output 'value'"),
        ParameterSpec("fail", .bool, default: .bool(false), help: "fail every attempt"),
        ParameterSpec("fail_times", .int, default: .int(0), help: "fail the first N attempts"),
        ParameterSpec("crash_times", .int, default: .int(0), help: "exit(77) in the first N attempts"),
        ParameterSpec("touch", .outputPath, default: .null, help: "append a line to this file per execution"),
        ParameterSpec("artifact", .artifactName, default: .null, help: "write `value` as JSON to an artifact of this name"),
    ]
    public static let outputs = ["value", "artifact", "attempt"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let attempt = try countAttempt(context.checkpointDirectory)
        if let touch = try context.optionalPathParam("touch") {
            try appendLine("\(ProcessInfo.processInfo.processIdentifier) attempt \(attempt)\n", to: touch)
        }
        if attempt <= (try context.intParam("crash_times")) {
            context.log("noop: crashing the process on purpose (attempt \(attempt))")
            exit(77)
        }
        if try context.boolParam("fail") || attempt <= (try context.intParam("fail_times")) {
            throw NoopFailure(attempt: attempt)
        }
        try context.checkCancelled()
        let value = context.params["value"] ?? .null
        var outputs: JobOutputs = ["value": value, "attempt": .int(attempt), "artifact": .null]
        if let name = try context.optionalStringParam("artifact") {
            let url = try context.writeArtifact(named: name) { try Data(value.jsonString().utf8).write(to: $0) }
            outputs["artifact"] = .string(url.path)
        }
        context.reportProgress(done: 1, total: 1, message: nil)
        return outputs
    }

    /// Increments and returns the attempt counter kept in `dir`.
    static func countAttempt(_ dir: URL) throws -> Int {
        let counter = dir.appendingPathComponent("noop-attempts")
        let previous = (try? String(contentsOf: counter, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let tmp = dir.appendingPathComponent("noop-attempts.tmp")
        try Data(String(previous + 1).utf8).write(to: tmp)
        guard rename(tmp.path, counter.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: counter.path])
        }
        return previous + 1
    }

    static func appendLine(_ line: String, to url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let h = try FileHandle(forWritingTo: url)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(line.utf8))
    }
}
