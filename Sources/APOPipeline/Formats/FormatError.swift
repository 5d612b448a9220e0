import APOJSON
import Foundation

/// A data file that does not have the shape its format requires; names the file, and the item
/// index and field where one applies.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public let file: String
    /// Index in the top-level JSON list (0-based), or the 1-based line for line-oriented files.
    public let item: Int?
    public let field: String?
    public let message: String
    /// true when `item` is a 1-based line number (jsonl input) rather than a list index.
    public let isLine: Bool

    public init(file: String, item: Int? = nil, field: String? = nil, message: String, isLine: Bool = false) {
        self.file = file
        self.item = item
        self.field = field
        self.message = message
        self.isLine = isLine
    }

    public var description: String {
        var where_ = file
        if let item { where_ += isLine ? ":\(item)" : ": item \(item)" }
        if let field { where_ += ", field '\(field)'" }
        return "\(where_): \(message)"
    }
}

/// Reading and writing the JSON-list files that the formats share.
enum JSONListFile {
    static func read(_ url: URL) throws -> [JSONValue] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FormatError(file: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, file: url.path)
    }

    static func parse(_ data: Data, file: String) throws -> [JSONValue] {
        let value: JSONValue
        do { value = try JSONValue.parseJSON(data) } catch {
            throw FormatError(file: file, message: "not valid JSON: \(jsonErrorSummary(error))")
        }
        guard case .array(let items) = value else {
            throw FormatError(file: file, message: "expected a JSON list at the top level, found \(value.typeName)")
        }
        return items
    }

    /// Compact, sorted-key JSON: byte-identical output for identical content (memoization digests).
    static func encode(_ items: [JSONValue]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(JSONValue.array(items))
    }

    static func object(_ item: JSONValue, file: String, index: Int) throws -> [String: JSONValue] {
        guard case .object(let o) = item else {
            throw FormatError(file: file, item: index, message: "expected an object, found \(item.typeName)")
        }
        return o
    }

    static func string(_ o: [String: JSONValue], _ key: String, file: String, index: Int) throws -> String {
        guard let v = o[key] else { throw FormatError(file: file, item: index, field: key, message: "missing") }
        guard let s = v.stringValue else {
            throw FormatError(file: file, item: index, field: key, message: "expected a string, found \(v.typeName)")
        }
        return s
    }

    static func number(_ v: JSONValue, file: String, index: Int, field: String) throws -> Double {
        guard let d = v.doubleValue else {
            throw FormatError(file: file, item: index, field: field, message: "expected a number, found \(v.typeName)")
        }
        return d
    }
}

func jsonErrorSummary(_ error: Error) -> String {
    if let description = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String { return description }
    if case DecodingError.dataCorrupted(let ctx) = error {
        let underlying = (ctx.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return underlying ?? ctx.debugDescription
    }
    return "\(error)"
}
