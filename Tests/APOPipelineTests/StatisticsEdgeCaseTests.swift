import Foundation
import Testing
@testable import APOPipeline

/// Hand-computed cases and the inputs the statistics must refuse with a message, not a trap.
@Suite struct StatisticsEdgeCaseTests {
    @Test func noDiscordantPairMeansPValueOne() throws {
        let same = [true, false, true, true]
        let c = try PairedAccuracyComparison(left: same, right: same, what: "same model")
        #expect(c.mcnemar == (try McNemarTest(leftOnly: 0, rightOnly: 0)))
        #expect(c.mcnemar.pValue == 1)
        #expect(c.difference.estimate == 0 && c.difference.lower == 0 && c.difference.upper == 0)
    }

    /// 1 vs 9 discordant pairs: P(X ≤ 1), X ~ Bin(10, ½) = 11/1024, doubled = 22/1024.
    @Test func mcnemarByHand() throws {
        let left = [true] + Array(repeating: false, count: 9) + [true, false]
        let right = [false] + Array(repeating: true, count: 9) + [true, false]
        let test = try McNemarTest(left: left, right: right, what: "by hand")
        #expect(test.leftOnly == 1 && test.rightOnly == 9)
        #expect(abs(test.pValue - 22.0 / 1024) < 1e-15)
    }

    /// Every query a tie: a win rate of exactly ½ with a Wilson interval symmetric about it, a reward
    /// difference of 0 with a zero-width interval.
    @Test func allTies() throws {
        let own = ["q1": 0.5, "q2": -1.0, "q3": 2.0, "q4": 0.0]
        let w = try EvaluateKind.withStatistics(EvaluateKind.winRate(own, own), own: own, other: own)
        #expect(w.ties == 4 && w.winRate == 0.5)
        let i = try #require(w.winRateInterval)
        #expect(i.estimate == 0.5 && abs((i.lower + i.upper) - 1) < 1e-12 && i.lower > 0 && i.upper < 1)
        let d = try #require(w.rewardDifference)
        #expect(d.estimate == 0 && d.lower == 0 && d.upper == 0)
    }

    @Test func oneObservation() throws {
        let accuracy = try AccuracyInterval.of([true], what: "one pair")
        #expect((accuracy.estimate, accuracy.lower, accuracy.upper) == (1, 1, 1))
        // One query won: the Wilson interval is [1/(1+z²), 1].
        let z = try NormalQuantile.twoSided(level: 0.95)
        let w = try Wilson.interval(successes: 1, trials: 1)
        #expect(abs(w.lower - 1 / (1 + z * z)) < 1e-12 && w.upper == 1)
        let spread = try SeedAggregation.spread([0.7], what: "one seed")
        #expect(spread == SeedAggregation.Spread(seeds: 1, mean: 0.7, sd: 0, min: 0.7, max: 0.7))
    }

    @Test func emptyAndMalformedInputsAreErrors() {
        #expect(throws: StatisticsError.empty(what: "x")) { try Bootstrap.meanInterval([], what: "x") }
        #expect(throws: StatisticsError.empty(what: "x")) { try McNemarTest(left: [], right: [], what: "x") }
        #expect(throws: StatisticsError.unpaired(what: "x", left: 2, right: 1)) {
            try PairedAccuracyComparison(left: [true, false], right: [true], what: "x")
        }
        #expect(throws: StatisticsError.empty(what: "Wilson interval (no trials)")) { try Wilson.interval(successes: 0, trials: 0) }
        #expect(throws: StatisticsError.self) { try Wilson.interval(successes: 3, trials: 2) }
        #expect(throws: StatisticsError.level(1.5)) { try Bootstrap.meanInterval([1], what: "x", level: 1.5) }
        #expect(throws: StatisticsError.resamples(0)) { try Bootstrap.meanInterval([1], what: "x", resamples: 0) }
        #expect(throws: StatisticsError.notFinite(what: "x")) { try Bootstrap.meanInterval([1, .nan], what: "x") }
        #expect(throws: StatisticsError.self) { try McNemarTest(leftOnly: -1, rightOnly: 0) }
        #expect(throws: StatisticsError.self) { try Binomial.lowerTail(1, n: 3, p: 1.2) }
        #expect(throws: StatisticsError.self) { try NormalQuantile.of(0) }
        #expect(throws: StatisticsError.empty(what: "seed aggregation")) { try SeedAggregation.spreads([]) }
        #expect(throws: StatisticsError.unpaired(what: "x", left: 2, right: 3)) {
            try SeedAggregation.pooledUnits([[1, 2], [1, 2, 3]], sharedUnits: true, what: "x")
        }
        #expect(throws: FormatError.self) { try EvaluateKind.outcomes(from: "10x1", file: "f") }
        // Every error says what went wrong in words.
        #expect(StatisticsError.empty(what: "accuracy of RM 'apo'").description.contains("no observations"))
    }

    @Test func quantileInterpolatesLikeNumpy() throws {
        #expect(try Quantile.linear(sorted: [1, 2, 3, 4], 0.25) == 1.75)
        #expect(try Quantile.linear(sorted: [1, 2, 3, 4], 1) == 4)
        #expect(try Quantile.linear(sorted: [5], 0.975) == 5)
    }

    /// Mean 0.7, sd √(((−0.1)² + 0 + 0.1²)/2) = 0.1; a figure only two seeds report counts two.
    @Test func spreadsOverSeeds() throws {
        let spreads = try SeedAggregation.spreads([["acc": 0.6, "reward": 1], ["acc": 0.7], ["acc": 0.8, "reward": 3]])
        let acc = try #require(spreads["acc"])
        #expect(acc.seeds == 3 && abs(acc.mean - 0.7) < 1e-12 && abs(acc.sd - 0.1) < 1e-12 && acc.min == 0.6 && acc.max == 0.8)
        #expect(spreads["reward"] == SeedAggregation.Spread(seeds: 2, mean: 2, sd: 2.0.squareRoot(), min: 1, max: 3))
    }

    /// Two seeds on the same three pairs: McNemar sums the discordant counts (2 + 1 vs 0 + 1), and
    /// the pooled difference averages each pair over the seeds before resampling pairs.
    @Test func pooledComparisonOverSeeds() throws {
        let seed1 = (left: [true, true, false], right: [false, false, false])
        let seed2 = (left: [true, false, true], right: [true, true, false])
        let pooled = try SeedAggregation.pooledAccuracyComparison([seed1, seed2], sharedUnits: true, what: "pooled")
        #expect(pooled.mcnemar.leftOnly == 3 && pooled.mcnemar.rightOnly == 1 && pooled.pairs == 6)
        #expect(try SeedAggregation.pooledUnits([[1, 1, 0], [0, -1, 1]], sharedUnits: true, what: "u") == [0.5, 0, 0.5])
        #expect(abs(pooled.difference.estimate - 1.0 / 3) < 1e-12)
        #expect(try SeedAggregation.pooledUnits([[1], [2, 3]], sharedUnits: false, what: "u") == [1, 2, 3])
    }

    /// Outcomes follow RMMetrics' pair order, and a tie (equal rewards) is wrong.
    @Test func pairOutcomesInMetricsOrder() throws {
        let items: [(rewards: [Double], scores: [Double])] = [
            (rewards: [1, 0], scores: [1, 0]),       // right
            (rewards: [0, 0], scores: [1, 0]),       // tie: wrong
            (rewards: [0, 2, 1], scores: [0, 2, 1]), // (2>0) right, (2>1) right, (1>0) right
            (rewards: [3, 1], scores: [0, 1]),       // wrong
        ]
        let outcomes = EvaluateKind.pairOutcomes(items)
        #expect(EvaluateKind.outcomeString(outcomes) == "101110")
        #expect(outcomes == [true, false, true, true, true, false])
        #expect(try EvaluateKind.outcomes(from: EvaluateKind.outcomeString(outcomes), file: "f") == outcomes)
    }
}
