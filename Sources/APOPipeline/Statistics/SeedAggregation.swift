/// Figures over several seeds (the cells of a `matrix: {seed: […]}` run, or several evaluations of
/// the same round and arm): the mean and spread of each figure, and paired comparisons pooled
/// over the seeds.
public enum SeedAggregation {
    /// Mean, sample standard deviation (n − 1 in the denominator; 0 for one seed) and range.
    public struct Spread: Codable, Equatable, Sendable {
        public var seeds: Int
        public var mean: Double
        public var sd: Double
        public var min: Double
        public var max: Double
    }

    public static func spread(_ values: [Double], what: String) throws -> Spread {
        guard !values.isEmpty else { throw StatisticsError.empty(what: what) }
        guard values.allSatisfy(\.isFinite) else { throw StatisticsError.notFinite(what: what) }
        let mean = Bootstrap.mean(values)
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let sd = values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0
        return Spread(seeds: values.count, mean: mean, sd: sd, min: values.min()!, max: values.max()!)
    }

    /// Every figure named in any seed's set → its spread over the seeds that have it.
    /// An empty list of seeds is an error; a figure only some seeds report gets a smaller `seeds`.
    public static func spreads(_ perSeed: [[String: Double]]) throws -> [String: Spread] {
        guard !perSeed.isEmpty else { throw StatisticsError.empty(what: "seed aggregation") }
        let names = Set(perSeed.flatMap(\.keys))
        var result: [String: Spread] = [:]
        for name in names { result[name] = try spread(perSeed.compactMap { $0[name] }, what: name) }
        return result
    }

    /// Per-unit values of several seeds pooled into one sample for a bootstrap.
    /// `sharedUnits`: every seed measured the same units in the same order (the same test pairs
    /// or queries — the data split is not matrixed), so unit i's values are not independent across
    /// seeds; they are averaged into one value per unit and the units are resampled (a cluster
    /// bootstrap by test pair). Otherwise the seeds' units are concatenated.
    public static func pooledUnits(_ perSeed: [[Double]], sharedUnits: Bool, what: String) throws -> [Double] {
        guard !perSeed.isEmpty, perSeed.contains(where: { !$0.isEmpty }) else { throw StatisticsError.empty(what: what) }
        guard sharedUnits else { return perSeed.flatMap { $0 } }
        let n = perSeed[0].count
        for values in perSeed where values.count != n {
            throw StatisticsError.unpaired(what: what, left: n, right: values.count)
        }
        return (0..<n).map { i in perSeed.reduce(0) { $0 + $1[i] } / Double(perSeed.count) }
    }

    /// Two RMs compared on the pairs of every seed: McNemar on the discordant pairs summed over the
    /// seeds, and the accuracy difference's bootstrap over the pooled pairs (see `pooledUnits`).
    public static func pooledAccuracyComparison(_ perSeed: [(left: [Bool], right: [Bool])], sharedUnits: Bool,
                                                what: String) throws -> PairedAccuracyComparison {
        guard !perSeed.isEmpty else { throw StatisticsError.empty(what: what) }
        var leftOnly = 0, rightOnly = 0
        var differences: [[Double]] = []
        for seed in perSeed {
            let test = try McNemarTest(left: seed.left, right: seed.right, what: what)
            leftOnly += test.leftOnly
            rightOnly += test.rightOnly
            differences.append(zip(seed.left, seed.right).map { PairedAccuracyComparison.indicator($0) - PairedAccuracyComparison.indicator($1) })
        }
        let pooled = try pooledUnits(differences, sharedUnits: sharedUnits, what: what)
        let interval = try Bootstrap.meanInterval(pooled, what: what, method: "paired-bootstrap-percentile")
        return PairedAccuracyComparison(pairs: differences.reduce(0) { $0 + $1.count }, difference: interval,
                                        mcnemar: try McNemarTest(leftOnly: leftOnly, rightOnly: rightOnly))
    }

    /// Paired differences (e.g. APO − baseline reward per test query) of every seed, pooled.
    public static func pooledDifference(_ perSeed: [[Double]], sharedUnits: Bool, what: String) throws -> IntervalEstimate {
        try Bootstrap.meanInterval(try pooledUnits(perSeed, sharedUnits: sharedUnits, what: what), what: what,
                                   method: "paired-bootstrap-percentile")
    }
}
