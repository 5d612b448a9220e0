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

    /// One item of a pairs file for evaluation: framed sequences and human scores, as read.
    public struct EvaluationItem: Sendable, Equatable {
        public var sequences: [[Int32]]
        public var scores: [Double]
        public init(sequences: [[Int32]], scores: [Double]) { self.sequences = sequences; self.scores = scores }
    }

    /// Every item of a pairs file, tokenized and framed, NONE left out (unlike `examples`, which
    /// drops what cannot teach a model): responses identical after tokenization stay, so that
    /// evaluation counts their pair as a tie. Malformed items throw `RewardDataError` like
    /// `RewardDataset.build`.
    public static func evaluationItems(fromPairsFile url: URL, tokenizer: any Tokenizer, format: RewardInputFormat,
                                       maxLength: Int, limit: Int? = nil) throws -> [EvaluationItem] {
        var pairs = try PreferencePairsFile.read(url)
        if let limit, limit >= 0, pairs.count > limit { pairs = Array(pairs.prefix(limit)) }
        return try pairs.enumerated().map { i, p in
            let source = "\(url.lastPathComponent) item \(i)"
            guard p.text.count == p.scores.count else {
                throw RewardDataError.mismatchedLengths(source: source, texts: p.text.count, scores: p.scores.count)
            }
            guard p.text.count >= 2 else { throw RewardDataError.tooFewResponses(source: source, count: p.text.count) }
            if let bad = p.scores.firstIndex(where: { !$0.isFinite }) {
                throw RewardDataError.nonFiniteScore(source: source, response: bad)
            }
            let sequences = try p.text.enumerated().map { k, text in
                guard let framed = format.frame(text: text, tokenizer: tokenizer, maxLength: maxLength) else {
                    throw RewardDataError.missingSeparator(source: source, response: k)
                }
                return framed.ids
            }
            return EvaluationItem(sequences: sequences, scores: p.scores)
        }
    }

    /// One score per (query, answer key) in file order; answers are framed as `query<sep>answer`.
    public static func scoreSamples(_ items: [LLMSample], model: RewardModel, tokenizer: any Tokenizer, maxLength: Int,
                                    batch: Int, threads: Int, precision: ComputePrecision = .fp32,
                                    trunk: FrozenTrunkParameter.Binding? = nil,
                                    progress: (Int, Int) throws -> Void) rethrows -> [RMScore] {
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
        let scorer = RewardScorer(model: model, batchSize: batch, maxSeqLen: sequences.map(\.count).max()!, threads: threads,
                                  precision: precision)
        if let trunk { scorer.graph.backbone.useFrozenTrunk(trunk.store, depth: trunk.depth) }
        let rewards = try scorer.score(sequences, progress: progress)
        return zip(keys, rewards).map { RMScore(queryID: $0.0.0, answerKey: $0.0.1, score: Double($0.1)) }
    }
}

/// What `score` and `apoctl rm eval` write for a pairs file.
public struct RewardEvaluation: Codable, Sendable {
    public var metrics: RMMetrics
    public var data: RewardDataReport
    public init(metrics: RMMetrics, data: RewardDataReport) { self.metrics = metrics; self.data = data }
}
