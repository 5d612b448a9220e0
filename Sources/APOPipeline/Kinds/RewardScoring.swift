import APOEngine
import Foundation

/// Glue between the pipeline's data files and the engine's reward model: pairs files → tokenized
/// examples, samples files → RM scores.
public enum RewardScoring {
    /// Reads a pairs file (the format reader rejects mismatched `text`/`scores` and missing `<sep>`,
    /// naming file, item and field) and tokenizes it; unusable items are counted in the report.
    public static func examples(fromPairsFile url: URL, tokenizer: any Tokenizer, format: RewardInputFormat,
                                maxLength: Int, limit: Int? = nil) throws -> ([RewardExample], RewardDataReport) {
        var pairs = try PreferencePairsFile.read(url)
        if let limit, limit >= 0, pairs.count > limit { pairs = Array(pairs.prefix(limit)) }
        let items = pairs.enumerated().map { i, p in
            PreferenceItem(texts: p.text, scores: p.scores, isAPO: p.type == "apo",
                           source: "\(url.lastPathComponent) item \(i)")
        }
        return try RewardDataset.build(items, tokenizer: tokenizer, format: format, maxLength: maxLength)
    }

    /// One score per (query, answer key) in file order; answers are framed as `query<sep>answer`.
    public static func scoreSamples(_ items: [LLMSample], model: RewardModel, tokenizer: any Tokenizer, maxLength: Int,
                                    batch: Int, threads: Int, progress: ((Int, Int) -> Void)? = nil) -> [RMScore] {
        var keys: [(String, String)] = []
        var sequences: [[Int32]] = []
        for item in items {
            for key in item.answerKeys {
                guard let answer = item.answer(forKey: key) else { continue }
                let text = item.query + PreferenceItem.separator + answer
                sequences.append(model.format.frame(text: text, tokenizer: tokenizer, maxLength: maxLength)!.ids)
                keys.append((item.queryID, key))
            }
        }
        guard !sequences.isEmpty else { return [] }
        let scorer = RewardScorer(model: model, batchSize: batch, maxSeqLen: sequences.map(\.count).max()!, threads: threads)
        let rewards = scorer.score(sequences, progress: progress)
        return zip(keys, rewards).map { RMScore(queryID: $0.0.0, answerKey: $0.0.1, score: Double($0.1)) }
    }
}

/// What `score` and `apoctl rm eval` write for a pairs file.
public struct RewardEvaluation: Codable, Sendable {
    public var metrics: RMMetrics
    public var data: RewardDataReport
    public init(metrics: RMMetrics, data: RewardDataReport) { self.metrics = metrics; self.data = data }
}
