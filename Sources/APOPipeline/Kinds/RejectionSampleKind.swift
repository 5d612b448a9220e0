import Foundation

/// Picks each query's best-scored answer as its fine-tuning target (spec §2): the highest-scoring
/// answer key, skipping empty (whitespace-only) answers and `hh_best` unless it is the only usable
/// one; ties go to the earlier key in the scores file. A query with no usable answer is reported
/// in the log and skipped.
public enum RejectionSampleKind: JobKind {
    public static let name = "rejection-sample"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("samples", .path, help: "LLM samples file"),
        ParameterSpec("scores", .path, help: "RM scores file ({\"<query_id>:<answer_key>\": score} items)"),
    ]
    public static let outputs = ["targets"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let samplesURL = try context.pathParam("samples")
        let scoresURL = try context.pathParam("scores")
        let samples = try LLMSamplesFile.read(samplesURL)
        let scores = try RMScoresFile.read(scoresURL)
        let result = try select(samples: samples, scores: scores, scoresFile: scoresURL.path)
        for id in result.skippedQueryIDs {
            context.log("rejection-sample: query '\(id)' has no usable scored answer; skipped")
        }
        context.log("rejection-sample: \(result.targets.count) targets, \(result.skippedQueryIDs.count) queries skipped")
        context.recordMetric(step: 0, name: "targets", value: Double(result.targets.count))
        context.recordMetric(step: 0, name: "skipped_queries", value: Double(result.skippedQueryIDs.count))
        let url = try context.writeArtifact(named: "rejection_sampling.json") {
            try RejectionSamplesFile.write(result.targets, to: $0)
        }
        context.reportProgress(done: samples.count, total: samples.count, message: nil)
        return ["targets": .string(url.path)]
    }

    public struct Result {
        public var targets: [RejectionSample]
        public var skippedQueryIDs: [String]
    }

    public static let referenceAnswerKey = "hh_best"

    /// One samples item with its scored answers: `scored` is every score the file gives it, `usable`
    /// those that may be picked — non-blank answers, and `hh_best` only when it is the sole one.
    public struct ScoredItem {
        public var item: LLMSample
        public var scored: [(key: String, score: Double)]
        public var usable: [(key: String, score: Double)]
    }

    /// Joins a samples file with its scores file, in samples-file order; `rejection-sample` and
    /// `dpo` both choose among `usable`. Throws when a score names a query or answer key that the
    /// samples file does not have (scores from another samples file).
    public static func scoredItems(samples: [LLMSample], scores: [RMScore], scoresFile: String) throws -> [ScoredItem] {
        var itemIndex: [String: Int] = [:]
        for (i, item) in samples.enumerated() where itemIndex[item.queryID] == nil { itemIndex[item.queryID] = i }
        var byQuery: [String: [(key: String, score: Double)]] = [:]
        for (n, s) in scores.enumerated() {
            guard let i = itemIndex[s.queryID] else {
                throw FormatError(file: scoresFile, item: n, field: s.key, message: "query '\(s.queryID)' is not in the samples file")
            }
            guard samples[i].answer(forKey: s.answerKey) != nil else {
                throw FormatError(file: scoresFile, item: n, field: s.key,
                                  message: "query '\(s.queryID)' has no answer '\(s.answerKey)' in the samples file")
            }
            byQuery[s.queryID, default: []].append((s.answerKey, s.score))
        }
        return samples.map { item in
            let scored = byQuery[item.queryID] ?? []
            var usable = scored.filter { !(item.answer(forKey: $0.key) ?? "").allSatisfy(\.isWhitespace) }
            if usable.contains(where: { $0.key != referenceAnswerKey }) {
                usable.removeAll { $0.key == referenceAnswerKey }
            }
            return ScoredItem(item: item, scored: scored, usable: usable)
        }
    }

    /// Targets in samples-file order (see `scoredItems` for what is usable and what throws).
    public static func select(samples: [LLMSample], scores: [RMScore], scoresFile: String) throws -> Result {
        var result = Result(targets: [], skippedQueryIDs: [])
        for entry in try scoredItems(samples: samples, scores: scores, scoresFile: scoresFile) {
            let item = entry.item, scored = entry.scored
            var best: (key: String, score: Double)?
            for candidate in entry.usable where best == nil || candidate.score > best!.score { best = candidate }
            guard let best, let text = item.answer(forKey: best.key) else {
                result.skippedQueryIDs.append(item.queryID)
                continue
            }
            let all = Dictionary(scored.map { ($0.key, $0.score) }, uniquingKeysWith: { _, last in last })
            result.targets.append(RejectionSample(item: item, target: text, scores: all))
        }
        return result
    }
}
