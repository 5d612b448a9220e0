import APOJSON
import Foundation

/// Anthropic HH-RLHF (`{"chosen", "rejected"}` per line, jsonl or jsonl.gz, local or http(s) with a
/// sha256) → the files one APO run starts from.
///
/// Each line's dialogues are split into query and response (`HHDialogue.split`); a line whose
/// chosen and rejected queries differ is logged and skipped (it is not a preference between two
/// answers to one query). Lines with the same query form one query, with id `hh-<0-based line index
/// of its first line>` (stable for a given input file). The queries — not the lines, so no query
/// leaks across splits — are shuffled with `seed` (SplitMix64, fixed forever), optionally cut to
/// `max_queries`, and split: the first ⌊n·rm_train_fraction⌋ go to rm-train, the next
/// ⌊n·llm_train_fraction⌋ to llm-train, the rest to test. Files list queries in input order.
///
/// Query files use the samples format with no samples (`[{"query_id", "query"}]`); `generate`
/// reads them. Golden answers (rm-train queries) are the chosen responses unless `golden` names a
/// golden-answers file, whose answers replace them by query id.
public enum PrepareDataKind: JobKind {
    public static let name = "prepare-data"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("input", .pathOrURL, sha256Parameter: "sha256", help: "HH jsonl/jsonl.gz: a local path or an http(s) URL"),
        ParameterSpec("sha256", .string, default: .null, help: "expected sha256 of the input file (required for URLs)"),
        ParameterSpec("seed", .int, default: .int(42), help: "seed of the query split"),
        ParameterSpec("rm_train_fraction", .double, default: .double(0.4), help: "share of queries for RM training"),
        ParameterSpec("llm_train_fraction", .double, default: .double(0.4), help: "share of queries for LLM training"),
        ParameterSpec("max_queries", .int, default: .int(0), help: "use at most this many queries (0: all), for toy runs"),
        ParameterSpec("golden", .path, default: .null, help: "golden answers file replacing the chosen responses"),
    ]
    public static let outputs = [
        "rm_train_pairs", "llm_train_pairs", "train_pairs", "test_pairs",
        "rm_train_golden", "rm_train_queries", "llm_train_queries", "test_queries",
    ]

    public enum PrepareDataError: Error, CustomStringConvertible {
        case badFractions(Double, Double)
        case checksumRequired(String)
        case checksumMismatch(file: String, expected: String, found: String)
        case noQueries(String)

        public var description: String {
            switch self {
            case .badFractions(let a, let b):
                return "rm_train_fraction (\(a)) and llm_train_fraction (\(b)) must be ≥ 0 with a sum ≤ 1"
            case .checksumRequired(let url): return "input \(url) is a URL: parameter 'sha256' is required"
            case .checksumMismatch(let file, let expected, let found):
                return "\(file): sha256 is \(found), expected \(expected)"
            case .noQueries(let file): return "\(file): no usable HH pairs"
            }
        }
    }

    /// One HH line after the query/response split.
    public struct HHPair: Equatable, Sendable {
        public var line: Int          // 1-based
        public var query: String
        public var chosen: String
        public var rejected: String
    }

    public struct Query: Equatable, Sendable {
        public var id: String
        public var text: String
        /// Indices into `pairs`, in input order.
        public var pairIndices: [Int]
    }

    public struct Split: Equatable, Sendable {
        public var rmTrain: [Query]
        public var llmTrain: [Query]
        public var test: [Query]
    }

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let input = try context.stringParam("input")
        let rmFraction = try context.doubleParam("rm_train_fraction")
        let llmFraction = try context.doubleParam("llm_train_fraction")
        guard rmFraction >= 0, llmFraction >= 0, rmFraction + llmFraction <= 1 + 1e-12 else {
            throw PrepareDataError.badFractions(rmFraction, llmFraction)
        }
        let maxQueries = try context.intParam("max_queries")
        let pairs = try readPairs(context, input: input)
        let queries = groupQueries(pairs)
        guard !queries.isEmpty else { throw PrepareDataError.noQueries(input) }
        let split = splitQueries(queries, seed: try context.intParam("seed"), rmFraction: rmFraction,
                                 llmFraction: llmFraction, maxQueries: maxQueries)
        context.log("prepare-data: \(pairs.count) pairs, \(queries.count) queries → rm-train \(split.rmTrain.count), llm-train \(split.llmTrain.count), test \(split.test.count)")
        context.recordMetric(step: 0, name: "rm_train_queries", value: Double(split.rmTrain.count))
        context.recordMetric(step: 0, name: "llm_train_queries", value: Double(split.llmTrain.count))
        context.recordMetric(step: 0, name: "test_queries", value: Double(split.test.count))
        let golden = try goldenAnswers(context, rmTrain: split.rmTrain, pairs: pairs)
        try context.checkCancelled()
        return try writeFiles(context, split: split, pairs: pairs, golden: golden)
    }

    /// The input's HH pairs (fetched and checked against `sha256` when it is a URL, gunzipped when
    /// compressed); lines whose chosen and rejected queries differ are logged and skipped.
    static func readPairs(_ context: any JobContext, input: String) throws -> [HHPair] {
        let expectedSHA = try context.optionalStringParam("sha256")?.lowercased()
        let file = try localInput(input, expectedSHA: expectedSHA, context: context)
        let data = try Gzip.readMaybeCompressed(file)
        try context.checkCancelled()
        let (pairs, skipped) = try parseHH(data, file: input) { done, total in
            try context.checkCancelled()
            context.reportProgress(done: done, total: total, message: "reading \(URL(fileURLWithPath: input).lastPathComponent)")
        }
        for line in skipped {
            context.log("prepare-data: \(input):\(line): chosen and rejected have different queries; skipped")
        }
        return pairs
    }

    /// One golden answer per rm-train query: the `golden` file's when it has one, else the
    /// query's first chosen response.
    static func goldenAnswers(_ context: any JobContext, rmTrain: [Query], pairs: [HHPair]) throws -> [GoldenAnswer] {
        var goldenOverride: [String: String] = [:]
        if let g = try context.optionalPathParam("golden") {
            for answer in try GoldenAnswersFile.read(g) { goldenOverride[answer.queryID] = answer.golden }
        }
        if !goldenOverride.isEmpty {
            let missing = rmTrain.filter { goldenOverride[$0.id] == nil }.count
            if missing > 0 { context.log("prepare-data: \(missing) rm-train queries have no answer in the golden file; using the chosen response") }
        }
        return rmTrain.map { q in
            GoldenAnswer(queryID: q.id, golden: goldenOverride[q.id] ?? pairs[q.pairIndices[0]].chosen)
        }
    }

    /// The split's pairs, query and golden files, each a recorded artifact; returns the outputs.
    static func writeFiles(_ context: any JobContext, split: Split, pairs: [HHPair], golden: [GoldenAnswer]) throws -> JobOutputs {
        func pairFile(_ qs: [Query]) -> [PreferencePair] {
            qs.flatMap { q in
                q.pairIndices.map { i in
                    PreferencePair(query: q.text, preferred: pairs[i].chosen, other: pairs[i].rejected, queryID: q.id)
                }
            }
        }
        func queryFile(_ qs: [Query]) -> [LLMSample] { qs.map { LLMSample(queryID: $0.id, query: $0.text) } }
        let trainQueries = (split.rmTrain + split.llmTrain).sorted { $0.pairIndices[0] < $1.pairIndices[0] }

        var outputs: JobOutputs = [:]
        func write(_ output: String, _ file: String, _ encode: () throws -> Data) throws {
            let data = try encode()
            outputs[output] = .string(try context.writeArtifact(named: file) { try data.write(to: $0) }.path)
        }
        try write("rm_train_pairs", "rm_train_pairs.json") { try PreferencePairsFile.encode(pairFile(split.rmTrain)) }
        try write("llm_train_pairs", "llm_train_pairs.json") { try PreferencePairsFile.encode(pairFile(split.llmTrain)) }
        try write("train_pairs", "train_pairs.json") { try PreferencePairsFile.encode(pairFile(trainQueries)) }
        try write("test_pairs", "test_pairs.json") { try PreferencePairsFile.encode(pairFile(split.test)) }
        try write("rm_train_golden", "rm_train_golden.json") { try GoldenAnswersFile.encode(golden) }
        try write("rm_train_queries", "rm_train_queries.json") { try LLMSamplesFile.encode(queryFile(split.rmTrain)) }
        try write("llm_train_queries", "llm_train_queries.json") { try LLMSamplesFile.encode(queryFile(split.llmTrain)) }
        try write("test_queries", "test_queries.json") { try LLMSamplesFile.encode(queryFile(split.test)) }
        return outputs
    }

    /// A local file for `input`: the path itself, or a verified download kept in the checkpoint
    /// directory (so a retried attempt resumes the download instead of starting over).
    static func localInput(_ input: String, expectedSHA: String?, context: any JobContext) throws -> URL {
        let lower = input.lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            guard let expectedSHA, let url = URL(string: input) else { throw PrepareDataError.checksumRequired(input) }
            let destination = context.checkpointDirectory.appendingPathComponent("input-\(expectedSHA.prefix(16))")
            context.log("prepare-data: downloading \(input)")
            try ResumableDownload(url: url, expectedSHA256: expectedSHA, destination: destination).run(
                progress: { done, total in
                    context.reportProgress(done: Int(done), total: Int(total ?? done), message: "downloading")
                },
                checkCancelled: { try context.checkCancelled() })
            return destination
        }
        let url = URL(fileURLWithPath: input)
        if let expectedSHA {
            let found = try fileSHA256(url)
            guard found == expectedSHA else { throw PrepareDataError.checksumMismatch(file: input, expected: expectedSHA, found: found) }
        }
        return url
    }

    /// Parses HH jsonl. Throws `FormatError` naming `file:line` for a bad line; returns the
    /// 1-based lines skipped because chosen and rejected disagree on the query.
    public static func parseHH(_ data: Data, file: String,
                               progress: (Int, Int) throws -> Void = { _, _ in }) throws -> (pairs: [HHPair], skippedLines: [Int]) {
        var pairs: [HHPair] = []
        var skipped: [Int] = []
        let bytes = [UInt8](data)
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            var end = lineStart
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            defer { lineStart = end + 1 }
            let line = bytes[lineStart..<end]
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do { value = try JSONValue.parseJSON(Data(line)) } catch {
                throw FormatError(file: file, item: lineNumber, message: "not valid JSON: \(jsonErrorSummary(error))", isLine: true)
            }
            guard case .object(let o) = value else {
                throw FormatError(file: file, item: lineNumber, message: "expected an object {\"chosen\", \"rejected\"}, found \(value.typeName)", isLine: true)
            }
            var split: [String: (query: String, response: String)] = [:]
            for field in ["chosen", "rejected"] {
                guard let v = o[field] else { throw FormatError(file: file, item: lineNumber, field: field, message: "missing", isLine: true) }
                guard let s = v.stringValue else {
                    throw FormatError(file: file, item: lineNumber, field: field, message: "expected a string, found \(v.typeName)", isLine: true)
                }
                guard let qr = HHDialogue.split(s) else {
                    throw FormatError(file: file, item: lineNumber, field: field, message: "has no \"\\n\\nAssistant:\" turn", isLine: true)
                }
                split[field] = qr
            }
            let chosen = split["chosen"]!, rejected = split["rejected"]!
            if chosen.query != rejected.query { skipped.append(lineNumber); continue }
            pairs.append(HHPair(line: lineNumber, query: chosen.query, chosen: chosen.response, rejected: rejected.response))
            if lineNumber % 1000 == 0 { try progress(end, bytes.count) }
        }
        try progress(bytes.count, bytes.count)
        return (pairs, skipped)
    }

    /// Groups pairs by query text, in order of first appearance; ids are `hh-<line - 1>` of the
    /// first line.
    public static func groupQueries(_ pairs: [HHPair]) -> [Query] {
        var index: [String: Int] = [:]
        var queries: [Query] = []
        for (i, p) in pairs.enumerated() {
            if let q = index[p.query] { queries[q].pairIndices.append(i); continue }
            index[p.query] = queries.count
            queries.append(Query(id: "hh-\(p.line - 1)", text: p.query, pairIndices: [i]))
        }
        return queries
    }

    public static func splitQueries(_ queries: [Query], seed: Int, rmFraction: Double, llmFraction: Double,
                                    maxQueries: Int) -> Split {
        var order = Array(queries.indices)
        var rng = SeededGenerator(seed: seed)
        rng.shuffle(&order)
        if maxQueries > 0 && order.count > maxQueries { order = Array(order[..<maxQueries]) }
        let n = order.count
        let nRM = Int((Double(n) * rmFraction).rounded(.down))
        let nLLM = min(n - nRM, Int((Double(n) * llmFraction).rounded(.down)))
        func pick(_ r: Range<Int>) -> [Query] { order[r].sorted().map { queries[$0] } }
        return Split(rmTrain: pick(0..<nRM), llmTrain: pick(nRM..<(nRM + nLLM)), test: pick((nRM + nLLM)..<n))
    }
}
