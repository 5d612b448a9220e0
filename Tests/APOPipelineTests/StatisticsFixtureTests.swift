import Foundation
import Testing
@testable import APOPipeline

/// The statistics against the independent reference of `scripts/stats_reference.py` (scipy,
/// statsmodels, numpy), whose output is committed under `Fixtures/statistics/`. Regenerate with that
/// script in a scratch venv; the script says how each figure was obtained.
@Suite struct StatisticsFixtureTests {
    struct Cases<Case: Decodable>: Decodable { var cases: [Case] }
    struct BinomialCase: Decodable { var k: Int; var n: Int; var p: Double; var lower_tail: Double; var upper_tail: Double }
    struct McNemarCase: Decodable { var left_only: Int; var right_only: Int; var p_value: Double }
    struct WilsonFixture: Decodable {
        struct Interval: Decodable { var successes: Double; var trials: Int; var level: Double; var lower: Double; var upper: Double }
        struct Quantile: Decodable { var p: Double; var z: Double }
        var intervals: [Interval]
        var normal_quantiles: [Quantile]
    }
    struct BootstrapFixture: Decodable {
        struct Case: Decodable {
            var name: String; var values: [Double]; var paired_with: [Double]?
            var seed: UInt64; var resamples: Int; var level: Double
            var estimate: Double; var lower: Double; var upper: Double
            var scipy_lower: Double; var scipy_upper: Double; var tolerance: Double
        }
        var generator_first_draws: [String]
        var first_resamples_of_7: [[Int]]
        var cases: [Case]
    }

    static func fixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/statistics/\(name).json")
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static func close(_ a: Double, _ b: Double, relative: Double = 1e-10, absolute: Double = 1e-13) -> Bool {
        abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
    }

    @Test func binomialTailsMatchScipy() throws {
        for c in try Self.fixture("binomial", as: Cases<BinomialCase>.self).cases {
            let lower = try Binomial.lowerTail(c.k, n: c.n, p: c.p), upper = try Binomial.upperTail(c.k, n: c.n, p: c.p)
            #expect(Self.close(lower, c.lower_tail), "P(X ≤ \(c.k)), n \(c.n), p \(c.p): \(lower)")
            #expect(Self.close(upper, c.upper_tail), "P(X ≥ \(c.k)), n \(c.n), p \(c.p): \(upper)")
        }
    }

    @Test func mcnemarExactPValuesMatchStatsmodels() throws {
        for c in try Self.fixture("mcnemar", as: Cases<McNemarCase>.self).cases {
            let test = try McNemarTest(leftOnly: c.left_only, rightOnly: c.right_only)
            #expect(Self.close(test.pValue, c.p_value), "\(c): \(test.pValue)")
        }
    }

    @Test func wilsonIntervalsMatchStatsmodels() throws {
        for c in try Self.fixture("wilson", as: WilsonFixture.self).intervals {
            let interval = try Wilson.interval(successes: c.successes, trials: c.trials, level: c.level)
            #expect(Self.close(interval.lower, c.lower, absolute: 1e-12), "\(c): \(interval)")
            #expect(Self.close(interval.upper, c.upper, absolute: 1e-12), "\(c): \(interval)")
        }
    }

    @Test func normalQuantilesMatchScipy() throws {
        for c in try Self.fixture("wilson", as: WilsonFixture.self).normal_quantiles {
            #expect(Self.close(try NormalQuantile.of(c.p), c.z, relative: 1e-13), "Φ⁻¹(\(c.p))")
        }
    }

    /// The script re-implements the generator: its raw draws and the first resamples' indices pin
    /// what the bootstrap resamples, so the intervals below can match exactly.
    @Test func bootstrapDrawsTheDocumentedIndices() throws {
        let f = try Self.fixture("bootstrap", as: BootstrapFixture.self)
        var generator = SeededGenerator(seed: Bootstrap.defaultSeed)
        #expect((0..<5).map { _ in String(generator.next()) } == f.generator_first_draws)
        var g = SeededGenerator(seed: Bootstrap.defaultSeed)
        for indices in f.first_resamples_of_7 {
            #expect((0..<7).map { _ in g.nextIndex(below: 7) } == indices)
        }
    }

    @Test func bootstrapIntervalsMatchTheSameIndicesInNumpyAndScipyWithinTolerance() throws {
        for c in try Self.fixture("bootstrap", as: BootstrapFixture.self).cases {
            let interval = try c.paired_with.map {
                try Bootstrap.pairedDifference(c.values, $0, what: c.name, resamples: c.resamples, seed: c.seed, level: c.level)
            } ?? Bootstrap.meanInterval(c.values, what: c.name, resamples: c.resamples, seed: c.seed, level: c.level)
            // Exact: the same indices; numpy's summation order differs only in the last bits.
            #expect(Self.close(interval.estimate, c.estimate, relative: 1e-12), "\(c.name)")
            #expect(Self.close(interval.lower, c.lower, relative: 1e-9, absolute: 1e-12), "\(c.name): \(interval)")
            #expect(Self.close(interval.upper, c.upper, relative: 1e-9, absolute: 1e-12), "\(c.name): \(interval)")
            // Distributional: scipy's own resamples, within the script's stated tolerance.
            #expect(abs(interval.lower - c.scipy_lower) <= c.tolerance + 1e-12, "\(c.name)")
            #expect(abs(interval.upper - c.scipy_upper) <= c.tolerance + 1e-12, "\(c.name)")
        }
    }
}
