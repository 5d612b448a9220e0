/// Two reward models judged on the same test pairs: McNemar's exact test on the pairs where they
/// disagree, and the accuracy difference (left − right) with its paired bootstrap interval.
/// `left` / `right` hold one entry per ordered test pair, `true` where that model ranks it right.
/// The unit is the ordered test pair (one per HH item); if an item had several ordered pairs they
/// would be resampled and tested as if independent.
public struct PairedAccuracyComparison: Codable, Equatable, Sendable {
    public var pairs: Int
    /// Accuracy of left minus accuracy of right, as a fraction (0.05 = 5 points).
    public var difference: IntervalEstimate
    public var mcnemar: McNemarTest

    public init(pairs: Int, difference: IntervalEstimate, mcnemar: McNemarTest) {
        self.pairs = pairs; self.difference = difference; self.mcnemar = mcnemar
    }

    public init(left: [Bool], right: [Bool], what: String, resamples: Int = Bootstrap.defaultResamples,
                seed: UInt64 = Bootstrap.defaultSeed, level: Double = Bootstrap.defaultLevel) throws {
        let test = try McNemarTest(left: left, right: right, what: what)
        let difference = try Bootstrap.pairedDifference(left.map(Self.indicator), right.map(Self.indicator), what: what,
                                                        resamples: resamples, seed: seed, level: level)
        self.init(pairs: left.count, difference: difference, mcnemar: test)
    }

    static func indicator(_ right: Bool) -> Double { right ? 1 : 0 }
}

/// Accuracy of one model's right/wrong outcomes with its percentile bootstrap interval.
public enum AccuracyInterval {
    public static func of(_ outcomes: [Bool], what: String, resamples: Int = Bootstrap.defaultResamples,
                          seed: UInt64 = Bootstrap.defaultSeed, level: Double = Bootstrap.defaultLevel) throws -> IntervalEstimate {
        try Bootstrap.meanInterval(outcomes.map(PairedAccuracyComparison.indicator), what: what,
                                   resamples: resamples, seed: seed, level: level)
    }
}
