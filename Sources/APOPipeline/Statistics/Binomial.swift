import Foundation

/// Exact binomial tail probabilities, summed in log space so that large `n` (0.5^2000 underflows a
/// Double) still gives the right answer. Checked against `scipy.stats.binom.cdf` / `sf`.
public enum Binomial {
    /// P(X ≤ k) for X ~ Binomial(n, p).
    public static func lowerTail(_ k: Int, n: Int, p: Double) throws -> Double {
        try check(n: n, p: p)
        if k < 0 { return 0 }
        if k >= n { return 1 }
        return min(1, sumOfProbabilities(0...k, n: n, p: p))
    }

    /// P(X ≥ k) for X ~ Binomial(n, p).
    public static func upperTail(_ k: Int, n: Int, p: Double) throws -> Double {
        try check(n: n, p: p)
        if k <= 0 { return 1 }
        if k > n { return 0 }
        return min(1, sumOfProbabilities(k...n, n: n, p: p))
    }

    /// log P(X = k).
    static func logProbability(_ k: Int, n: Int, p: Double) -> Double {
        // p = 0 or 1 puts all mass on one end; log(0) would give NaN from 0 · −inf.
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == n ? 0 : -.infinity }
        let logChoose = lgamma(Double(n) + 1) - lgamma(Double(k) + 1) - lgamma(Double(n - k) + 1)
        return logChoose + Double(k) * log(p) + Double(n - k) * log1p(-p)
    }

    /// Σ P(X = k) over `ks`, by log-sum-exp around the largest term.
    static func sumOfProbabilities(_ ks: ClosedRange<Int>, n: Int, p: Double) -> Double {
        let logs = ks.map { logProbability($0, n: n, p: p) }
        guard let top = logs.max(), top > -.infinity else { return 0 }
        return exp(top) * logs.reduce(0) { $0 + exp($1 - top) }
    }

    static func check(n: Int, p: Double) throws {
        guard n >= 0 else { throw StatisticsError.outOfRange(what: "binomial n = \(n) is negative") }
        guard p >= 0, p <= 1 else { throw StatisticsError.outOfRange(what: "binomial p = \(p) is not between 0 and 1") }
    }
}
