import APOEngine
import Foundation

/// One round's evaluation of one arm (spec §1 step 6, §3 metrics) → `evaluation.json`.
///
/// (a) Reward models: every model in `rm_models` (labels in `rm_labels`) scores `test_pairs`;
///     accuracy, average score and ECE/ACE/MCE are the engine's `RMMetrics` (the same code
///     `train-rm` reports with) over EVERY item of the file: unlike training, evaluation leaves
///     nothing out, so two responses that tokenise identically get one reward and their pair is a
///     tie, which counts as wrong (spec §3), and items whose scores are all equal still count in
///     the average score. A test file with no item, or with no ordered pair (every item's scores
///     equal), is an error naming the file (`EvaluateError`), not an accuracy of 0.
/// (b) Policy: the policy's answers to the test queries are produced by a `generate` job with the
///     test-time decoding of spec §4 and scored by the testing RM in a `score` job; this kind only
///     aggregates the scores file (`scores`): average reward of `sample_0` over the queries, and the
///     win rate against each other policy's scores file in `other_scores` (labels `other_labels`):
///     over the queries both files score, `(wins + ties/2) / queries` — a tie counts half.
///
/// `evaluation.json` schema (`"schema": "apo-evaluation/1"`):
/// ```json
/// {"schema": "apo-evaluation/1", "round": 1, "arm": "apo",
///  "rm": [{"label": "apo", "model": "…", "accuracy": 0.61, "average_score": 0.2, "ece": 0.03,
///          "ace": 0.05, "mce": 0.1, "pairs": 200}],
///  "policy": {"scores": "…", "answer_key": "sample_0", "queries": 50, "average_reward": 0.4,
///             "win_rates": [{"against": "baseline", "scores": "…", "queries": 50, "wins": 30,
///                            "ties": 2, "losses": 18, "win_rate": 0.62}]}}
/// ```
/// Version 3 adds, keeping every field above (all optional when read, so older files still load):
/// `rm[].accuracy_interval` (percentile bootstrap over the test pairs), `rm[].pair_outcomes`
/// ("1"/"0" per ordered pair, file order), `test_pairs`, `rm_comparisons` (every two RMs of the job:
/// `accuracy_difference` with its paired bootstrap interval and `mcnemar` {left_only, right_only,
/// p_value}), `policy.average_reward_interval`, and per win rate `win_rate_interval` (Wilson, ties as
/// half wins), `reward_difference` (own − other, paired bootstrap) and `reward_differences` (per
/// query), plus `bootstrap` {resamples, seed, level}. Intervals are
/// `{"estimate", "lower", "upper", "level", "method"}` (`IntervalEstimate`).
/// `rm` is `[]` and `policy` is `null` when not asked for. Headline numbers are also recorded as
/// metrics at step `round`: `rm.<label>.{accuracy,average_score,ece,ace,mce}`,
/// `policy.average_reward`, `policy.win_rate.<label>`.
public enum EvaluateKind: JobKind {
    public static let name = "evaluate"
    /// 2: identical responses are ties, no longer dropped; all-equal items count in the average.
    /// 3: intervals and paired comparisons (EvaluateKind+Statistics.swift), per-pair outcomes.
    /// 4: `trunk_cache` (default on): each RM reads the test texts' frozen-trunk states from the
    ///    host cache, rounded to fp16 like train-rm's and score's, so every RM of a run (and every
    ///    seed) runs the shared frozen blocks over the test pairs once.
    public static let version = 4
    public static let parameters = [
        ParameterSpec("round", .int, default: .int(0), help: "round number recorded in the metrics (0: none)"),
        ParameterSpec("arm", .string, default: .string(""), help: "arm name recorded in the metrics (apo, baseline, …)"),
        ParameterSpec("test_pairs", .path, default: .null, help: "test preference pairs for the RM metrics"),
        ParameterSpec("rm_models", .pathList, default: .array([]), help: "reward model directories to measure on test_pairs"),
        ParameterSpec("rm_labels", .stringList, default: .array([]), help: "one label per rm_models entry"),
        ParameterSpec("rm_max_length", .int, default: .int(512), help: "RM input tokens at most (left-truncated)"),
        ParameterSpec("rm_batch_size", .int, default: .int(8), help: "sequences scored together"),
        ParameterSpec("max_test_pairs", .int, default: .int(0), help: "use the first N test pairs (0: all)"),
        ParameterSpec("scores", .path, default: .null, help: "testing-RM scores of this policy's test answers (score job output)"),
        ParameterSpec("answer_key", .string, default: .string("sample_0"), help: "answer key evaluated in the scores files"),
        ParameterSpec("other_scores", .pathList, default: .array([]), help: "testing-RM scores of other policies' answers to the same queries"),
        ParameterSpec("other_labels", .stringList, default: .array([]), help: "one label per other_scores entry"),
        ParameterSpec("threads", .int, default: .int(0), help: "0 = the worker's thread count"),
        .precision,
        .trunkCache,
    ]
    public static let outputs = ["metrics"]

    public static let schema = "apo-evaluation/1"

    /// The job's definition or its input files are wrong: another attempt would fail the same
    /// way, so the worker must not retry it.
    public enum EvaluateError: Error, Equatable, CustomStringConvertible {
        case labelCount(list: String, values: Int, labels: Int)
        case missingTestPairs
        case noHead(model: String, tensor: String)
        case noScores(file: String, answerKey: String)
        /// The test pairs file (after `max_test_pairs`) has no item.
        case emptyTestPairs(file: String)
        /// The test pairs file has items, but none with two different scores: no ordered pair to
        /// measure accuracy or calibration on.
        case noOrderedTestPairs(file: String, items: Int)

        public var description: String {
            switch self {
            case .labelCount(let list, let values, let labels):
                return "parameter '\(list)' has \(values) entries but its labels list has \(labels)"
            case .missingTestPairs: return "parameter 'test_pairs' is required when 'rm_models' is not empty"
            case .noHead(let model, let tensor): return "\(model): not a reward model (no '\(tensor)' tensor)"
            case .noScores(let file, let key): return "\(file): no scores for answer key '\(key)'"
            case .emptyTestPairs(let file): return "\(file): the test pairs file has no pairs to evaluate on"
            case .noOrderedTestPairs(let file, let items):
                return "\(file): none of its \(items) test items has two responses with different scores, "
                    + "so there is no preference to measure accuracy on"
            }
        }
    }

    // MARK: - Result (the JSON schema above)

    public struct RMResult: Codable, Equatable, Sendable {
        public var label: String
        public var model: String
        public var accuracy: Double
        public var averageScore: Double
        public var ece: Double
        public var ace: Double
        public var mce: Double
        public var pairs: Int
        /// Accuracy with its percentile bootstrap interval over the test pairs (version 3 on).
        public var accuracyInterval: IntervalEstimate?
        /// One character per ordered test pair in file order, "1" ranked right, "0" wrong (a tie
        /// is wrong): what paired comparisons with RMs of other evaluations are computed from.
        public var pairOutcomes: String?
        public init(label: String, model: String, accuracy: Double, averageScore: Double, ece: Double, ace: Double,
                    mce: Double, pairs: Int, accuracyInterval: IntervalEstimate? = nil, pairOutcomes: String? = nil) {
            self.label = label; self.model = model; self.accuracy = accuracy; self.averageScore = averageScore
            self.ece = ece; self.ace = ace; self.mce = mce; self.pairs = pairs
            self.accuracyInterval = accuracyInterval; self.pairOutcomes = pairOutcomes
        }
        enum CodingKeys: String, CodingKey {
            case label, model, accuracy, ece, ace, mce, pairs
            case averageScore = "average_score"
            case accuracyInterval = "accuracy_interval"
            case pairOutcomes = "pair_outcomes"
        }
    }

    public struct WinRate: Codable, Equatable, Sendable {
        public var against: String
        public var scores: String
        public var queries: Int
        public var wins: Int
        public var ties: Int
        public var losses: Int
        /// `(wins + ties / 2) / queries`; 0 when no query is shared.
        public var winRate: Double
        /// Wilson interval of `winRate` (ties as half wins); nil when no query is shared.
        public var winRateInterval: IntervalEstimate?
        /// Mean over the shared queries of own reward − other's, with its paired bootstrap interval.
        public var rewardDifference: IntervalEstimate?
        /// query id → own reward − other's: pooled over seeds by the report.
        public var rewardDifferences: [String: Double]?
        public init(against: String, scores: String, queries: Int, wins: Int, ties: Int, losses: Int, winRate: Double,
                    winRateInterval: IntervalEstimate? = nil, rewardDifference: IntervalEstimate? = nil,
                    rewardDifferences: [String: Double]? = nil) {
            self.against = against; self.scores = scores; self.queries = queries
            self.wins = wins; self.ties = ties; self.losses = losses; self.winRate = winRate
            self.winRateInterval = winRateInterval; self.rewardDifference = rewardDifference
            self.rewardDifferences = rewardDifferences
        }
        enum CodingKeys: String, CodingKey {
            case against, scores, queries, wins, ties, losses
            case winRate = "win_rate"
            case winRateInterval = "win_rate_interval"
            case rewardDifference = "reward_difference"
            case rewardDifferences = "reward_differences"
        }
    }

    public struct PolicyResult: Codable, Equatable, Sendable {
        public var scores: String
        public var answerKey: String
        public var queries: Int
        public var averageReward: Double
        public var winRates: [WinRate]
        /// Average reward with its percentile bootstrap interval over the queries.
        public var averageRewardInterval: IntervalEstimate?
        public init(scores: String, answerKey: String, queries: Int, averageReward: Double, winRates: [WinRate],
                    averageRewardInterval: IntervalEstimate? = nil) {
            self.scores = scores; self.answerKey = answerKey; self.queries = queries
            self.averageReward = averageReward; self.winRates = winRates
            self.averageRewardInterval = averageRewardInterval
        }
        enum CodingKeys: String, CodingKey {
            case scores, queries
            case answerKey = "answer_key"
            case averageReward = "average_reward"
            case winRates = "win_rates"
            case averageRewardInterval = "average_reward_interval"
        }
    }

    /// Invariant: `schema == EvaluateKind.schema`.
    public struct Evaluation: Codable, Equatable, Sendable {
        public var schema: String
        public var round: Int
        public var arm: String
        public var rm: [RMResult]
        public var policy: PolicyResult?
        /// The test pairs file the RMs were measured on: equal paths mean `pairOutcomes` line up.
        public var testPairs: String?
        /// Every two RMs of `rm`, compared on the same test pairs.
        public var rmComparisons: [RMComparison]?
        /// How the intervals were made (absent in files written before version 3).
        public var bootstrap: BootstrapSettings?

        public init(round: Int, arm: String, rm: [RMResult], policy: PolicyResult?, testPairs: String? = nil,
                    rmComparisons: [RMComparison]? = nil, bootstrap: BootstrapSettings? = nil) {
            schema = EvaluateKind.schema
            self.round = round; self.arm = arm; self.rm = rm; self.policy = policy
            self.testPairs = testPairs; self.rmComparisons = rmComparisons; self.bootstrap = bootstrap
        }

        enum CodingKeys: String, CodingKey {
            case schema, round, arm, rm, policy, bootstrap
            case testPairs = "test_pairs"
            case rmComparisons = "rm_comparisons"
        }

        public static func read(_ url: URL) throws -> Evaluation {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw FormatError(file: url.path, message: "cannot read: \(error.localizedDescription)")
            }
            do { return try JSONDecoder().decode(Evaluation.self, from: data) } catch {
                throw FormatError(file: url.path, message: "not an \(EvaluateKind.schema) file: \(error)")
            }
        }
    }

    // MARK: - Run

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let round = try context.intParam("round")
        let arm = try context.stringParam("arm")
        let models = try stringList(context, "rm_models")
        let labels = try stringList(context, "rm_labels")
        guard models.count == labels.count else {
            throw EvaluateError.labelCount(list: "rm_models", values: models.count, labels: labels.count)
        }
        let others = try stringList(context, "other_scores")
        let otherLabels = try stringList(context, "other_labels")
        guard others.count == otherLabels.count else {
            throw EvaluateError.labelCount(list: "other_scores", values: others.count, labels: otherLabels.count)
        }
        let rmResults = try evaluateRMs(context, models: Array(zip(models, labels)), round: round)
        let policy = try evaluatePolicy(context, others: Array(zip(others, otherLabels)), round: round)

        // Comparisons need two RMs; the pairs file is only worth naming when RMs were measured on it.
        let comparisons = rmResults.count > 1 ? try rmComparisons(rmResults) : nil
        let pairsPath = rmResults.isEmpty ? nil : try context.optionalPathParam("test_pairs")?.path
        let evaluation = Evaluation(round: round, arm: arm, rm: rmResults, policy: policy, testPairs: pairsPath,
                                    rmComparisons: comparisons, bootstrap: .current)
        let url = try context.writeArtifact(named: "evaluation.json") { tmp in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(evaluation).write(to: tmp)
        }
        context.reportProgress(done: models.count, total: models.count, message: nil)
        return ["metrics": .string(url.path)]
    }

    /// Each RM on the test pairs: its metrics, accuracy interval and per-pair outcomes, logged and
    /// recorded as `rm.LABEL.NAME` metrics at step `round`.
    static func evaluateRMs(_ context: any JobContext, models: [(model: String, label: String)], round: Int) throws -> [RMResult] {
        guard !models.isEmpty else { return [] }
        guard let pairsURL = try context.optionalPathParam("test_pairs") else { throw EvaluateError.missingTestPairs }
        let maxPairs = try context.intParam("max_test_pairs")
        let maxLength = try context.intParam("rm_max_length")
        let batchSize = try context.intParam("rm_batch_size")
        let threads = try context.threadsParam()
        let precision = try context.computePath().precision
        var results: [RMResult] = []
        for (k, (model, label)) in models.enumerated() {
            try context.checkCancelled()
            context.reportProgress(done: k, total: models.count, message: "RM '\(label)' on the test pairs")
            let (metrics, outcomes) = try rmMetrics(context, modelPath: model, pairs: pairsURL,
                                                    limit: maxPairs > 0 ? maxPairs : nil,
                                                    maxLength: maxLength, batchSize: batchSize, threads: threads,
                                                    precision: precision)
            let r = try rmResult(label: label, model: model, metrics: metrics, outcomes: outcomes)
            context.log("evaluate: RM \(label): " + String(format: "accuracy %.4f, average score %.4f, ECE %.4f, ACE %.4f, MCE %.4f over %d pairs",
                                                            r.accuracy, r.averageScore, r.ece, r.ace, r.mce, r.pairs)
                        + "; accuracy" + describe(r.accuracyInterval))
            for (name, value) in [("accuracy", r.accuracy), ("average_score", r.averageScore), ("ece", r.ece),
                                  ("ace", r.ace), ("mce", r.mce)] {
                context.recordMetric(step: round, name: "rm.\(label).\(name)", value: value)
            }
            results.append(r)
        }
        return results
    }

    /// The policy's answers (`scores`) under the testing RM: average reward and a win rate against
    /// each other policy's answers, with intervals; nil when the job has no `scores`.
    static func evaluatePolicy(_ context: any JobContext, others: [(scores: String, label: String)], round: Int) throws -> PolicyResult? {
        guard let scoresURL = try context.optionalPathParam("scores") else { return nil }
        let key = try context.stringParam("answer_key")
        let own = try answerScores(scoresURL, answerKey: key)
        var winRates: [WinRate] = []
        for (path, label) in others {
            let other = try answerScores(URL(fileURLWithPath: path), answerKey: key)
            var w = try withStatistics(winRate(own, other), own: own, other: other)
            w.against = label
            w.scores = path
            winRates.append(w)
        }
        let p = PolicyResult(scores: scoresURL.path, answerKey: key, queries: own.count,
                             averageReward: own.values.reduce(0, +) / Double(own.count), winRates: winRates,
                             averageRewardInterval: try averageRewardInterval(own))
        context.log("evaluate: policy average reward over \(p.queries) queries:" + describe(p.averageRewardInterval))
        context.recordMetric(step: round, name: "policy.average_reward", value: p.averageReward)
        for w in winRates {
            context.log("evaluate: win rate vs \(w.against) " + String(format: "%.4f (%d wins, %d ties, %d losses; ties count half)",
                                                                          w.winRate, w.wins, w.ties, w.losses)
                        + ";" + describe(w.winRateInterval) + "; reward difference" + describe(w.rewardDifference))
            context.recordMetric(step: round, name: "policy.win_rate.\(w.against)", value: w.winRate)
        }
        return p
    }

    // MARK: - Pieces

    /// Win rate of `own` against `other` over the queries both score: a higher reward wins, an equal
    /// one is a tie and counts half.
    public static func winRate(_ own: [String: Double], _ other: [String: Double]) -> WinRate {
        var wins = 0, ties = 0, losses = 0
        for (query, mine) in own {
            guard let theirs = other[query] else { continue }
            if mine > theirs { wins += 1 } else if mine == theirs { ties += 1 } else { losses += 1 }
        }
        let n = wins + ties + losses
        return WinRate(against: "", scores: "", queries: n, wins: wins, ties: ties, losses: losses,
                       winRate: n > 0 ? (Double(wins) + 0.5 * Double(ties)) / Double(n) : 0)
    }

    /// query id → score of `answerKey` in an RM scores file.
    public static func answerScores(_ url: URL, answerKey: String) throws -> [String: Double] {
        var result: [String: Double] = [:]
        for s in try RMScoresFile.read(url) where s.answerKey == answerKey { result[s.queryID] = s.score }
        guard !result.isEmpty else { throw EvaluateError.noScores(file: url.path, answerKey: answerKey) }
        return result
    }

    /// Accuracy / average score / calibration of one reward-model directory (train-rm's `model`
    /// output) on `pairs`, with the training helper's loader and framing and the spec's metric
    /// code, over every item of the file (see the type's comment).
    static func rmMetrics(_ context: any JobContext, modelPath: String, pairs: URL, limit: Int?, maxLength: Int,
                          batchSize: Int, threads: Int, precision: ComputePrecision) throws -> (RMMetrics, [Bool]) {
        let rm = try RewardModelFiles.load(path: modelPath, threads: threads)
        guard rm.hadHead else { throw EvaluateError.noHead(model: modelPath, tensor: RewardModel.headTensorName) }
        let trunk = try FrozenTrunkParameter.store(context, parameters: rm.model.parameters,
                                                   frozenBlocks: rm.frozenBlocks ?? 0)
        defer { if let trunk { context.log("evaluate: \(trunk.summary)") } }
        let items = try RewardScoring.evaluationItems(fromPairsFile: pairs, tokenizer: rm.tokenizer,
                                                      format: rm.model.format, maxLength: maxLength, limit: limit)
        return try measure(items, file: pairs.path) { sequences in
            let scorer = RewardScorer(model: rm.model, batchSize: batchSize,
                                      maxSeqLen: sequences.map(\.count).max() ?? 1, threads: threads,
                                      precision: precision)
            if let trunk { scorer.graph.backbone.useFrozenTrunk(trunk.store, depth: trunk.depth) }
            return try scorer.score(sequences) { _, _ in try context.checkCancelled() }.map(Double.init)
        }
    }

    /// `RMMetrics` of tokenized items, scoring each distinct sequence once with `score` (so
    /// identical responses get exactly the same reward: a tie, whatever the batching). Throws
    /// `emptyTestPairs` / `noOrderedTestPairs` instead of returning an accuracy of 0.
    public static func metrics(of items: [RewardScoring.EvaluationItem], file: String,
                               score: ([[Int32]]) throws -> [Double]) throws -> RMMetrics {
        try measure(items, file: file, score: score).metrics
    }

    /// `metrics(of:file:score:)` and the right/wrong outcome of every ordered pair it counted.
    public static func measure(_ items: [RewardScoring.EvaluationItem], file: String,
                               score: ([[Int32]]) throws -> [Double]) throws -> (metrics: RMMetrics, outcomes: [Bool]) {
        guard !items.isEmpty else { throw EvaluateError.emptyTestPairs(file: file) }
        var index: [[Int32]: Int] = [:]
        var distinct: [[Int32]] = []
        for item in items {
            for sequence in item.sequences where index[sequence] == nil {
                index[sequence] = distinct.count
                distinct.append(sequence)
            }
        }
        let rewards = try score(distinct)
        let rewarded = items.map { item in (rewards: item.sequences.map { rewards[index[$0]!] }, scores: item.scores) }
        let metrics = RMMetrics(items: rewarded)
        guard metrics.pairCount > 0 else { throw EvaluateError.noOrderedTestPairs(file: file, items: items.count) }
        return (metrics, pairOutcomes(rewarded))
    }

    static func stringList(_ context: any JobContext, _ name: String) throws -> [String] {
        guard let v = context.params[name], v != .null else { return [] }
        guard case .array(let items) = v else {
            throw JobParameterError.wrongType(name: name, expected: "a list of strings", found: v.typeName)
        }
        return try items.map {
            guard let s = $0.stringValue else {
                throw JobParameterError.wrongType(name: name, expected: "a list of strings", found: "a list holding \($0.typeName)")
            }
            return s
        }
    }
}
