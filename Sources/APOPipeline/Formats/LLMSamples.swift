import APOJSON
import Foundation

/// One query with the LLM's responses `sample_0 … sample_{n-1}`. A query file is the same list with
/// no samples (just `query_id` and `query`); `generate` reads that. Keys other than these (e.g. the
/// reference's `hh_best`) are kept in `extra` and written back unchanged.
public struct LLMSample: Equatable, Sendable {
    public var queryID: String
    public var query: String
    public var samples: [String]
    public var extra: [String: JSONValue]

    public init(queryID: String, query: String, samples: [String] = [], extra: [String: JSONValue] = [:]) {
        self.queryID = queryID
        self.query = query
        self.samples = samples
        self.extra = extra
    }

    public static func sampleKey(_ k: Int) -> String { "sample_\(k)" }

    /// The answer keys of this item: `sample_0…` in order, then string-valued extra keys, sorted.
    public var answerKeys: [String] {
        samples.indices.map(Self.sampleKey) + extra.keys.filter { extra[$0]?.stringValue != nil }.sorted()
    }

    /// The text under an answer key (`sample_k` or a string extra key such as `hh_best`).
    public func answer(forKey key: String) -> String? {
        if key.hasPrefix("sample_"), let k = Int(key.dropFirst("sample_".count)), samples.indices.contains(k),
           Self.sampleKey(k) == key {
            return samples[k]
        }
        return extra[key]?.stringValue
    }

    var jsonObject: [String: JSONValue] {
        var o = extra
        o["query_id"] = .string(queryID)
        o["query"] = .string(query)
        for (k, s) in samples.enumerated() { o[Self.sampleKey(k)] = .string(s) }
        return o
    }
}

/// Reads and writes samples (and query) files: a JSON list of `{"query_id", "query", "sample_k"…}`.
public enum LLMSamplesFile {
    public static func read(_ url: URL) throws -> [LLMSample] {
        try decode(JSONListFile.read(url), file: url.path)
    }

    public static func decode(_ items: [JSONValue], file: String) throws -> [LLMSample] {
        try items.enumerated().map { index, item in
            try decodeItem(JSONListFile.object(item, file: file, index: index), file: file, index: index)
        }
    }

    static func decodeItem(_ o: [String: JSONValue], file: String, index: Int) throws -> LLMSample {
        let queryID = try JSONListFile.string(o, "query_id", file: file, index: index)
        let query = try JSONListFile.string(o, "query", file: file, index: index)
        var samplesByIndex: [Int: String] = [:]
        var extra: [String: JSONValue] = [:]
        for (key, value) in o where key != "query_id" && key != "query" {
            if key.hasPrefix("sample_"), let k = Int(key.dropFirst("sample_".count)), k >= 0,
               LLMSample.sampleKey(k) == key {
                guard let s = value.stringValue else {
                    throw FormatError(file: file, item: index, field: key, message: "expected a string, found \(value.typeName)")
                }
                samplesByIndex[k] = s
            } else {
                extra[key] = value
            }
        }
        var samples: [String] = []
        for k in 0..<samplesByIndex.count {
            guard let s = samplesByIndex[k] else {
                throw FormatError(file: file, item: index, field: LLMSample.sampleKey(k),
                                  message: "missing (sample keys must run sample_0 … sample_\(samplesByIndex.count - 1))")
            }
            samples.append(s)
        }
        return LLMSample(queryID: queryID, query: query, samples: samples, extra: extra)
    }

    public static func encode(_ items: [LLMSample]) throws -> Data {
        try JSONListFile.encode(items.map { .object($0.jsonObject) })
    }

    public static func write(_ items: [LLMSample], to url: URL) throws {
        try encode(items).write(to: url)
    }
}

/// The golden (reference-quality) answer for one query; APO pairs prefer it over every LLM sample.
public struct GoldenAnswer: Equatable, Sendable {
    public var queryID: String
    public var golden: String

    public init(queryID: String, golden: String) {
        self.queryID = queryID
        self.golden = golden
    }
}

/// Reads and writes golden-answer files: a JSON list of `{"query_id", "golden"}`.
public enum GoldenAnswersFile {
    /// Rejects duplicate query ids: which golden answer wins would otherwise be arbitrary.
    public static func read(_ url: URL) throws -> [GoldenAnswer] {
        let file = url.path
        var seen: [String: Int] = [:]
        return try JSONListFile.read(url).enumerated().map { index, item in
            let o = try JSONListFile.object(item, file: file, index: index)
            let answer = GoldenAnswer(queryID: try JSONListFile.string(o, "query_id", file: file, index: index),
                                      golden: try JSONListFile.string(o, "golden", file: file, index: index))
            if let first = seen[answer.queryID] {
                throw FormatError(file: file, item: index, field: "query_id",
                                  message: "duplicate query id '\(answer.queryID)' (first at item \(first))")
            }
            seen[answer.queryID] = index
            return answer
        }
    }

    public static func encode(_ items: [GoldenAnswer]) throws -> Data {
        try JSONListFile.encode(items.map { .object(["query_id": .string($0.queryID), "golden": .string($0.golden)]) })
    }

    public static func write(_ items: [GoldenAnswer], to url: URL) throws {
        try encode(items).write(to: url)
    }
}
