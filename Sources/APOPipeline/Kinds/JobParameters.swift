import APOJSON
import Foundation

extension JSONValue {
    /// A short name of this value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "double"
        case .string: return "string"
        case .array: return "list"
        case .object: return "map"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// Ints widen to doubles: YAML writes `1` for a double parameter that happens to be whole.
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    /// The text a value takes when spliced into a longer string: strings verbatim, scalars as
    /// written in YAML/JSON, lists and maps as compact JSON.
    public var interpolatedText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) + ".0" : String(d)
        case .string(let s): return s
        case .array, .object: return (try? jsonString()) ?? ""
        }
    }

    /// Compact JSON with sorted keys, so equal values always give equal text (memoization keys).
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

extension ParamType {
    /// Whether `value` (already free of `${…}` references) is acceptable for this type. A null is
    /// accepted only where the declared default is null ("not set").
    public func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.any, _): return true
        case (.string, .string), (.path, .string), (.pathOrURL, .string), (.outputPath, .string),
             (.artifactName, .string):
            return true
        case (.int, .int): return true
        case (.double, .double), (.double, .int): return true
        case (.bool, .bool): return true
        case (.stringList, .array(let items)), (.pathList, .array(let items)):
            return items.allSatisfy { $0.stringValue != nil }
        default: return false
        }
    }
}

/// A job parameter that is missing or has the wrong type at run time (validation normally catches
/// these earlier; a run-time reference can still resolve to an unexpected value).
public enum JobParameterError: Error, CustomStringConvertible {
    case missing(String)
    case wrongType(name: String, expected: String, found: String)
    case invalid(name: String, message: String)

    public var description: String {
        switch self {
        case .missing(let name): return "parameter '\(name)' is required"
        case .wrongType(let name, let expected, let found):
            return "parameter '\(name)' must be \(expected), found \(found)"
        case .invalid(let name, let message): return "parameter '\(name)': \(message)"
        }
    }
}

/// Typed access to a job's resolved parameters, for kinds.
extension JobContext {
    public func stringParam(_ name: String) throws -> String {
        guard let v = params[name], v != .null else { throw JobParameterError.missing(name) }
        guard let s = v.stringValue else { throw JobParameterError.wrongType(name: name, expected: "a string", found: v.typeName) }
        return s
    }

    /// nil when the parameter is absent, null or the empty string.
    public func optionalStringParam(_ name: String) throws -> String? {
        guard let v = params[name], v != .null else { return nil }
        guard let s = v.stringValue else { throw JobParameterError.wrongType(name: name, expected: "a string", found: v.typeName) }
        return s.isEmpty ? nil : s
    }

    public func intParam(_ name: String) throws -> Int {
        guard let v = params[name], v != .null else { throw JobParameterError.missing(name) }
        if let i = v.intValue { return i }
        if let d = v.doubleValue, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        throw JobParameterError.wrongType(name: name, expected: "an int", found: v.typeName)
    }

    public func doubleParam(_ name: String) throws -> Double {
        guard let v = params[name], v != .null else { throw JobParameterError.missing(name) }
        guard let d = v.doubleValue else { throw JobParameterError.wrongType(name: name, expected: "a number", found: v.typeName) }
        return d
    }

    public func boolParam(_ name: String) throws -> Bool {
        guard let v = params[name], v != .null else { throw JobParameterError.missing(name) }
        guard let b = v.boolValue else { throw JobParameterError.wrongType(name: name, expected: "a bool", found: v.typeName) }
        return b
    }

    /// The `threads` parameter, where 0 (or less) means the worker's share (at least 1).
    public func threadsParam() throws -> Int {
        let requested = try intParam("threads")
        return requested > 0 ? requested : max(1, threads)
    }

    /// A file path parameter. `apoctl submit` stores paths absolute (resolved against the
    /// submitter's directory); a relative one left (a job stored by other means) is taken
    /// relative to the worker's current directory.
    public func pathParam(_ name: String) throws -> URL {
        URL(fileURLWithPath: try stringParam(name))
    }

    public func optionalPathParam(_ name: String) throws -> URL? {
        try optionalStringParam(name).map { URL(fileURLWithPath: $0) }
    }
}

extension JSONValue {
    /// Parses JSON through `JSONSerialization`, which is an order of magnitude faster than decoding
    /// `JSONValue` with `JSONDecoder` (whose failed type probes each throw).
    public static func parseJSON(_ data: Data) throws -> JSONValue {
        try JSONValue(jsonObject: JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// Converts `JSONSerialization` output. Booleans are the `NSNumber`s whose type is `c` (char),
    /// which JSON numbers never produce.
    public init(jsonObject: Any) throws {
        switch jsonObject {
        case is NSNull: self = .null
        case let n as NSNumber:
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "d", "f": self = .double(n.doubleValue)
            case "Q" where n.uint64Value > UInt64(Int.max): self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(try a.map(JSONValue.init(jsonObject:)))
        case let o as [String: Any]: self = .object(try o.mapValues(JSONValue.init(jsonObject:)))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unexpected JSON value of type \(type(of: jsonObject))"))
        }
    }
}
