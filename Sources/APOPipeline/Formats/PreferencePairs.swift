import APOJSON
import Foundation

/// One "text-scores" item: responses to one query, each written `query<sep>response`, with a human
/// (or APO) score per response; higher is preferred. Invariant: `text.count == scores.count`.
public struct PreferencePair: Equatable, Sendable {
    /// The literal separator between query and response inside each `text` entry.
    public static let separator = "<sep>"

    public var text: [String]
    public var scores: [Double]
    public var queryID: String?
    /// "apo" for pairs built from LLM samples; nil for human pairs.
    public var type: String?

    public init(text: [String], scores: [Double], queryID: String? = nil, type: String? = nil) {
        self.text = text
        self.scores = scores
        self.queryID = queryID
        self.type = type
    }

    /// The pair `[query<sep>preferred, query<sep>other]` with scores `[1, 0]`.
    public init(query: String, preferred: String, other: String, queryID: String? = nil, type: String? = nil) {
        self.init(text: [query + Self.separator + preferred, query + Self.separator + other],
                  scores: [1, 0], queryID: queryID, type: type)
    }

    /// Splits one `text` entry at its first `<sep>`; nil when it has none.
    public static func split(_ entry: String) -> (query: String, response: String)? {
        guard let r = entry.range(of: separator) else { return nil }
        return (String(entry[..<r.lowerBound]), String(entry[r.upperBound...]))
    }
}

/// Reads and writes "text-scores" files: a JSON list of `{"text", "scores", "query_id"?, "type"?}`.
public enum PreferencePairsFile {
    public static func read(_ url: URL) throws -> [PreferencePair] {
        try decode(JSONListFile.read(url), file: url.path)
    }

    public static func decode(_ items: [JSONValue], file: String) throws -> [PreferencePair] {
        try items.enumerated().map { index, item in
            let o = try JSONListFile.object(item, file: file, index: index)
            guard case .array(let texts)? = o["text"] else {
                throw FormatError(file: file, item: index, field: "text", message: o["text"] == nil ? "missing" : "expected a list of strings")
            }
            guard case .array(let scores)? = o["scores"] else {
                throw FormatError(file: file, item: index, field: "scores", message: o["scores"] == nil ? "missing" : "expected a list of numbers")
            }
            let text = try texts.enumerated().map { k, t -> String in
                guard let s = t.stringValue else {
                    throw FormatError(file: file, item: index, field: "text[\(k)]", message: "expected a string, found \(t.typeName)")
                }
                guard s.contains(PreferencePair.separator) else {
                    throw FormatError(file: file, item: index, field: "text[\(k)]", message: "has no \(PreferencePair.separator) between query and response")
                }
                return s
            }
            let values = try scores.enumerated().map { k, v in
                try JSONListFile.number(v, file: file, index: index, field: "scores[\(k)]")
            }
            guard text.count == values.count else {
                throw FormatError(file: file, item: index, field: "scores",
                                  message: "has \(values.count) scores for \(text.count) texts")
            }
            let queryID = try optionalString(o, "query_id", file: file, index: index)
            let type = try optionalString(o, "type", file: file, index: index)
            return PreferencePair(text: text, scores: values, queryID: queryID, type: type)
        }
    }

    public static func encode(_ pairs: [PreferencePair]) throws -> Data {
        try JSONListFile.encode(pairs.map { p in
            var o: [String: JSONValue] = [
                "text": .array(p.text.map(JSONValue.string)),
                "scores": .array(p.scores.map(scoreValue)),
            ]
            if let q = p.queryID { o["query_id"] = .string(q) }
            if let t = p.type { o["type"] = .string(t) }
            return .object(o)
        })
    }

    public static func write(_ pairs: [PreferencePair], to url: URL) throws {
        try encode(pairs).write(to: url)
    }
}

/// Whole scores are written as ints (`[1, 0]`, as the reference writes them).
func scoreValue(_ d: Double) -> JSONValue {
    d == d.rounded() && abs(d) < 1e15 ? .int(Int(d)) : .double(d)
}

func optionalString(_ o: [String: JSONValue], _ key: String, file: String, index: Int) throws -> String? {
    guard let v = o[key], v != .null else { return nil }
    guard let s = v.stringValue else {
        throw FormatError(file: file, item: index, field: key, message: "expected a string, found \(v.typeName)")
    }
    return s
}
