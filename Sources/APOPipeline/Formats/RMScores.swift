import APOJSON
import Foundation

/// The reward model's score for one answer of one query. On disk: `{"<query_id>:<answer_key>": score}`.
public struct RMScore: Equatable, Sendable {
    public var queryID: String
    public var answerKey: String
    public var score: Double

    public init(queryID: String, answerKey: String, score: Double) {
        self.queryID = queryID
        self.answerKey = answerKey
        self.score = score
    }

    public var key: String { queryID + ":" + answerKey }

    /// Splits at the LAST ':' because query ids may themselves contain ':'.
    public static func splitKey(_ key: String) -> (queryID: String, answerKey: String)? {
        guard let colon = key.lastIndex(of: ":") else { return nil }
        return (String(key[..<colon]), String(key[key.index(after: colon)...]))
    }
}

/// Reads and writes RM score files: a JSON list of one-key objects `{"<query_id>:<answer_key>": score}`.
public enum RMScoresFile {
    public static func read(_ url: URL) throws -> [RMScore] {
        try decode(JSONListFile.read(url), file: url.path)
    }

    public static func decode(_ items: [JSONValue], file: String) throws -> [RMScore] {
        try items.enumerated().map { index, item in
            let o = try JSONListFile.object(item, file: file, index: index)
            guard o.count == 1, let (key, value) = o.first else {
                throw FormatError(file: file, item: index, message: "expected an object with exactly one key \"<query_id>:<answer_key>\", found \(o.count) keys")
            }
            guard let (q, a) = RMScore.splitKey(key), !a.isEmpty else {
                throw FormatError(file: file, item: index, field: key, message: "key has no ':<answer_key>' suffix")
            }
            return RMScore(queryID: q, answerKey: a, score: try JSONListFile.number(value, file: file, index: index, field: key))
        }
    }

    public static func encode(_ scores: [RMScore]) throws -> Data {
        try JSONListFile.encode(scores.map { .object([$0.key: .double($0.score)]) })
    }

    public static func write(_ scores: [RMScore], to url: URL) throws {
        try encode(scores).write(to: url)
    }
}

/// A rejection-sampling result: the samples item plus the chosen `target` text and the `scores`
/// of its answers (`{answer_key: score}`).
public struct RejectionSample: Equatable, Sendable {
    public var item: LLMSample
    public var target: String
    public var scores: [String: Double]

    public init(item: LLMSample, target: String, scores: [String: Double]) {
        self.item = item
        self.target = target
        self.scores = scores
    }
}

/// Reads and writes rejection-sampling output: samples items plus `"target"` and `"scores"`.
public enum RejectionSamplesFile {
    public static func read(_ url: URL) throws -> [RejectionSample] {
        let file = url.path
        return try JSONListFile.read(url).enumerated().map { index, value in
            var o = try JSONListFile.object(value, file: file, index: index)
            let target = try JSONListFile.string(o, "target", file: file, index: index)
            guard case .object(let raw)? = o["scores"] else {
                throw FormatError(file: file, item: index, field: "scores", message: o["scores"] == nil ? "missing" : "expected an object {answer_key: score}")
            }
            var scores: [String: Double] = [:]
            for (k, v) in raw { scores[k] = try JSONListFile.number(v, file: file, index: index, field: "scores.\(k)") }
            o["target"] = nil
            o["scores"] = nil
            return RejectionSample(item: try LLMSamplesFile.decodeItem(o, file: file, index: index),
                                   target: target, scores: scores)
        }
    }

    public static func encode(_ items: [RejectionSample]) throws -> Data {
        try JSONListFile.encode(items.map { r in
            var o = r.item.jsonObject
            o["target"] = .string(r.target)
            o["scores"] = .object(r.scores.mapValues { .double($0) })
            return .object(o)
        })
    }

    public static func write(_ items: [RejectionSample], to url: URL) throws {
        try encode(items).write(to: url)
    }
}
