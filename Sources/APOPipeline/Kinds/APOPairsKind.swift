import Foundation

/// Builds APO preference pairs (golden answer beats each LLM sample) from a samples file and a
/// golden-answers file, exactly as spec §2: for every query present in both and each `sample_k`,
/// `{"text": [query<sep>golden, query<sep>sample_k], "scores": [1, 0], "type": "apo"}`, the sample
/// first cut at its first "\nHuman" and trimmed. With `sampling`, one seeded-random sample per query.
public enum APOPairsKind: JobKind {
    public static let name = "apo-pairs"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("samples", .path, help: "LLM samples file (query_id, query, sample_0…)"),
        ParameterSpec("golden", .path, help: "golden answers file (query_id, golden)"),
        ParameterSpec("sampling", .bool, default: .bool(false), help: "keep one random sample per query"),
        ParameterSpec("seed", .int, default: .int(42), help: "seed for `sampling`"),
    ]
    public static let outputs = ["pairs"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let samplesURL = try context.pathParam("samples")
        let goldenURL = try context.pathParam("golden")
        let samples = try LLMSamplesFile.read(samplesURL)
        let golden = try GoldenAnswersFile.read(goldenURL)
        let result = makePairs(samples: samples, golden: golden,
                               sampling: try context.boolParam("sampling"), seed: try context.intParam("seed"))
        if result.queriesWithoutGolden > 0 {
            context.log("apo-pairs: \(result.queriesWithoutGolden) of \(samples.count) queries in \(samplesURL.lastPathComponent) have no golden answer; skipped")
        }
        context.log("apo-pairs: \(result.pairs.count) pairs from \(result.queriesPaired) queries")
        context.recordMetric(step: 0, name: "apo_pairs", value: Double(result.pairs.count))
        let url = try context.writeArtifact(named: "apo_pairs.json") { try PreferencePairsFile.write(result.pairs, to: $0) }
        context.reportProgress(done: samples.count, total: samples.count, message: nil)
        return ["pairs": .string(url.path)]
    }

    public struct Result {
        public var pairs: [PreferencePair]
        public var queriesPaired: Int
        public var queriesWithoutGolden: Int
    }

    /// Pairs in samples-file order; within a query, in sample order.
    public static func makePairs(samples: [LLMSample], golden: [GoldenAnswer], sampling: Bool, seed: Int) -> Result {
        let goldenByID = Dictionary(golden.map { ($0.queryID, $0.golden) }, uniquingKeysWith: { a, _ in a })
        var rng = SeededGenerator(seed: seed)
        var result = Result(pairs: [], queriesPaired: 0, queriesWithoutGolden: 0)
        for item in samples {
            guard let g = goldenByID[item.queryID] else { result.queriesWithoutGolden += 1; continue }
            guard !item.samples.isEmpty else { continue }
            result.queriesPaired += 1
            let chosen = sampling ? [item.samples[rng.nextIndex(below: item.samples.count)]] : item.samples
            for s in chosen {
                result.pairs.append(PreferencePair(query: item.query, preferred: g,
                                                   other: HHDialogue.cutAtHumanTurn(s),
                                                   queryID: item.queryID, type: "apo"))
            }
        }
        return result
    }
}
