import APOEngine
import Foundation

/// The intervals and paired comparisons `evaluate` adds to its figures (version 3), computed with
/// the pure functions of `Statistics/`. Every bootstrap uses `Bootstrap.defaultSeed`, 2,000
/// resamples and 95 %, recorded in the file as `"bootstrap"`; units are visited in a fixed order
/// (file order for test pairs, sorted query ids for queries) so a file's intervals are reproducible.
extension EvaluateKind {
    /// Two RMs of one evaluation on the same test pairs (`left` − `right`).
    public struct RMComparison: Codable, Equatable, Sendable {
        public var left: String
        public var right: String
        public var pairs: Int
        /// Accuracy of `left` minus accuracy of `right`, paired bootstrap interval.
        public var accuracyDifference: IntervalEstimate
        /// McNemar's exact test on the pairs exactly one of the two ranks right.
        public var mcnemar: McNemarTest

        public init(left: String, right: String, comparison: PairedAccuracyComparison) {
            self.left = left; self.right = right; pairs = comparison.pairs
            accuracyDifference = comparison.difference; mcnemar = comparison.mcnemar
        }

        enum CodingKeys: String, CodingKey {
            case left, right, pairs, mcnemar
            case accuracyDifference = "accuracy_difference"
        }
    }

    public struct BootstrapSettings: Codable, Equatable, Sendable {
        public var resamples: Int
        public var seed: UInt64
        public var level: Double
        public static let current = BootstrapSettings(resamples: Bootstrap.defaultResamples, seed: Bootstrap.defaultSeed,
                                                      level: Bootstrap.defaultLevel)
    }

    /// Right/wrong of every valid ordered pair, in `RMMetrics`' order (item by item, i then j with
    /// s_i > s_j); right means r_i − r_j > 0, so a tie is wrong as in the spec's accuracy.
    public static func pairOutcomes(_ items: [(rewards: [Double], scores: [Double])]) -> [Bool] {
        var outcomes: [Bool] = []
        for item in items {
            for i in item.scores.indices {
                for j in item.scores.indices where item.scores[i] > item.scores[j] {
                    outcomes.append(item.rewards[i] - item.rewards[j] > 0)
                }
            }
        }
        return outcomes
    }

    /// `"1011…"`, the form `pair_outcomes` takes in the file.
    public static func outcomeString(_ outcomes: [Bool]) -> String { String(outcomes.map { $0 ? "1" : "0" }) }

    /// The inverse of `outcomeString`; anything but "0"/"1" is a format error naming `file`.
    public static func outcomes(from text: String, file: String) throws -> [Bool] {
        try text.map { c in
            switch c {
            case "1": return true
            case "0": return false
            default: throw FormatError(file: file, message: "pair_outcomes holds '\(c)', expected only 0 and 1")
            }
        }
    }

    static func rmResult(label: String, model: String, metrics: RMMetrics, outcomes: [Bool]) throws -> RMResult {
        RMResult(label: label, model: model, accuracy: metrics.accuracy, averageScore: metrics.averageScore,
                 ece: metrics.ece, ace: metrics.ace, mce: metrics.mce, pairs: metrics.pairCount,
                 accuracyInterval: try AccuracyInterval.of(outcomes, what: "accuracy of RM '\(label)'"),
                 pairOutcomes: outcomeString(outcomes))
    }

    /// Every two RMs in file order, each pair once (the earlier one on the left).
    static func rmComparisons(_ results: [RMResult]) throws -> [RMComparison] {
        let perRM = try results.map { try Self.outcomes(from: $0.pairOutcomes ?? "", file: "evaluation of '\($0.label)'") }
        var comparisons: [RMComparison] = []
        for i in results.indices {
            for j in results.indices where j > i {
                let what = "RM '\(results[i].label)' vs RM '\(results[j].label)'"
                comparisons.append(RMComparison(left: results[i].label, right: results[j].label,
                                                comparison: try PairedAccuracyComparison(left: perRM[i], right: perRM[j], what: what)))
            }
        }
        return comparisons
    }

    /// Average reward's bootstrap interval over the queries, visited in sorted query-id order.
    static func averageRewardInterval(_ own: [String: Double]) throws -> IntervalEstimate {
        try Bootstrap.meanInterval(own.keys.sorted().map { own[$0]! }, what: "average reward")
    }

    /// `w` with its Wilson interval (ties as half wins) and the paired reward difference over the
    /// queries both files score; no shared query leaves both nil, as `winRate` leaves 0.
    public static func withStatistics(_ w: WinRate, own: [String: Double], other: [String: Double]) throws -> WinRate {
        var w = w
        guard w.queries > 0 else { return w }
        w.winRateInterval = try Wilson.interval(successes: Double(w.wins) + 0.5 * Double(w.ties), trials: w.queries)
        let shared = own.keys.filter { other[$0] != nil }.sorted()
        w.rewardDifference = try Bootstrap.pairedDifference(shared.map { own[$0]! }, shared.map { other[$0]! },
                                                            what: "reward difference")
        w.rewardDifferences = Dictionary(uniqueKeysWithValues: shared.map { ($0, own[$0]! - other[$0]!) })
        return w
    }

    /// " 0.1234 (95 % interval [lower, upper], method)" for the log, or "" without an interval.
    static func describe(_ interval: IntervalEstimate?) -> String {
        guard let i = interval else { return "" }
        return String(format: " %.4f (%.0f %% interval [%.4f, %.4f], ", i.estimate, i.level * 100, i.lower, i.upper)
            + i.method + ")"
    }
}
