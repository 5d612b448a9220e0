/// The Wilson score interval for a proportion `successes / trials`
/// (`statsmodels.stats.proportion.proportion_confint(method="wilson")`).
///
/// Win rates count a tie as half a win, so `successes` may be fractional (wins + ties/2); the
/// interval is then the Wilson interval of that proportion as if it were a binomial count. A tie
/// adds no variance of its own (it is always ½), so with ties this interval is conservative —
/// wider than the true one — never too narrow. All ties gives 50 % with an interval around it
/// that still shrinks with the number of queries.
public enum Wilson {
    public static func interval(successes: Double, trials: Int, level: Double = Bootstrap.defaultLevel) throws -> IntervalEstimate {
        guard trials > 0 else { throw StatisticsError.empty(what: "Wilson interval (no trials)") }
        guard successes.isFinite, successes >= 0, successes <= Double(trials) else {
            throw StatisticsError.outOfRange(what: "Wilson interval: \(successes) successes out of \(trials) trials")
        }
        let z = try NormalQuantile.twoSided(level: level)
        let n = Double(trials), p = successes / n, z2 = z * z
        let center = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        // Rounding can push an end a hair past [0, 1] at p = 0 or 1.
        return IntervalEstimate(estimate: p, lower: max(0, center - half), upper: min(1, center + half),
                                level: level, method: "wilson")
    }
}
