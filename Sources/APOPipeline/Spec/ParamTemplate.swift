import APOJSON
import Foundation

/// A string parameter split into literal text and `${…}` references. `${` always opens a
/// reference (there is no escape); the reference ends at the next `}`.
enum TemplateSegment: Equatable {
    case literal(String)
    case reference(String)
}

enum ParamTemplate {
    /// nil when a `${` is never closed.
    static func parse(_ s: String) -> [TemplateSegment]? {
        var segments: [TemplateSegment] = []
        var rest = Substring(s)
        while let open = rest.range(of: "${") {
            if open.lowerBound > rest.startIndex { segments.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { return nil }
            segments.append(.reference(String(rest[open.upperBound..<close])))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { segments.append(.literal(String(rest))) }
        return segments
    }

    static func containsReference(_ s: String) -> Bool { s.contains("${") }
}

/// `jobs.ID.outputs.NAME`: an output of another job, known only once that job has run. ID may
/// itself contain dots (round jobs are `r2.train_rm`), so it is split at the last `.outputs.`.
public struct JobOutputReference: Equatable, Hashable, Sendable {
    public let jobID: String
    public let output: String

    public init(jobID: String, output: String) {
        self.jobID = jobID
        self.output = output
    }

    /// Parses the text between `${` and `}`.
    public init?(expression: String) {
        guard expression.hasPrefix("jobs."),
              let r = expression.range(of: ".outputs.", options: .backwards) else { return nil }
        let idStart = expression.index(expression.startIndex, offsetBy: 5)
        guard r.lowerBound > idStart else { return nil }  // "jobs.outputs.x": no id
        let id = expression[idStart..<r.lowerBound]
        let name = expression[r.upperBound...]
        guard !id.isEmpty, !name.isEmpty, !name.contains(".") else { return nil }
        jobID = String(id)
        output = String(name)
    }

    public var expression: String { "jobs.\(jobID).outputs.\(output)" }
    public var placeholder: String { "${\(expression)}" }
}

/// A `${jobs.…}` reference that cannot be resolved at run time.
public enum ParamResolutionError: Error, CustomStringConvertible, Equatable {
    case badReference(param: String, text: String)
    case jobHasNoOutputs(param: String, jobID: String)
    case unknownOutput(param: String, jobID: String, output: String, available: [String])

    public var description: String {
        switch self {
        case .badReference(let p, let t): return "parameter '\(p)': bad reference syntax in \"\(t)\""
        case .jobHasNoOutputs(let p, let j): return "parameter '\(p)': job '\(j)' has no recorded outputs"
        case .unknownOutput(let p, let j, let o, let available):
            return "parameter '\(p)': job '\(j)' has no output '\(o)' (it has: \(available.sorted().joined(separator: ", ")))"
        }
    }
}

/// Resolves the `${jobs.ID.outputs.NAME}` references left in an `ExpandedJob`'s params once the
/// dependencies have run. A string that is exactly one reference takes the output's value with its
/// type; a reference inside a longer string is spliced in as text (`JSONValue.interpolatedText`).
public enum ParamResolver {
    public static func resolve(_ params: [String: JSONValue],
                               outputs: (String) -> JobOutputs?) throws -> [String: JSONValue] {
        var resolved: [String: JSONValue] = [:]
        for (name, value) in params {
            resolved[name] = try resolve(value, param: name, outputs: outputs)
        }
        return resolved
    }

    /// The same, with each dependency's outputs as the JSON object text the store keeps
    /// (`ClaimedJob.dependencyOutputs`: job key → outputs JSON).
    public static func resolve(_ params: [String: JSONValue],
                               outputsJSON: [String: String]) throws -> [String: JSONValue] {
        var parsed: [String: JobOutputs] = [:]
        for (job, text) in outputsJSON {
            guard case .object(let o) = try JSONValue.parseJSON(Data(text.utf8)) else {
                throw ParamResolutionError.jobHasNoOutputs(param: "*", jobID: job)
            }
            parsed[job] = o
        }
        return try resolve(params) { parsed[$0] }
    }

    static func resolve(_ value: JSONValue, param: String, outputs: (String) -> JobOutputs?) throws -> JSONValue {
        switch value {
        case .string(let s):
            guard ParamTemplate.containsReference(s) else { return value }
            guard let segments = ParamTemplate.parse(s) else { throw ParamResolutionError.badReference(param: param, text: s) }
            func lookup(_ expression: String) throws -> JSONValue {
                guard let ref = JobOutputReference(expression: expression) else {
                    throw ParamResolutionError.badReference(param: param, text: s)
                }
                guard let out = outputs(ref.jobID) else {
                    throw ParamResolutionError.jobHasNoOutputs(param: param, jobID: ref.jobID)
                }
                guard let v = out[ref.output] else {
                    throw ParamResolutionError.unknownOutput(param: param, jobID: ref.jobID, output: ref.output, available: out.keys.sorted())
                }
                return v
            }
            if segments.count == 1, case .reference(let e) = segments[0] { return try lookup(e) }
            var text = ""
            for segment in segments {
                switch segment {
                case .literal(let l): text += l
                case .reference(let e): text += try lookup(e).interpolatedText
                }
            }
            return .string(text)
        case .array(let items):
            return .array(try items.map { try resolve($0, param: param, outputs: outputs) })
        case .object(let o):
            return .object(try o.mapValues { try resolve($0, param: param, outputs: outputs) })
        default:
            return value
        }
    }

    /// Every job-output reference in `params` (ignoring malformed ones, which validation rejects).
    public static func references(in params: [String: JSONValue]) -> [JobOutputReference] {
        var found: [JobOutputReference] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .string(let s):
                for case .reference(let e) in ParamTemplate.parse(s) ?? [] {
                    if let r = JobOutputReference(expression: e) { found.append(r) }
                }
            case .array(let items): items.forEach(walk)
            case .object(let o): o.values.forEach(walk)
            default: break
            }
        }
        params.keys.sorted().forEach { walk(params[$0]!) }
        return found
    }
}
